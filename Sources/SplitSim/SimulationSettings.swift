import Foundation
import SplitCore

/// The policies a simulation compares.
public enum SimulationPolicy: String, Sendable, CaseIterable, Codable {
    /// What splitd deploys: the daemon's per-device pipeline exactly (`DevicePlanningSettings`):
    /// telemetry every `telemetryEverySeconds`, its estimator, re-plan thresholds, switching rule
    /// and push mode (a `table` device switches by itself at every iteration; a `split` device
    /// moves when the daemon decides and pushes).
    case daemon
    /// Re-plans with the exact DAG min cut every `replanEverySeconds`, moving at once.
    case dag
    /// Re-plans with the exact block-wise planner (must match `dag`).
    case block
    /// Re-plans with the Neurosurgeon-style best prefix.
    case chain
    /// Re-plans with cuts at block boundaries only.
    case boundary
    /// Plans once, optimally, from the first measurement and never again.
    case `static`
    /// Keeps the smallest valid device part.
    case serverOnly = "server-only"
    /// The first device-side rule: the table's split for the rates measured at every iteration,
    /// under the horizon rule (`SwitchingRule`, `--switch-horizon`).
    case table
    /// Lower bound: the fastest schedule of splits over the whole trace, knowing the future.
    case hindsight
    /// Lower bound among fixed splits: the best single split for the whole trace, in hindsight.
    case bestFixed = "best-fixed"

    var algorithm: PlanningAlgorithm {
        switch self {
        case .dag, .static: return .dag
        case .block, .table, .daemon, .hindsight, .bestFixed: return .block
        case .chain: return .chain
        case .boundary: return .boundary
        case .serverOnly: return .serverOnly
        }
    }

    /// Whether the policy plans again at every re-planning moment.
    var replans: Bool { [.dag, .block, .chain, .boundary].contains(self) }
    /// Whether it is a bound computed in hindsight rather than a policy that could run.
    public var isBound: Bool { self == .hindsight || self == .bestFixed }
    /// The policies `splitctl simulate` runs by default.
    public static let defaults: [SimulationPolicy] = [.daemon, .dag, .static, .table, .serverOnly]
}

/// How transfers are priced.
public enum LinkPhysics: String, Sendable, CaseIterable, Codable {
    /// Transfers take the capacity that comes, from the moment they start (`LinkTimeline`): the
    /// simulator's physics.
    case integrated
    /// The first simulator's model, kept for comparison: the trace read as one rate per window of
    /// `telemetryEverySeconds` (as converted by hand; a trace sampled once per window reads as
    /// its samples), an iteration (and a migration) priced at the rates of the window in which
    /// it starts as if they held throughout, and policies observing those rates; an iteration
    /// starting in an outage waits for the next window that carries both ways. Misleading on real
    /// links: a transfer that starts in a dip is priced as if the dip lasted.
    case startRate = "start-rate"
}

/// Fixed parameters of a simulation.
public struct SimulationSettings: Sendable {
    public var batchSize: Int
    public var deviceFLOPsPerSecond: Double
    public var serverFLOPsPerSecond: Double
    /// RTT used when the trace has none.
    public var defaultRTTSeconds: Double
    /// Seconds between re-planning moments of the re-planning policies (`dag`, ...).
    public var replanEverySeconds: Double
    /// The optimizer training runs with: the device's training memory, and how many bytes move
    /// per parameter byte on a split change.
    public var optimizer: Optimizer
    /// The device's memory limit, bytes (nil: none). Every policy plans under the limit; memory
    /// does not depend on the network, so a policy that cannot fit fails at its first plan.
    public var deviceMemoryLimitBytes: Int64?
    /// When the `table` policy moves to the table's split for the current rates.
    public var switchingRule: SwitchingRule
    /// Whether split changes cost their migration time (false prices them at zero, as the
    /// simulator did before migrations were modelled; for comparisons only).
    public var chargesMigration = true
    /// How transfers are priced (integrated over the trace by default).
    public var physics = LinkPhysics.integrated
    /// How long a device measures its link for one sample, seconds: the daemon's telemetry
    /// interval, and the window over which every policy observes the link (the mean capacity over
    /// the last window; at the start, over the first window: the device measured its link before
    /// training began).
    public var telemetryEverySeconds = 1.0
    /// The `daemon` policy's settings (the daemon's defaults unless changed).
    public var daemon = DevicePlanningSettings.recommended

