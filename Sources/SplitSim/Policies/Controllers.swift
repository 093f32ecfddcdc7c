import Foundation
import SplitCore

/// A policy as the simulator runs it: at the trace's start and at every iteration boundary it
/// names the split for the next iteration (a registry index), seeing only what it has measured.
protocol SplitController: AnyObject {
    /// The split training starts with (free: training starts there).
    func start(at time: Double) throws -> Int
    /// The split for the iteration starting at `time`, after an iteration that ran `current`
    /// for `iterationSeconds` (its migration excluded).
    func next(at time: Double, current: Int, iterationSeconds: Double) throws -> Int
    /// Refused better splits so far (nil when the policy does not refuse).
    var refusals: Int? { get }
}

/// `dag`, `block`, `chain`, `boundary`, `static` and `server-only`: plan with a planner at the
/// measured rates, at the start and (re-planning policies) at the first iteration boundary after
/// every re-planning moment; move at once.
final class PlanningController: SplitController {
    let policy: SimulationPolicy
    let planner: SplitPlanner
    let physics: Physics
    let settings: SimulationSettings
    let registry: SplitRegistry
    var nextReplan: Double

    init(policy: SimulationPolicy, planner: SplitPlanner, physics: Physics, settings: SimulationSettings, registry: SplitRegistry) {
        self.policy = policy
        self.planner = planner
        self.physics = physics
        self.settings = settings
        self.registry = registry
        nextReplan = physics.start + settings.replanEverySeconds
    }

    var refusals: Int? { nil }

    func plan(at time: Double) throws -> Int {
        let observed = physics.observe(at: time)
        let conditions = settings.conditions(
            uplinkBitsPerSecond: LinkEstimator.planningRate(observed.uplinkBitsPerSecond),
            downlinkBitsPerSecond: LinkEstimator.planningRate(observed.downlinkBitsPerSecond), rttSeconds: observed.rttSeconds)
        return try registry.register(try planner.plan(policy.algorithm, conditions: conditions).onDevice)
    }

    func start(at time: Double) throws -> Int { try plan(at: time) }

    func next(at time: Double, current: Int, iterationSeconds: Double) throws -> Int {
        guard time >= nextReplan else { return current }
        // Skip moments that passed during a long iteration: plan once, with what is measured now.
        nextReplan += settings.replanEverySeconds * ((time - nextReplan) / settings.replanEverySeconds + 1).rounded(.down)
        return policy.replans ? try plan(at: time) : current
    }
}

/// The plan table of the simulation's compute side and its segments' registry indices.
struct SimulatedTable {
    let table: PlanTable
    let splits: [Int]

    init(model: PreparedModel, compute: ComputeConditions, registry: SplitRegistry) throws {
        table = try PlanTable.compute(model: model, conditions: compute, algorithm: .block)
        splits = try table.segments.map { try registry.register($0.onDevice(layerCount: model.graph.count)) }
    }

    /// Seconds of the migration from segment `from` to segment `to` at these rates (0 when free).
    func migrationSeconds(_ registry: SplitRegistry, from: Int, to: Int, uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double) -> Double {
        registry.migration(splits[from], splits[to]).seconds(uplinkBitsPerSecond: uplinkBitsPerSecond, downlinkBitsPerSecond: downlinkBitsPerSecond)
    }
}

/// `table`: the first device-side rule. The table's split for the rates measured at every
/// iteration boundary, moved to when `SwitchingRule` (the horizon rule) accepts.
final class TableController: SplitController {
    let table: SimulatedTable
    let physics: Physics
    let rule: SwitchingRule
    let registry: SplitRegistry
    var segment = 0

    init(table: SimulatedTable, physics: Physics, rule: SwitchingRule, registry: SplitRegistry) {
        self.table = table
        self.physics = physics
        self.rule = rule
        self.registry = registry
    }

    var refusals: Int? { nil }

    func rates(at time: Double) -> (Double, Double) {
        let observed = physics.observe(at: time)
        return (LinkEstimator.planningRate(observed.uplinkBitsPerSecond), LinkEstimator.planningRate(observed.downlinkBitsPerSecond))
    }

    func start(at time: Double) throws -> Int {
        let (up, down) = rates(at: time)
        segment = table.table.segmentIndex(
            forEffectiveBitsPerSecond: PlanTable.effectiveBitsPerSecond(uplinkBitsPerSecond: up, downlinkBitsPerSecond: down))
        return table.splits[segment]
    }

