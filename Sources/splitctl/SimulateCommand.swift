import ArgumentParser
import Foundation
import SplitCore
import SplitSim

/// Where a simulation's network trace comes from.
struct TraceOptions: ParsableArguments {
    @Option(help: "Network trace CSV: time_seconds,uplink_bps,downlink_bps[,rtt_seconds].")
    var trace: String?
    @Option(help: "Synthetic trace instead of a file: random-walk|markov|steps.")
    var synthetic: String?
    @Option(help: "Seed of the synthetic trace.")
    var seed: UInt64 = 1
    @Option(
        help: ArgumentHelp(
            "Length of the synthetic trace: 600, 10m, 1h (for --trace: cut or extend the file's duration).",
            valueName: "duration"),
        transform: { try Limits.parseDuration($0, range: TraceOptions.durationRange) })
    var duration: Double?

    static let durationRange = ValueRange("trace duration", unit: "s", 1e-3...1e8)

    /// The trace, with `--uplink`/`--downlink`/`--rtt` as the synthetic base rates.
    func load(base: PlanningConditions) throws -> NetworkTrace {
        switch (trace, synthetic) {
        case (nil, nil): throw InputError("give a trace: --trace FILE or --synthetic random-walk|markov|steps")
        case (.some, .some): throw InputError("--trace and --synthetic are exclusive")
        case let (path?, nil):
            let text = String(decoding: try InputFiles.read(path, what: "trace file"), as: UTF8.self)
            do {
                return try NetworkTrace(csv: text, durationSeconds: duration)
            } catch let error as TraceError {
                throw InputError("\(path): \(error)")
            }
        case let (nil, kindName?):
            guard let kind = SyntheticTrace.Kind(rawValue: kindName) else {
                throw InputError("--synthetic: unknown kind '\(kindName)'; expected random-walk, markov or steps")
            }
            guard let duration else { throw InputError("--synthetic needs --duration SECONDS") }
            do {
                return try SyntheticTrace.generate(
                    kind, seed: seed, durationSeconds: duration, baseUplinkBitsPerSecond: base.uplinkBitsPerSecond,
                    baseDownlinkBitsPerSecond: base.downlinkBitsPerSecond, baseRTTSeconds: base.rttSeconds)
            } catch let error as TraceError {
                throw InputError("--\(error)")
            }
        }
    }
}

