import ArgumentParser
import Foundation
import SplitCore

/// `splitctl table`: the optimal split for every link rate, for one compute side.
struct TableCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "table",
        abstract: "Compute the plan table of a model: the exact optimal split for every link rate.",
        discussion: """
            Every split costs fixed_seconds + 8·transfer_bytes·(1/uplink + 1/downlink), so the \
            optimum depends on the link only through the effective rate R = 1/(1/uplink + \
            1/downlink). The table lists the ranges of R, each with its optimal split, found \
            exactly by a parametric search with the chosen planner. It holds for as long as the \
            compute side (batch, FLOP/s, profiles, rtt, model) does not change.
            """)

    enum Format: String, ExpressibleByArgument { case table, json }

    @Argument(help: InputFiles.graphHelp)
    var graph: String
    @OptionGroup var computeOptions: ComputeOptions
    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Exact planner probed by the search: block|dag (baselines give their own tables).")
    var algorithm: PlanningAlgorithm = .block
    @Option(help: "Output: table|json.")
    var format: Format = .table

    func run() throws {
        let conditions = try computeOptions.conditions()
        let model = try modelOptions.prepare(graphPath: graph)
        let clock = ContinuousClock()
        let started = clock.now
        let table = try PlanTable.compute(model: model, conditions: conditions, algorithm: algorithm)
        let elapsed = started.duration(to: clock.now)
        AssumedDefault.announce(computeOptions.assumed(model: modelOptions))
        switch format {
        case .json:
            FileHandle.standardOutput.write(try PlanTableReport(table: table, model: model, algorithm: algorithm).jsonData())
            print()
        case .table:
            let milliseconds = Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) / 1e15
            print(Self.render(table, model: model, algorithm: algorithm, milliseconds: milliseconds), terminator: "")
        }
    }

    /// The human view of a table.
    static func render(_ table: PlanTable, model: PreparedModel, algorithm: PlanningAlgorithm, milliseconds: Double) -> String {
        let graph = model.graph
        let conditions = table.conditions
        var out = "\(graph.name) (\(graph.count) layers): \(table.segments.count) segment(s) of the effective rate R = 1/(1/uplink + 1/downlink)\n"
        out +=
            "batch \(conditions.batchSize), device " + String(format: "%g", conditions.deviceFLOPsPerSecond)
            + " FLOP/s, server " + String(format: "%g", conditions.serverFLOPsPerSecond) + " FLOP/s, "
        out += "rtt \(formatSeconds(conditions.rttSeconds)); \(algorithm.rawValue) planner, \(table.plannerCalls) calls, "
        out += String(format: "%.2f ms\n\n", milliseconds)
        out +=
            "R from".leftPadded(14) + "R to".leftPadded(14) + "device layers".leftPadded(15) + "transfer".leftPadded(11)
            + "fixed".leftPadded(11) + "  cut layers\n"
        for segment in table.segments {
            let cut = segment.cutLayers.map { graph.layers[$0].name }
            let cutText = cut.isEmpty ? "(none)" : cut.prefix(4).joined(separator: ", ") + (cut.count > 4 ? ", … (\(cut.count))" : "")
            out +=
                formatRate(segment.minEffectiveBitsPerSecond).leftPadded(14)
                + (segment.maxEffectiveBitsPerSecond.map(formatRate) ?? "∞").leftPadded(14)
                + "\(segment.deviceLayers.count)".leftPadded(15) + formatBytes(segment.transferBytes).leftPadded(11)
                + formatSeconds(segment.fixedSeconds).leftPadded(11) + "  " + cutText + "\n"
        }
        return out
    }
}

/// `1.23 Mbit/s`.
func formatRate(_ bitsPerSecond: Double) -> String {
    let units = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s", "Pbit/s"]
    var value = bitsPerSecond, unit = 0
    while value >= 1000 && unit < units.count - 1 { value /= 1000; unit += 1 }
    return value == 0 ? "0" : String(format: value < 10 ? "%.3g" : "%.4g", value) + " " + units[unit]
}
