import ArgumentParser
import Foundation
import SplitCore
import SplitSim

/// The settings of the `daemon` policy: the daemon's per-device pipeline.
struct DaemonOptions: ParsableArguments {
    @Option(
        name: .customLong("telemetry-every"),
        help: ArgumentHelp("The device's telemetry interval and every policy's measurement window: 1s, 500ms.", valueName: "duration"),
        transform: { try Limits.parseDuration($0, range: ValueRange("telemetry interval", unit: "s", 1e-3...86_400)) })
    var telemetryEvery: Double = 1
    @Option(help: "The daemon's estimator: arithmetic (mean capacity) or geometric (the first smoothing).")
    var estimator: LinkEstimator.Mean = LinkEstimator.recommended.mean
    @Option(
        help: ArgumentHelp("Its time constant: 10s, 30s.", valueName: "duration"),
        transform: { try Limits.parseDuration($0, range: ValueRange("smoothing time constant", unit: "s", 0...86_400, allowsZero: true)) })
    var smoothing: Double = LinkEstimator.recommended.timeConstantSeconds
    @Option(help: "The daemon's switching rule: payback (move when accrued savings pay for the migration) or horizon (--switch-horizon).")
    var switching: String = "payback"
    @Option(parsing: .unconditional, help: "Payback factor θ: move when accrued savings reach θ x the migration seconds.")
    var payback: Double = PaybackRule.defaultPaybackFactor
    @Option(
        name: .customLong("min-gain"), parsing: .unconditional, help: "Smallest saving per iteration worth a move, relative to the current delay.")
    var minGain: Double = 0
    @Option(help: "What the daemon pushes: table (the device switches itself) or split (every change of split).")
    var push: PushMode = .table
    @Option(
        name: .customLong("replan-threshold"), parsing: .unconditional,
        help: "Relative change of the estimate that makes the daemon plan again (split devices).")
    var replanThreshold: Double = ReplanThresholds().relativeRateChange

    /// The daemon settings, validated; `horizon` is `--switch-horizon`.
    func settings(horizon: Int) throws -> DevicePlanningSettings {
        let rule: SwitchingPolicy
        switch switching {
        case "payback": rule = .payback(PaybackRule(paybackFactor: payback, minimumRelativeGain: minGain))
        case "horizon": rule = .horizon(SwitchingRule(horizonIterations: horizon, minimumRelativeGain: minGain))
        default: throw InputError("--switching: unknown rule '\(switching)'; expected payback or horizon")
        }
        guard replanThreshold.isFinite && replanThreshold >= 0 else {
            throw InputError("--replan-threshold must be a number >= 0, got \(replanThreshold)")
        }
        var thresholds = ReplanThresholds()
        thresholds.relativeRateChange = replanThreshold
        let settings = DevicePlanningSettings(
            estimator: LinkEstimator(mean: estimator, timeConstantSeconds: smoothing), thresholds: thresholds, switching: rule, pushMode: push)
        try ConditionOptions.validated { try settings.validate() }
        return settings
    }
}

extension LinkEstimator.Mean: ExpressibleByArgument {}
extension PushMode: ExpressibleByArgument {}
extension LinkPhysics: ExpressibleByArgument {}

