import Foundation
import SplitCore

/// Replays a network trace through each policy: training runs iteration after iteration from the
/// trace's start; at every iteration boundary the policy names the split for the next iteration
/// from what it has measured; a change of split first migrates the layers that change sides
/// (`SplitMigration`), and that time counts in the first iteration with the new split; the split
/// a policy starts with is free (training starts there).
///
/// **Physics** (`LinkPhysics`): by default every transfer is integrated over the trace
/// (`LinkTimeline`): it ends when the link has carried its bits from the moment it starts,
/// waiting through outages. **The end of the trace**: the simulation covers exactly the trace;
/// the iteration in progress when it ends counts by the fraction of its time that falls inside
/// (the link repeats from the trace's start to finish it), so every policy is measured over the
/// same span. **Observation**: a policy sees the mean capacity over the last
/// `telemetryEverySeconds` (over the first such window at the start), never the future.
///
/// **Bounds**: `hindsight` and `best-fixed` are computed in every report, over the table's splits
/// and every split a policy ran (`Hindsight`), and every policy's mean delay is reported as a
/// ratio to `hindsight`.
public final class Simulator {
    public let model: PreparedModel
    public let trace: NetworkTrace
    public let settings: SimulationSettings
    let physics: Physics
    let registry: SplitRegistry
    private let planner: SplitPlanner
    /// The table the `table` policy uses (rtt included, as before) and the daemon's (rtt 0, as the
    /// daemon computes tables); computed on first use.
    private var tableState: SimulatedTable?
    private var daemonTableState: SimulatedTable?

    public init(model: PreparedModel, trace: NetworkTrace, settings: SimulationSettings) throws {
        try settings.validate()
        self.model = model
        self.trace = trace
        self.settings = settings
        self.planner = SplitPlanner(model: model)
        self.physics = Physics(
            kind: settings.physics, trace: trace, timeline: try LinkTimeline(trace, defaultRTTSeconds: settings.defaultRTTSeconds),
            defaultRTTSeconds: settings.defaultRTTSeconds, windowSeconds: settings.telemetryEverySeconds)
        self.registry = SplitRegistry(model: model, settings: settings)
    }

    /// The `table` policy's table (the settings' compute side with the default rtt).
    func table() throws -> SimulatedTable {
        if let tableState { return tableState }
        let state = try SimulatedTable(model: model, compute: settings.compute(rttSeconds: settings.defaultRTTSeconds), registry: registry)
        tableState = state
        return state
    }

    /// The daemon's table (rtt 0: the rtt moves every split alike).
    func daemonTable() throws -> SimulatedTable {
        if let daemonTableState { return daemonTableState }
        let state = try SimulatedTable(model: model, compute: settings.compute(rttSeconds: 0), registry: registry)
        daemonTableState = state
        return state
    }

    /// Runs every policy, then the bounds; `progress` gets the overall fraction done (0...1).
    public func run(_ policies: [SimulationPolicy], progress: ((Double) -> Void)? = nil) throws -> SimulationReport {
        let runnable = policies.filter { !$0.isBound }
        var results: [PolicyResult] = []
        // The bounds range over the table's splits too.
        _ = try daemonTable()
        for (index, policy) in runnable.enumerated() {
            results.append(try simulate(policy) { fraction in progress?((Double(index) + fraction) / Double(runnable.count + 1)) })
        }
        let bounds = Hindsight(physics: physics, registry: registry)
        let optimal = bounds.optimal()
        let fixed = bounds.bestFixed()
        results.append(optimal)
        results.append(fixed)
        progress?(1)
        for index in results.indices where optimal.meanDelaySeconds > 0 && optimal.meanDelaySeconds.isFinite {
            results[index].ratioToHindsight = results[index].meanDelaySeconds / optimal.meanDelaySeconds
        }
        var reduction: [String: Double] = [:]
        if let dag = results.first(where: { $0.policy == .dag }) {
            for result in results
            where result.policy != .dag && !result.policy.isBound && result.meanDelaySeconds > 0 && result.meanDelaySeconds.isFinite {
                reduction[result.policy.rawValue] = (result.meanDelaySeconds - dag.meanDelaySeconds) / result.meanDelaySeconds * 100
            }
        }
        return SimulationReport(
            policies: results, reductionPercent: reduction, traceDurationSeconds: trace.durationSeconds,
            replanEverySeconds: settings.replanEverySeconds, optimizer: settings.optimizer,
            switchHorizonIterations: settings.switchingRule.horizonIterations, physics: settings.physics,
            telemetryEverySeconds: settings.telemetryEverySeconds, daemonEstimator: settings.daemon.estimator,
            daemonSwitching: settings.daemon.switching, daemonPushMode: settings.daemon.pushMode)
    }

    /// The `daemon` policy under other daemon settings, on the same trace and splits (for
    /// `Recommendation`; the bounds of `run` hold for it: its splits are the table's).
    public func simulateDaemon(_ daemon: DevicePlanningSettings) throws -> PolicyResult {
        try daemon.validate()
        var settings = self.settings
        settings.daemon = daemon
        let controller = DaemonController(table: try daemonTable(), physics: physics, settings: settings, registry: registry)
        return try simulate(.daemon, controller: controller) { _ in }
    }

    /// `hindsight` and `best-fixed` over the daemon table's splits and every split run so far.
    public func bounds() throws -> (hindsight: PolicyResult, bestFixed: PolicyResult) {
        _ = try daemonTable()
        let bounds = Hindsight(physics: physics, registry: registry)
        return (bounds.optimal(), bounds.bestFixed())
    }

