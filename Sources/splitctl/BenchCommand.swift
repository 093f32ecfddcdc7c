import ArgumentParser
import Foundation
import SplitCore

/// `splitctl bench`: solve-time distribution per graph and planner.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure planner solve times (median and p99 microseconds).",
        discussion: """
            Each iteration plans with a different uplink/downlink pair (log-uniform over \
            1 Mbit/s–10 Gbit/s, fixed seed), so no result can be reused between iterations. \
            The time is the planner's whole job: costs for the new conditions, the cut, and \
            the delay evaluation. With --device-memory every plan is made under a memory limit, \
            taken in turn from the list (or, with 'sweep', from 16 limits per graph spread evenly \
            from the least memory any valid split needs to the memory of the largest device part); \
            the table adds how many plans the limit bound and how many found nothing that fits.
            """)

    enum Format: String, ExpressibleByArgument { case table, json }

    @Argument(help: "Model graph files.")
    var graphs: [String]
    @Option(help: "Comma-separated planners to measure.")
    var algorithm: String = "dag,block"
    @Option(help: "Timed plans per graph and planner (after a warm-up of a tenth as many).")
    var iterations: Int = 5_000
    @Option(help: "Output: table|json (JSON lines).")
    var format: Format = .table
    @Option(name: .customLong("device-memory"), help: "Plan under device memory limits: a comma-separated list (2G,4GiB) or 'sweep'.")
    var deviceMemory: String?
    @Option(help: "Optimizer on the device, for its memory: sgd|momentum|adam.")
    var optimizer: Optimizer = .adam
    @OptionGroup var conditionOptions: ConditionOptions
    @OptionGroup var modelOptions: ModelOptions

    /// Limits to cycle through for `model` (empty: no limit).
    func limits(for model: PreparedModel, planner: SplitPlanner, base: PlanningConditions) throws -> [Int64] {
        guard let deviceMemory else { return [] }
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
        let algorithms = try algorithm.split(separator: ",").map { name -> PlanningAlgorithm in
            guard let algorithm = PlanningAlgorithm(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw InputError(PlanningError.unknownAlgorithm(String(name)).description)
            }
            return algorithm
        }
        var base = try conditionOptions.conditions()
        base.optimizer = optimizer
        if format == .table {
            print("graph".padding(toLength: 16, withPad: " ", startingAt: 0) + "layers".leftPadded(7) + "  " + "algorithm".padding(toLength: 12, withPad: " ", startingAt: 0) + "median µs".leftPadded(11) + "p99 µs".leftPadded(11)
                  + (deviceMemory == nil ? "" : "bound".leftPadded(8) + "no fit".leftPadded(8)))
        }
        let clock = ContinuousClock()
        for path in graphs {
            let model = try modelOptions.prepare(graphPath: path)
            let planner = SplitPlanner(model: model)
            let limits = try limits(for: model, planner: planner, base: base)
            for algorithm in algorithms {
                var random = BenchRandom(seed: 42)
                var bound = 0, noFit = 0
                var samples: [Double] = []
                samples.reserveCapacity(iterations)
                let warmUp = max(1, iterations / 10)
                let started = Date()
                var lastProgress = started
                for iteration in 0..<(warmUp + iterations) {
                    base.uplinkBitsPerSecond = random.logUniform(1e6, 1e10)
                    base.downlinkBitsPerSecond = random.logUniform(1e6, 1e10)
                    base.deviceMemoryLimitBytes = limits.isEmpty ? nil : limits[iteration % limits.count]
                    let started = clock.now
                    var microseconds: Double
                    do {
                        let plan = try planner.plan(algorithm, conditions: base)
                        microseconds = plan.solveMicroseconds
                        if iteration >= warmUp && plan.memoryBound { bound += 1 }
                    } catch let error as PlanningError where error.isMemoryShortfall {
                        let elapsed = started.duration(to: clock.now)
                        microseconds = Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12
                        if iteration >= warmUp { noFit += 1 }
                    }
                    if iteration >= warmUp { samples.append(microseconds) }
                    if iteration % 256 == 0, Date().timeIntervalSince(lastProgress) > 1 {
                        lastProgress = Date()
                        FileHandle.standardError.write(Data("\r\(model.graph.name) \(algorithm.rawValue): \(iteration)/\(warmUp + iterations)".utf8))
                    }
                }
                if lastProgress != started { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                samples.sort()
                let median = samples[samples.count / 2]
                let p99 = samples[min(samples.count - 1, Int((Double(samples.count) * 0.99).rounded(.up)) - 1)]
                switch format {
                case .json:
                    var line: [String: Any] = ["graph": model.graph.name, "layers": model.graph.count, "algorithm": algorithm.rawValue,
                                               "median_us": (median * 100).rounded() / 100, "p99_us": (p99 * 100).rounded() / 100,
                                               "iterations": iterations]
                    if !limits.isEmpty {
                        line["memory_bound"] = bound
                        line["no_fit"] = noFit
                        line["device_memory_limits"] = limits
                    }
                    let data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                case .table:
                    print(model.graph.name.padding(toLength: 16, withPad: " ", startingAt: 0) + "\(model.graph.count)".leftPadded(7) + "  "
                          + algorithm.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)
                          + String(format: "%.2f", median).leftPadded(11) + String(format: "%.2f", p99).leftPadded(11)
                          + (limits.isEmpty ? "" : "\(bound)".leftPadded(8) + "\(noFit)".leftPadded(8)))
                }
            }
        }
    }
}

/// Small deterministic generator for benchmark inputs.
struct BenchRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> Double {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Double(state >> 11) / Double(1 << 53)
    }
    mutating func logUniform(_ low: Double, _ high: Double) -> Double { exp(log(low) + next() * (log(high) - log(low))) }
}