    /// The default optimizer: Adam, the most state per weight, so neither memory nor migration
    /// is underestimated (pass `momentum` for the torchvision recipe of the evaluated CNNs).
    public static let defaultOptimizer = Optimizer.adam

    public init(
        batchSize: Int, deviceFLOPsPerSecond: Double, serverFLOPsPerSecond: Double,
        defaultRTTSeconds: Double = 0.01, replanEverySeconds: Double = 10,
        optimizer: Optimizer = SimulationSettings.defaultOptimizer, deviceMemoryLimitBytes: Int64? = nil,
        switchingRule: SwitchingRule = SwitchingRule()
    ) {
        self.batchSize = batchSize
        self.deviceFLOPsPerSecond = deviceFLOPsPerSecond
        self.serverFLOPsPerSecond = serverFLOPsPerSecond
        self.defaultRTTSeconds = defaultRTTSeconds
        self.replanEverySeconds = replanEverySeconds
        self.optimizer = optimizer
        self.deviceMemoryLimitBytes = deviceMemoryLimitBytes
        self.switchingRule = switchingRule
    }

    /// Conditions at the given rates and rtt.
    func conditions(uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double, rttSeconds: Double) -> PlanningConditions {
        PlanningConditions(
            batchSize: batchSize, deviceFLOPsPerSecond: deviceFLOPsPerSecond, serverFLOPsPerSecond: serverFLOPsPerSecond,
            uplinkBitsPerSecond: uplinkBitsPerSecond, downlinkBitsPerSecond: downlinkBitsPerSecond,
            rttSeconds: rttSeconds, optimizer: optimizer, deviceMemoryLimitBytes: deviceMemoryLimitBytes)
    }

    /// The compute side, with `rttSeconds`.
    func compute(rttSeconds: Double) -> ComputeConditions {
        var compute = ComputeConditions(
            batchSize: batchSize, deviceFLOPsPerSecond: deviceFLOPsPerSecond, serverFLOPsPerSecond: serverFLOPsPerSecond, rttSeconds: rttSeconds)
        compute.optimizer = optimizer
        compute.deviceMemoryLimitBytes = deviceMemoryLimitBytes
        return compute
    }

    /// Throws `PlanningError.invalidParameter` for the first bad value.
    func validate() throws {
        guard replanEverySeconds.isFinite && replanEverySeconds > 0 else {
            throw PlanningError.invalidParameter(.replanInterval, reason: "must be a number of seconds > 0")
        }
        guard telemetryEverySeconds.isFinite && telemetryEverySeconds > 0 else {
            throw PlanningError.invalidParameter(.telemetryInterval, reason: "must be a number of seconds > 0")
        }
        try conditions(uplinkBitsPerSecond: 1e6, downlinkBitsPerSecond: 1e6, rttSeconds: defaultRTTSeconds).validate()
        try switchingRule.validate()
        try daemon.validate()
    }
}