    /// The controller that runs `policy`.
    func controller(_ policy: SimulationPolicy) throws -> SplitController {
        switch policy {
        case .daemon: return DaemonController(table: try daemonTable(), physics: physics, settings: settings, registry: registry)
        case .table: return TableController(table: try table(), physics: physics, rule: settings.switchingRule, registry: registry)
        case .hindsight, .bestFixed: preconditionFailure("bounds are computed, not run")
        default: return PlanningController(policy: policy, planner: planner, physics: physics, settings: settings, registry: registry)
        }
    }

    /// One policy through the whole trace.
    func simulate(_ policy: SimulationPolicy, progress: (Double) -> Void) throws -> PolicyResult {
        try simulate(policy, controller: try self.controller(policy), progress: progress)
    }

    /// One policy through the whole trace, run by `controller`.
    func simulate(_ policy: SimulationPolicy, controller: SplitController, progress: (Double) -> Void) throws -> PolicyResult {
        let start = physics.start, end = physics.end
        var time = start
        var current = try controller.start(at: time)
        var next = current
        var changes = 0
        var migrationSeconds = 0.0, migrationBytes = 0.0
        var starts: [Double] = [], delays: [Double] = []
        var splits: [Int] = []
        var lastReport = start
        var partial = 0.0
        while true {
            var migration = SplitMigration(uplinkBytes: 0, downlinkBytes: 0)
            if next != current {
                changes += 1
                migration = registry.migration(current, next)
            }
            let (moving, arrived, ended) = physics.step(from: time, migration: migration, phases: registry.phases[next])
            migrationSeconds += moving
            migrationBytes += migration.uplinkBytes + migration.downlinkBytes
            current = next
            let delay = ended - time
            guard delay > 0, ended <= end else {
                // The iteration in progress when the trace ends counts by the fraction done.
                if delay > 0 { partial = (end - time) / delay }
                break
            }
            starts.append(time)
            delays.append(delay)
            splits.append(current)
            time = ended
            if time - lastReport > (end - start) / 100 {
                lastReport = time
                progress((time - start) / (end - start))
            }
            next = try controller.next(at: time, current: current, iterationSeconds: ended - arrived)
        }
        progress(1)
        var result = Self.result(policy, end: end, start: start, starts: starts, delays: delays, partial: partial)
        result.planChanges = changes
        result.migrationSeconds = migrationSeconds
        result.migrationBytes = migrationBytes
        result.refusedMoves = controller.refusals
        result.iterationSplits = splits
        return result
    }

    /// A result from a policy's iterations: mean delay over the whole trace (elapsed time per
    /// iteration, the unfinished last iteration counted by its fraction) and the p95.
    static func result(_ policy: SimulationPolicy, end: Double, start: Double, starts: [Double], delays: [Double], partial: Double) -> PolicyResult {
        let sorted = delays.sorted()
        let p95 = sorted.isEmpty ? 0 : sorted[max(0, Int((Double(sorted.count) * 0.95).rounded(.up)) - 1)]
        let work = Double(delays.count) + partial
        var result = PolicyResult(
            policy: policy, iterations: delays.count, meanDelaySeconds: work > 0 ? (end - start) / work : .infinity, p95DelaySeconds: p95,
            planChanges: 0, iterationStartSeconds: starts, iterationDelaySeconds: delays)
        // The unfinished iteration starts where the last completed one ended; its fraction
        // (end − its start) / its delay gives its whole delay back.
        let unfinishedStart = starts.last.map { $0 + delays[delays.count - 1] } ?? start
        if partial > 0 && unfinishedStart < end {
            result.unfinishedIterationStartSeconds = unfinishedStart
            result.unfinishedIterationDelaySeconds = (end - unfinishedStart) / partial
        }
        return result
    }

    /// For every re-planning moment of the trace, each policy's predicted delay for the rates
    /// measured at that moment (the plan it would run with at that moment; for `table`, the
    /// table's split for those rates, before the switching rule and without migrations).
    public func predictedDelaysAtReplanMoments(_ policies: [SimulationPolicy]) throws -> [(timeSeconds: Double, delays: [SimulationPolicy: Double])] {
        var fixed: [SimulationPolicy: Int] = [:]
        for policy in policies where [.static, .serverOnly].contains(policy) {
            fixed[policy] = try (controller(policy) as! PlanningController).plan(at: physics.start)
        }
        var moments: [(Double, [SimulationPolicy: Double])] = []
        var time = physics.start
        while time < trace.durationSeconds {
            let observed = physics.observe(at: time)
            let up = LinkEstimator.planningRate(observed.uplinkBitsPerSecond), down = LinkEstimator.planningRate(observed.downlinkBitsPerSecond)
            var delays: [SimulationPolicy: Double] = [:]
            for policy in policies where !policy.isBound {
                let split: Int
                if let chosen = fixed[policy] {
                    split = chosen
                } else if policy == .table || policy == .daemon {
                    let table = policy == .table ? try self.table() : try daemonTable()
                    split =
                        table.splits[
                            table.table.segmentIndex(
                                forEffectiveBitsPerSecond: PlanTable.effectiveBitsPerSecond(uplinkBitsPerSecond: up, downlinkBitsPerSecond: down))]
                } else {
                    split = try (controller(policy) as! PlanningController).plan(at: time)
                }
                delays[policy] = registry.phases[split].cost.delaySeconds(
                    uplinkBitsPerSecond: up, downlinkBitsPerSecond: down, rttSeconds: observed.rttSeconds)
            }
            moments.append((time, delays))
            time += settings.replanEverySeconds
        }
        return moments
    }
}