/// `splitctl simulate`: training time over real or synthetic links, per policy, against the bounds.
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Replay network traces through splitd's policy and the alternatives, against the best schedule in hindsight.",
        discussion: """
            Training runs iteration after iteration through the trace: device forward, uplink transfer, server compute, \
            downlink transfer, device backward. Each transfer ends when the link has carried its bits from the moment it \
            starts (outages wait; --physics start-rate prices it at the rates when the iteration starts instead, for \
            comparison). Every change of split first moves the weights and optimizer state (--optimizer) of the layers \
            changing sides, integrated the same way. Policies see the mean capacity over the last --telemetry-every. \
            daemon is what splitd does (its estimator, re-plan thresholds, switching rule and push mode: --estimator, \
            --smoothing, --replan-threshold, --switching, --payback, --min-gain, --push); dag re-plans every \
            --replan-every and moves at once; table is the first device-side rule (--switch-horizon); static plans once. \
            hindsight (the best schedule of splits knowing the whole trace) and best-fixed (the best single split) are \
            always computed, and every policy's mean iteration delay is given as a ratio to hindsight. With several \
            traces (repeat --trace, or a directory) a row per trace and the ratios' median, p90 and maximum; \
            --recommend evaluates the daemon under candidate settings on the traces and prints what to deploy. \
            --uplink/--downlink/--rtt are the base of synthetic traces (and --rtt the RTT of traces without one).
            """)

    enum Format: String, ExpressibleByArgument { case table, json, csv }

    @Argument(help: InputFiles.graphHelp)
    var graph: String
    @OptionGroup var conditionOptions: ConditionOptions
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var traceOptions: TraceOptions
    @OptionGroup var daemonOptions: DaemonOptions
    @Option(
        name: .customLong("replan-every"),
        help: ArgumentHelp("Time between re-planning moments of dag and the baselines: 10, 10s, 500ms.", valueName: "duration"),
        transform: { try Limits.parseDuration($0, range: ValueRange("re-planning interval", unit: "s", 1e-6...1e8)) })
    var replanEvery: Double = 10
    @Option(help: "Comma-separated policies: daemon,dag,block,chain,boundary,static,server-only,table (hindsight and best-fixed always run).")
    var policies: String = SimulationPolicy.defaults.map(\.rawValue).joined(separator: ",")
    @Option(
        name: .customLong("switch-horizon"), help: "Horizon of the table policy's rule (and of the daemon's with --switching horizon), iterations.")
    var switchHorizon: Int = SwitchingRule.defaultHorizonIterations
    @Option(help: "integrated (transfers take the capacity that comes) or start-rate (the first simulator's model, for comparison).")
    var physics: LinkPhysics = .integrated
    @Flag(name: .customLong("free-migration"), help: "Price split changes at zero, as before migrations were modelled (for comparison).")
    var freeMigration = false
    @Flag(help: "Evaluate the daemon under candidate settings on the traces and print the settings to deploy.")
    var recommend = false
    @Option(help: "Output: table|json|csv.")
    var format: Format = .table
    @Option(help: "Write a chart of per-iteration delay over time (SVG; one trace).")
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
        try ConditionOptions.validated { try rule.validate() }
        var settings = SimulationSettings(
            batchSize: base.batchSize, deviceFLOPsPerSecond: base.deviceFLOPsPerSecond, serverFLOPsPerSecond: base.serverFLOPsPerSecond,
            defaultRTTSeconds: base.rttSeconds, replanEverySeconds: replanEvery, optimizer: base.optimizer,
            deviceMemoryLimitBytes: base.deviceMemoryLimitBytes, switchingRule: rule)
        settings.chargesMigration = !freeMigration
        settings.physics = physics
        settings.telemetryEverySeconds = daemonOptions.telemetryEvery
        settings.daemon = try daemonOptions.settings(horizon: switchHorizon)
        let model = try modelOptions.prepare(graphPath: graph)

        let sources = try traceOptions.sources()
        if recommend { return try runRecommendation(model: model, base: base, settings: settings, sources: sources) }
        if sources.count > 1 {
            guard plot == nil else { throw InputError("--plot draws one trace; give one --trace") }
            return try runMany(model: model, settings: settings, policies: policies, sources: sources)
        }
        let (name, trace) = try traceOptions.loadOne(base: base)
        let simulator = try Simulator(model: model, trace: trace, settings: settings)
        let progress = ProgressLine(label: "simulating \(model.graph.name)")
        let report = try simulator.run(policies) { progress.update($0) }
        progress.finish()
        announceAssumed()
        for warning in Self.shortRunWarnings(report) { warn(warning) }
        if let plot {
            let title = "\(model.graph.name): iteration delay over \(Int(trace.durationSeconds)) s of \(name)"
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
            print(Self.csvHeader)
            for result in report.policies { print(Self.csvRow(result, report: report)) }
        case .table:
            print(header(model: model, trace: name, report: report, base: base))
            print(
                "policy".padding(toLength: 13, withPad: " ", startingAt: 0) + "iterations".leftPadded(11) + "mean".leftPadded(11)
                    + "p95".leftPadded(11) + "changes".leftPadded(9) + "migration".leftPadded(11) + "vs hindsight".leftPadded(14)
                    + "refused".leftPadded(9))
            for result in report.policies {
                print(
                    result.policy.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0) + "\(result.iterations)".leftPadded(11)
                        + formatSeconds(result.meanDelaySeconds).leftPadded(11)
                        + (result.iterations == 0 ? "-" : formatSeconds(result.p95DelaySeconds)).leftPadded(11)
                        + "\(result.planChanges)".leftPadded(9)
                        + (result.migrationSeconds == 0 ? "-" : formatSeconds(result.migrationSeconds)).leftPadded(11)
                        + (result.ratioToHindsight.map { String(format: "%.3fx", $0) } ?? "-").leftPadded(14)
                        + (result.refusedMoves.map(String.init) ?? "-").leftPadded(9))
            }
        }
    }

    /// Names the defaults assumed, once the simulation has run (an error stays one line). A trace
    /// file gives the link (and usually the rtt): --uplink/--downlink/--rtt only shape synthetic traces.
    func announceAssumed() {
        AssumedDefault.announce(conditionOptions.assumed(model: modelOptions, link: traceOptions.trace.isEmpty))
    }

    /// What makes a short run's mean and p95 mislead, one warning each: policies with too few
    /// completed iterations for a p95 (with how many), and policies whose mean is dominated by
    /// the iteration unfinished at the trace's end (slower than every completed one).
    static func shortRunWarnings(_ report: SimulationReport, trace: String? = nil) -> [String] {
        let prefix = trace.map { "\($0): " } ?? ""
        var warnings: [String] = []
        let minimum = PolicyResult.minimumIterationsForP95
        let few = report.policies.filter { $0.iterations < minimum }
        if !few.isEmpty {
            warnings.append(
                """
                \(prefix)too few iterations for a p95: \(few.map { "\($0.policy.rawValue) \($0.iterations)" }.joined(separator: ", ")) \
                completed, a p95 needs at least \(minimum) (with fewer it is the slowest iteration, '-' with none); simulate a longer \
                trace (--duration)
                """)
        }
        let dominated = report.policies.filter(\.unfinishedIterationIsSlowest)
        if !dominated.isEmpty {
            let list = dominated.map { result in
                "\(result.policy.rawValue) \(formatSeconds(result.unfinishedIterationDelaySeconds ?? .nan))"
            }
            warnings.append(
                """
                \(prefix)the iteration still running when the trace ends is slower than every completed one (\(list.joined(separator: ", "))); \
                the mean counts it by the fraction inside the trace, so it can exceed the p95 (the plot draws it dotted)
                """)
        }
        return warnings
    }

    static let csvHeader =
        "policy,iterations,mean_delay_seconds,p95_delay_seconds,plan_changes,migration_seconds,migration_bytes,"
        + "ratio_to_hindsight,refused_moves,dag_reduction_percent"

    static func csvRow(_ result: PolicyResult, report: SimulationReport) -> String {
        let reduction = report.reductionPercent[result.policy.rawValue].map { String(format: "%.4f", $0) } ?? ""
        return "\(result.policy.rawValue),\(result.iterations),\(result.meanDelaySeconds),\(result.p95DelaySeconds),\(result.planChanges),"
            + "\(result.migrationSeconds),\(result.migrationBytes),\(result.ratioToHindsight.map { "\($0)" } ?? ""),"
            + "\(result.refusedMoves.map(String.init) ?? ""),\(reduction)"
    }

    /// The first line of the table output: what was simulated, with which daemon settings.
    func header(model: PreparedModel, trace: String, report: SimulationReport, base: PlanningConditions) -> String {
        let daemon = report.daemonSwitching
        let rule: String
        switch daemon {
        case .payback(let payback): rule = "payback θ \(String(format: "%g", payback.paybackFactor))"
        case .horizon(let horizon): rule = "horizon \(horizon.horizonIterations)"
        }
        return """
            \(model.graph.name), \(trace) (\(Int(report.traceDurationSeconds)) s), \(report.physics.rawValue) physics, batch \(base.batchSize), \
            \(base.optimizer.rawValue) (x\(Int(base.optimizer.migrationBytesPerParameterByte)) per parameter byte moved); daemon: \
            \(report.daemonEstimator.mean.rawValue) mean τ \(String(format: "%g", report.daemonEstimator.timeConstantSeconds)) s, \(rule)\
            \(daemon.minimumRelativeGain > 0 ? String(format: ", min gain %g", daemon.minimumRelativeGain) : ""), push \
            \(report.daemonPushMode.rawValue), telemetry every \(String(format: "%g", report.telemetryEverySeconds)) s; dag every \
            \(String(format: "%g", report.replanEverySeconds)) s; table horizon \(report.switchHorizonIterations)
            """
    }

    /// Several traces: a row per trace (every policy's ratio to hindsight) and the ratios' median, p90 and maximum.
    func runMany(model: PreparedModel, settings: SimulationSettings, policies: [SimulationPolicy], sources: [TraceSource]) throws {
        let progress = ProgressLine(label: "simulating \(model.graph.name) over \(sources.count) traces")
        var reports: [(String, SimulationReport)] = []
        for (index, source) in sources.enumerated() {
            let simulator = try Simulator(model: model, trace: try traceOptions.load(source), settings: settings)
            reports.append((source.name, try simulator.run(policies) { progress.update((Double(index) + $0) / Double(sources.count)) }))
        }
        progress.finish()
        for (name, report) in reports {
            for warning in Self.shortRunWarnings(report, trace: name) { warn(warning) }
        }
        announceAssumed()
        let shown = reports.first?.1.policies.map(\.policy) ?? []
        switch format {
        case .csv:
            print("trace," + Self.csvHeader)
            for (name, report) in reports {
                for result in report.policies { print("\(Self.csvField(name)),\(Self.csvRow(result, report: report))") }
            }
        case .json:
            struct Item: Encodable {
                var trace: String
                var report: SimulationReport
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            FileHandle.standardOutput.write(try encoder.encode(reports.map { Item(trace: $0.0, report: $0.1) }))
            print()
        case .table:
            print("\(model.graph.name) over \(reports.count) traces: mean iteration delay as a ratio to hindsight")
            let width = min(48, max(5, reports.map(\.0.count).max() ?? 5)) + 2
            print(
                "trace".padding(toLength: width, withPad: " ", startingAt: 0) + "hindsight s".leftPadded(12)
                    + shown.map { $0.rawValue.leftPadded(12) }.joined())
            for (name, report) in reports {
                let hindsight = report.result(.hindsight)?.meanDelaySeconds ?? .nan
                print(
                    String(name.prefix(width - 2)).padding(toLength: width, withPad: " ", startingAt: 0) + formatSeconds(hindsight).leftPadded(12)
                        + shown.map { policy in (report.result(policy)?.ratioToHindsight.map { String(format: "%.3f", $0) } ?? "-").leftPadded(12) }
                        .joined())
            }
            for (label, level) in [("median", 50.0), ("p90", 90), ("max", 100)] {
                print(
                    label.padding(toLength: width, withPad: " ", startingAt: 0) + "".leftPadded(12)
                        + shown.map { policy in
                            let ratios = reports.compactMap { $0.1.result(policy)?.ratioToHindsight }
                            return String(format: "%.3f", Recommendation.percentile(ratios, level)).leftPadded(12)
                        }.joined())
            }
        }
    }

    /// `--recommend`: the daemon under candidate settings on every trace.
    func runRecommendation(model: PreparedModel, base: PlanningConditions, settings: SimulationSettings, sources: [TraceSource]) throws {
        var names = sources.map(\.name)
        var load: (Int) throws -> NetworkTrace = { try traceOptions.load(sources[$0]) }
        if sources.isEmpty {
            let one = try traceOptions.loadOne(base: base)
            names = [one.name]
            load = { _ in one.trace }
        }
        let candidates = Recommendation.candidates(base: settings.daemon)
        let progress = ProgressLine(label: "evaluating \(candidates.count) daemon settings on \(names.count) traces")
        let recommendation = try Recommendation.evaluate(
            model: model, traces: names, load: load, settings: settings, candidates: candidates
        ) { progress.update($0) }
        progress.finish()
        announceAssumed()
        func describe(_ settings: DevicePlanningSettings) -> String {
            let rule: String
            switch settings.switching {
            case .payback(let payback): rule = "--switching payback --payback \(String(format: "%g", payback.paybackFactor))"
            case .horizon(let horizon): rule = "--switching horizon --switch-horizon \(horizon.horizonIterations)"
            }
            return
                "--estimator \(settings.estimator.mean.rawValue) --smoothing \(String(format: "%g", settings.estimator.timeConstantSeconds))s "
                + "\(rule) --push \(settings.pushMode.rawValue)"
        }
        let best = recommendation.outcomes[0]
        let current = recommendation.outcomes.first { $0.settings == settings.daemon }
        if format == .json {
            struct Row: Encodable {
                var settings: String
                var geometricMeanRatio, median, p90, maximum, worstAgainstBestFixed: Double
                enum CodingKeys: String, CodingKey {
                    case settings, median, p90, maximum
                    case geometricMeanRatio = "geometric_mean_ratio"
                    case worstAgainstBestFixed = "worst_ratio_to_best_fixed"
                }
            }
            let rows = recommendation.outcomes.map {
                Row(
                    settings: describe($0.settings), geometricMeanRatio: $0.geometricMeanRatio, median: $0.percentile(50), p90: $0.percentile(90),
                    maximum: $0.percentile(100), worstAgainstBestFixed: $0.ratiosToBestFixed.max() ?? .nan)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            FileHandle.standardOutput.write(try encoder.encode(rows))
            print()
            return
        }
        func line(_ outcome: Recommendation.Outcome) -> String {
            String(
                format: "mean %.3fx, median %.3fx, p90 %.3fx, max %.3fx of hindsight; worst %.3fx of best-fixed", outcome.geometricMeanRatio,
                outcome.percentile(50), outcome.percentile(90), outcome.percentile(100), outcome.ratiosToBestFixed.max() ?? .nan)
        }
        print("\(model.graph.name) on \(names.count) trace(s), \(candidates.count) daemon settings; deploy:")
        print("  \(describe(best.settings))")
        print("  \(line(best))")
        if let current, current.settings != best.settings {
            print("the settings given (\(describe(current.settings))):")
            print("  \(line(current))")
        }
        print("runners-up:")
        for outcome in recommendation.outcomes.dropFirst().prefix(4) { print("  \(describe(outcome.settings))\n    \(line(outcome))") }
    }

    static func csvField(_ text: String) -> String {
        text.contains(",") || text.contains("\"") ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }
}