    func next(at time: Double, current: Int, iterationSeconds: Double) throws -> Int {
        let (up, down) = rates(at: time)
        segment = table.table.segmentToRun(current: segment, uplinkBitsPerSecond: up, downlinkBitsPerSecond: down, rule: rule) {
            self.table.migrationSeconds(self.registry, from: $0, to: $1, uplinkBitsPerSecond: up, downlinkBitsPerSecond: down)
        }
        return table.splits[segment]
    }
}

/// `daemon`: the daemon's per-device pipeline (`DevicePlanningSettings`) exactly. The device
/// sends telemetry every `telemetryEverySeconds` (the mean capacity over the interval just
/// measured); the daemon folds it into its estimate and, when the thresholds or the revisit time
/// say so, evaluates the device against its plan table (block planner, rtt 0, as the daemon
/// computes tables). A `split` device moves when the daemon decides to (at its next iteration
/// boundary; the push is taken as instant); a `table` device runs the same estimator on the same
/// measurements and applies the switching rule itself at every iteration boundary.
final class DaemonController: SplitController {
    let table: SimulatedTable
    let physics: Physics
    let settings: DevicePlanningSettings
    let interval: Double
    let registry: SplitRegistry
    let registeredFLOPs: Double
    var state = DevicePlanningState()
    var deviceSwitching = SwitchingState(segments: 0)
    var segment = 0
    var pending: Int?
    var nextTelemetry: Double
    var refused = 0
    var refusing: Int?

    init(table: SimulatedTable, physics: Physics, settings: SimulationSettings, registry: SplitRegistry) {
        self.table = table
        self.physics = physics
        self.settings = settings.daemon
        self.interval = settings.telemetryEverySeconds
        self.registry = registry
        self.registeredFLOPs = settings.deviceFLOPsPerSecond
        nextTelemetry = physics.start + settings.telemetryEverySeconds
    }

    var refusals: Int? { refused }

    func migrationSeconds(_ to: Int, _ up: Double, _ down: Double) -> Double {
        table.migrationSeconds(registry, from: segment, to: to, uplinkBitsPerSecond: up, downlinkBitsPerSecond: down)
    }

    /// Counts a refusal once per episode: until the decision changes or the refused split does.
    func count(_ decision: SwitchDecision) {
        if decision.isRefusal {
            if refusing != decision.candidate { refused += 1 }
            refusing = decision.candidate
        } else {
            refusing = nil
        }
    }

    func start(at time: Double) throws -> Int {
        // The device's first measurement (over the first interval, taken before training began)
        // makes its first plan; the next sample covers the interval after it.
        _ = settings.ingest(physics.telemetry(at: time + interval), state: &state, registeredFLOPs: registeredFLOPs)
        nextTelemetry = time + 2 * interval
        let decision = settings.evaluate(
            table: table.table, current: .none, now: Physics.date(time), state: &state, migrationSeconds: migrationSeconds)
        segment = decision.target ?? 0
        deviceSwitching.reset(segments: table.table.segments.count)
        return table.splits[segment]
    }

    func next(at time: Double, current: Int, iterationSeconds: Double) throws -> Int {
        while nextTelemetry <= time {
            let sample = physics.telemetry(at: nextTelemetry)
            let now = Physics.date(nextTelemetry)
            nextTelemetry += interval
            let trigger = settings.ingest(sample, state: &state, registeredFLOPs: registeredFLOPs)
            guard settings.pushMode == .split, trigger != nil else { continue }
            let decision = settings.evaluate(
                table: table.table, current: .segment(segment), now: now, state: &state, migrationSeconds: migrationSeconds)
            count(decision)
            if let target = decision.target {
                segment = target
                pending = target
            }
        }
        switch settings.pushMode {
        case .split:
            defer { pending = nil }
            return pending.map { table.splits[$0] } ?? current
        case .table:
            guard let estimate = state.estimate else { return current }
            let decision = settings.decideOnDevice(
                table: table.table, current: segment, elapsedSeconds: iterationSeconds, estimate: estimate, state: &deviceSwitching,
                migrationSeconds: migrationSeconds)
            count(decision)
            if let target = decision.target { segment = target }
            return table.splits[segment]
        }
    }
}
