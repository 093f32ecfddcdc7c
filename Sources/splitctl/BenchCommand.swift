import ArgumentParser
import Foundation
import SplitCore

/// `splitctl bench`: solve-time distribution per graph and planner (or whole plan tables).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure planner solve times (median and p99 microseconds).",
        discussion: """
            Each iteration plans with a different uplink/downlink pair (log-uniform over \
            1 Mbit/s–10 Gbit/s, fixed seed), so no result can be reused between iterations. \
            A planner's time is its solve (the plan's solve_microseconds): costs for the new \
            conditions and the cut; the delay evaluation that follows is the same for every \
            planner and not timed. --algorithm table times a whole plan table (the block planner \
            probed over every link rate, each probe's evaluation included) per iteration, wall \
            clock, and reports its planner calls and segments. With --device-memory \
            every plan is made under a memory limit, taken in turn from the list (or, with \
            'sweep', from 16 limits per graph spread evenly from the least memory any valid split \
            needs to the memory of the largest device part); the table adds how many plans the \
            limit bound and how many found nothing that fits (those are timed wall clock, up to \
            the error).
            """)

    /// What one benchmark row times.
    enum Target {
        case plan(PlanningAlgorithm)
        case table

        var name: String {
            switch self {
            case .plan(let algorithm): return algorithm.rawValue
            case .table: return "table"
            }
        }
    }

    enum Format: String, ExpressibleByArgument { case table, json }

    @Argument(help: InputFiles.graphsHelp)
    var graphs: [String]
    @Option(help: "Comma-separated planners to measure: \(PlanningAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")), or table.")
    var algorithm: String = "dag,block"
    @Option(help: "Timed plans per graph and planner (after a warm-up of a tenth as many).")
    var iterations: Int = 5_000
    @Option(help: "Output: table|json (JSON lines).")
    var format: Format = .table
    @OptionGroup var conditionOptions: ConditionOptions
    @OptionGroup var modelOptions: ModelOptions

    /// Limits to cycle through for `model` (empty: no limit): the `--device-memory` list, or a sweep.
    func limits(for model: PreparedModel, planner: SplitPlanner, base: PlanningConditions) throws -> [Int64] {
        guard let deviceMemory = conditionOptions.compute.memory.deviceMemory else { return [] }
        guard deviceMemory == "sweep" else {
            return try deviceMemory.split(separator: ",").map { try MemoryOptions.bytes(String($0), option: "--device-memory") }
        }
        var tiny = base
        tiny.deviceMemoryLimitBytes = 1
        var least: Int64 = 1
        do {
            _ = try planner.plan(.block, conditions: tiny)
        } catch PlanningError.deviceMemoryExceeded(let required, _) {
            least = required
        }
        let everything = model.rules.forcedServer.map { !$0 }
        let largest = max(least, try model.deviceMemoryBytes(onDevice: everything, batchSize: base.batchSize, optimizer: base.optimizer))
        return (0..<16).map { least + (largest - least) * Int64($0) / 15 }
    }

    func run() throws {
        guard iterations >= 1 && iterations <= 10_000_000 else { throw InputError("--iterations must be between 1 and 10000000") }
        let targets = try algorithm.split(separator: ",").map { name -> Target in
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            if trimmed == "table" { return .table }
            guard let algorithm = PlanningAlgorithm(rawValue: trimmed) else {
                throw InputError(PlanningError.unknownAlgorithm(String(name)).description + " (or table)")
            }
            return .plan(algorithm)
        }
        var base = try conditionOptions.conditions(memoryLimit: false)
        if format == .table {
            print(
                "graph".padding(toLength: 16, withPad: " ", startingAt: 0) + "layers".leftPadded(7) + "  "
                    + "algorithm".padding(toLength: 12, withPad: " ", startingAt: 0) + "median µs".leftPadded(11) + "p99 µs".leftPadded(11)
                    + "calls".leftPadded(7) + "segments".leftPadded(10) + "bound".leftPadded(8) + "no fit".leftPadded(8))
        }
        let clock = ContinuousClock()
        func microseconds(since started: ContinuousClock.Instant) -> Double {
            let elapsed = started.duration(to: clock.now)
            return Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12
        }
        for path in graphs {
            let model = try modelOptions.prepare(graphPath: path)
            let planner = SplitPlanner(model: model)
            let limits = try limits(for: model, planner: planner, base: base)
            for target in targets {
                var random = SplitMix64(seed: 42)
                var calls = 1, segments: Int?, bound = 0, noFit = 0
                // For tables: the wall time of whole block plans, the unit a table's cost is compared in.
                var planWall: [Double] = []
                var samples: [Double] = []
                samples.reserveCapacity(iterations)
                let warmUp = max(1, iterations / 10)
                let progress = ProgressLine(label: "\(model.graph.name) \(target.name)")
                for iteration in 0..<(warmUp + iterations) {
                    base.uplinkBitsPerSecond = random.logUniform(1e6, 1e10)
                    base.downlinkBitsPerSecond = random.logUniform(1e6, 1e10)
                    base.deviceMemoryLimitBytes = limits.isEmpty ? nil : limits[iteration % limits.count]
                    let started = clock.now
                    do {
                        switch target {
                        case .plan(let algorithm):
                            let plan = try planner.plan(algorithm, conditions: base)
                            if iteration >= warmUp {
                                samples.append(plan.solveMicroseconds)
                                if plan.memoryBound { bound += 1 }
                            }
                        case .table:
                            let table = try PlanTable.compute(model: model, conditions: ComputeConditions(base)) {
                                try planner.plan(
                                    .block,
                                    conditions: $0)
                            }
                            if iteration >= warmUp { samples.append(microseconds(since: started)) }
                            calls = table.plannerCalls
                            segments = table.segments.count
                            let planStarted = clock.now
                            _ = try planner.plan(.block, conditions: base)
                            if iteration >= warmUp { planWall.append(microseconds(since: planStarted)) }
                        }
                    } catch let error as PlanningError where error.isMemoryShortfall {
                        if iteration >= warmUp {
                            samples.append(microseconds(since: started))
                            noFit += 1
                        }
                    }
                    progress.update(Double(iteration + 1) / Double(warmUp + iterations))
                }
                progress.finish()
                samples.sort()
                planWall.sort()
                let median = samples[samples.count / 2]
                let plansEquivalent = planWall.isEmpty ? nil : median / planWall[planWall.count / 2]
                let p99 = samples[min(samples.count - 1, Int((Double(samples.count) * 0.99).rounded(.up)) - 1)]
                switch format {
                case .json:
                    var line: [String: Any] = [
                        "graph": model.graph.name, "layers": model.graph.count, "algorithm": target.name,
                        "median_us": (median * 100).rounded() / 100, "p99_us": (p99 * 100).rounded() / 100,
                        "iterations": iterations, "planner_calls": calls,
                    ]
                    if let segments { line["segments"] = segments }
                    if let plansEquivalent { line["block_plans_equivalent"] = (plansEquivalent * 10).rounded() / 10 }
                    if !limits.isEmpty {
                        line["memory_bound"] = bound
                        line["no_fit"] = noFit
                        line["device_memory_limits"] = limits
                    }
                    let data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                case .table:
                    print(
                        model.graph.name.padding(toLength: 16, withPad: " ", startingAt: 0) + "\(model.graph.count)".leftPadded(7) + "  "
                            + target.name.padding(toLength: 12, withPad: " ", startingAt: 0)
                            + String(format: "%.2f", median).leftPadded(11) + String(format: "%.2f", p99).leftPadded(11)
                            + "\(calls)".leftPadded(7) + (segments.map { "\($0)" } ?? "-").leftPadded(10)
                            + (limits.isEmpty ? "-" : "\(bound)").leftPadded(8) + (limits.isEmpty ? "-" : "\(noFit)").leftPadded(8)
                            + (plansEquivalent.map { String(format: "  = %.1f whole block plans", $0) } ?? ""))
                }
            }
        }
    }
}

extension SplitMix64 {
    /// A log-uniform value in `low...high`: the benchmark's link rates.
    mutating func logUniform(_ low: Double, _ high: Double) -> Double { exp(log(low) + unit() * (log(high) - log(low))) }
}