/// `splitctl simulate`: training time over a dynamic network, per policy.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Replay a network trace through re-planning policies and compare training delay.",
        discussion: """
            Training runs iteration after iteration through the trace; each iteration's delay is \
            the cost model at the rates when it starts. Re-planning policies plan again at the \
            first iteration after every --replan-every seconds, using only the rates observed \
            then; table computes the plan table once and, at every iteration, moves to the \
            table's split for the current rates only when the saving over --switch-horizon \
            iterations beats the migration time. Every change of split, in every policy, moves \
            the weights and optimizer state (--optimizer) of the layers changing sides at the \
            rates then in effect (device to server up, server to device down), and that time is \
            added to the first iteration with the new split. Reported per policy: iterations \
            completed within the trace, mean and p95 iteration delay, plan changes, migration \
            time; and dag's reduction of mean iteration delay against each other policy. \
            --uplink/--downlink/--rtt are the base of synthetic traces (and --rtt the RTT of \
            traces without one).
            """)

    enum Format: String, ExpressibleByArgument { case table, json, csv }

    @Argument(help: "Model graph file (splitgraph/1 JSON).")
    var graph: String
    @OptionGroup var conditionOptions: ConditionOptions
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var traceOptions: TraceOptions
    @Option(
        name: .customLong("replan-every"), help: ArgumentHelp("Time between re-planning moments: 10, 10s, 500ms.", valueName: "duration"),
        transform: { try Limits.parseDuration($0, range: ValueRange("re-planning interval", unit: "s", 1e-6...1e8)) })
    var replanEvery: Double = 10
    @Option(help: "Comma-separated policies: dag,block,chain,boundary,static,server-only,table.")
    var policies: String = "dag,block,chain,boundary,static,server-only,table"
    @Option(name: .customLong("switch-horizon"), help: "Iterations over which the table policy's saving must pay for a migration.")
    var switchHorizon: Int = SwitchingRule.defaultHorizonIterations
    @Flag(name: .customLong("free-migration"), help: "Price split changes at zero, as before migrations were modelled (for comparison).")
    var freeMigration = false
    @Option(help: "Output: table|json|csv.")
    var format: Format = .table
    @Option(help: "Write a chart of per-iteration delay over time (SVG).")
    var plot: String?

    func run() throws {
        let base = try conditionOptions.conditions()
        let policies = try self.policies.split(separator: ",").map { name -> SimulationPolicy in
            guard let policy = SimulationPolicy(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw InputError(
                    "--policies: unknown policy '\(name)'; expected \(SimulationPolicy.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return policy
        }
        guard !policies.isEmpty else { throw InputError("--policies: give at least one policy") }
        guard replanEvery.isFinite && replanEvery > 0 else { throw InputError("--replan-every must be a number of seconds > 0") }
        let rule = SwitchingRule(horizonIterations: switchHorizon)
        do {
            try rule.validate()
        } catch let error as PlanningError {
            throw InputError("--\(error.description)")
        }
        let model = try modelOptions.prepare(graphPath: graph)
        let trace = try traceOptions.load(base: base)
        var settings = SimulationSettings(
            batchSize: base.batchSize, deviceFLOPsPerSecond: base.deviceFLOPsPerSecond, serverFLOPsPerSecond: base.serverFLOPsPerSecond,
            defaultRTTSeconds: base.rttSeconds, replanEverySeconds: replanEvery, optimizer: base.optimizer,
            deviceMemoryLimitBytes: base.deviceMemoryLimitBytes, switchingRule: rule)
        settings.chargesMigration = !freeMigration
        let simulator = try Simulator(model: model, trace: trace, settings: settings)
        let progress = ProgressLine(label: "simulating \(model.graph.name)")
        let report = try simulator.run(policies) { progress.update($0) }
        progress.finish()
        if let plot {
            let title = "\(model.graph.name): iteration delay over \(Int(trace.durationSeconds)) s of trace"
            do {
                try Data(DelayChart.svg(report, title: title).utf8).write(to: URL(fileURLWithPath: plot))
            } catch {
                throw FailureError("cannot write plot '\(plot)': \(error.localizedDescription)")
            }
        }
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            FileHandle.standardOutput.write(try encoder.encode(report))
            print()
        case .csv:
            print("policy,iterations,mean_delay_seconds,p95_delay_seconds,plan_changes,migration_seconds,migration_bytes,dag_reduction_percent")
            for result in report.policies {
                let reduction = report.reductionPercent[result.policy.rawValue].map { String(format: "%.4f", $0) } ?? ""
                print(
                    "\(result.policy.rawValue),\(result.iterations),\(result.meanDelaySeconds),\(result.p95DelaySeconds),\(result.planChanges),"
                        + "\(result.migrationSeconds),\(result.migrationBytes),\(reduction)")
            }
        case .table:
            print(
                "\(model.graph.name), \(Int(trace.durationSeconds)) s trace, re-planning every \(replanEvery) s, batch \(base.batchSize), "
                    + """
                    \(base.optimizer.rawValue) (x\(Int(base.optimizer.migrationBytesPerParameterByte)) per parameter byte moved), switch horizon \
                    \(switchHorizon)
                    """)
            print(
                "policy".padding(toLength: 13, withPad: " ", startingAt: 0) + "iterations".leftPadded(11) + "mean".leftPadded(11)
                    + "p95".leftPadded(11) + "changes".leftPadded(9) + "migration".leftPadded(11) + "dag saves".leftPadded(11))
            for result in report.policies {
                let reduction = report.reductionPercent[result.policy.rawValue].map { String(format: "%.1f%%", $0) } ?? "-"
                print(
                    result.policy.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0) + "\(result.iterations)".leftPadded(11)
                        + formatSeconds(result.meanDelaySeconds).leftPadded(11) + formatSeconds(result.p95DelaySeconds).leftPadded(11)
                        + "\(result.planChanges)".leftPadded(9)
                        + (result.migrationSeconds == 0 ? "-" : formatSeconds(result.migrationSeconds)).leftPadded(11) + reduction.leftPadded(11))
            }
        }
    }
}

/// `splitctl trace`: write a synthetic trace as CSV.
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace", abstract: "Generate a synthetic network trace (CSV) for simulate --trace.")

    @Option(help: "random-walk|markov|steps.")
    var synthetic: String
    @Option(help: "Seed.")
    var seed: UInt64 = 1
    @Option(
        help: ArgumentHelp("Length: 600, 10m, 1h.", valueName: "duration"),
        transform: { try Limits.parseDuration($0, range: TraceOptions.durationRange) })
    var duration: Double = 600
    @OptionGroup var conditionOptions: ConditionOptions

    func run() throws {
        let options = try TraceOptions.parse(["--synthetic", synthetic, "--seed", "\(seed)", "--duration", "\(duration)"])
        print(try options.load(base: try conditionOptions.conditions()).csv(), terminator: "")
    }
}
