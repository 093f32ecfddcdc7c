import ArgumentParser
import Foundation
import SplitCore

/// `splitctl plan`: one split for one graph under given conditions.
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "Compute the split of a model graph (splitgraph/1 JSON, or an ONNX model).")

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json, dot }

    @Argument(help: InputFiles.graphHelp)
    var graph: String
    @OptionGroup var conditionOptions: ConditionOptions
    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Planner: \(PlanningAlgorithm.allCases.map(\.rawValue).joined(separator: "|")).")
    var algorithm: PlanningAlgorithm = .dag
    @Option(help: "Output: table|json|dot.")
    var format: Format = .table

    func run() throws {
        let conditions = try conditionOptions.conditions()
        let model = try modelOptions.prepare(graphPath: graph)
        let plan: Plan
        do {
            plan = try SplitPlanner(model: model).plan(algorithm, conditions: conditions)
        } catch PlanningError.deviceMemoryExceeded(let required, let limit) {
            if format == .json {
                let report = MemoryInfeasibleReport(
                    requiredBytes: required, limitBytes: limit, algorithm: algorithm, model: model,
                    conditions: conditions)
                FileHandle.standardOutput.write(report.jsonData())
                print()
            }
            throw FailureError("\(model.graph.name): \(PlanningError.deviceMemoryExceeded(requiredBytes: required, limitBytes: limit))")
        }
        // With the result: an error stays one line, and the note qualifies what is printed.
        AssumedDefault.announce(conditionOptions.assumed(model: modelOptions))
        switch format {
        case .json:
            FileHandle.standardOutput.write(PlanReport(plan: plan, model: model, conditions: conditions).jsonData())
            print()
        case .dot:
            print(PlanDot.render(plan: plan, model: model), terminator: "")
        case .table:
            print(PlanText.render(plan: plan, model: model, conditions: conditions), terminator: "")
        }
    }
}

/// `splitctl validate`: load a graph (and profiles) and describe it, or say what is wrong.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate", abstract: "Check a model graph and print its structure.")

    @Argument(help: InputFiles.graphHelp)
    var graph: String
    @OptionGroup var modelOptions: ModelOptions

    func run() throws {
        let model = try modelOptions.prepare(graphPath: graph)
        let graph = model.graph
        let decomposition = model.decomposition
        let free = (0..<graph.count).filter { model.rules.isFree($0) }.count
        print("\(graph.name): \(graph.count) layers, \(graph.edgeCount) edges, \(graph.inputs.count) input(s), \(graph.outputs.count) output(s)")
        print(
            """
            blocks: \(graph.blockLabels.count) labelled; \(decomposition.boundaries.count) boundary layers, \(decomposition.nonEmptyRegionCount) \
            non-empty regions (largest \(decomposition.largestRegion) layers), \(decomposition.windowCount) windows (largest \
            \(decomposition.largestWindow) layers)
            """)
        print(
            """
            placement: \(free) free layers, \(model.rules.forcedDevice.filter { $0 }.count) pinned to the device, \
            \(model.rules.forcedServer.filter { $0 }.count) to the server
            """)
    }
}