/// One policy's outcome.
public struct PolicyResult: Sendable, Codable, Equatable {
    public var policy: SimulationPolicy
    /// Training iterations completed within the trace.
    public var iterations: Int
    /// Trace duration divided by the iterations done in it (the last, unfinished one by its
    /// fraction): the average time one training iteration takes under this policy.
    public var meanDelaySeconds: Double
    public var p95DelaySeconds: Double
    /// How often the policy switched to a different device part.
    public var planChanges: Int
    /// Seconds spent moving layers (weights and optimizer state) between device and server,
    /// charged to the first iteration after each change.
    public var migrationSeconds: Double = 0
    /// Bytes moved by those migrations, both directions.
    public var migrationBytes: Double = 0
    /// Mean delay over `hindsight`'s (≥ 1: hindsight is a lower bound for every policy run).
    public var ratioToHindsight: Double?
    /// How often a better split was refused (`daemon` only: decisions that stayed for a reason
    /// other than already running the best split).
    public var refusedMoves: Int?
    /// Start time and delay of every iteration (for plots; not in JSON).
    public var iterationStartSeconds: [Double] = []
    public var iterationDelaySeconds: [Double] = []
    /// The split each iteration ran, numbered in the order the simulation met them (not in JSON).
    public var iterationSplits: [Int] = []
    /// Start time and whole delay of the iteration in progress when the trace ends (the link
    /// repeating to finish it), which the mean counts by the fraction inside the trace; nil when
    /// the last iteration ended exactly at the end (for plots and warnings; not in JSON).
    public var unfinishedIterationStartSeconds: Double?
    public var unfinishedIterationDelaySeconds: Double?

    /// Completed iterations a p95 needs to say more than the slowest one: with fewer than 20, no
    /// iteration lies above the 95th percentile, so it is the maximum (and with none, no value).
    public static let minimumIterationsForP95 = 20

    /// Whether the iteration unfinished at the trace's end is slower than every completed one:
    /// the mean then counts a delay that neither the p95 nor any completed iteration shows.
    public var unfinishedIterationIsSlowest: Bool {
        guard let unfinished = unfinishedIterationDelaySeconds else { return false }
        return unfinished > (iterationDelaySeconds.max() ?? 0)
    }

    enum CodingKeys: String, CodingKey {
        case policy, iterations
        case meanDelaySeconds = "mean_delay_seconds"
        case p95DelaySeconds = "p95_delay_seconds"
        case planChanges = "plan_changes"
        case migrationSeconds = "migration_seconds"
        case migrationBytes = "migration_bytes"
        case ratioToHindsight = "ratio_to_hindsight"
        case refusedMoves = "refused_moves"
    }
}

/// The outcome of a simulation.
public struct SimulationReport: Sendable, Codable, Equatable {
    /// Every policy run, then `hindsight` and `best-fixed`.
    public var policies: [PolicyResult]
    /// `dag`'s reduction of mean iteration delay against each other policy, percent (when dag ran).
    public var reductionPercent: [String: Double]
    public var traceDurationSeconds: Double
    public var replanEverySeconds: Double
    /// Optimizer whose state moves with migrating layers.
    public var optimizer: Optimizer
    /// Horizon of the `table` policy's switching rule, iterations.
    public var switchHorizonIterations: Int
    /// How transfers were priced.
    public var physics = LinkPhysics.integrated
    /// The measurement window and the daemon's telemetry interval, seconds.
    public var telemetryEverySeconds = 1.0
    /// The `daemon` policy's estimator, switching rule and push mode.
    public var daemonEstimator = DevicePlanningSettings.recommended.estimator
    public var daemonSwitching = DevicePlanningSettings.recommended.switching
    public var daemonPushMode = DevicePlanningSettings.recommended.pushMode

    enum CodingKeys: String, CodingKey {
        case policies, optimizer, physics
        case reductionPercent = "reduction_percent"
        case traceDurationSeconds = "trace_duration_seconds"
        case replanEverySeconds = "replan_every_seconds"
        case switchHorizonIterations = "switch_horizon_iterations"
        case telemetryEverySeconds = "telemetry_every_seconds"
        case daemonEstimator = "daemon_estimator"
        case daemonSwitching = "daemon_switching"
        case daemonPushMode = "daemon_push_mode"
    }

    /// The result of `policy`, if it ran.
    public func result(_ policy: SimulationPolicy) -> PolicyResult? { policies.first { $0.policy == policy } }
}
