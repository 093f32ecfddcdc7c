import SplitCore

/// The policies a simulation compares.
public enum SimulationPolicy: String, Sendable, CaseIterable, Codable {
    /// Re-plans with the exact DAG min cut (the product).
    case dag
    /// Re-plans with the exact block-wise planner (must match `dag`).
    case block
    /// Re-plans with the Neurosurgeon-style best prefix.
    case chain
    /// Re-plans with cuts at block boundaries only.
    case boundary
    /// Plans once, optimally, from the trace's first sample and never again.
    case `static`
    /// Keeps the smallest valid device part.
    case serverOnly = "server-only"
    /// Plans a table once from the compute side; at every iteration the device looks up its
    /// current rates and moves when `SwitchingRule` says the saving pays for the migration.
    case table

    var algorithm: PlanningAlgorithm {
        switch self {
        case .dag, .static: return .dag
        case .block, .table: return .block
        case .chain: return .chain
        case .boundary: return .boundary
        case .serverOnly: return .serverOnly
        }
    }

    /// Whether the policy plans again at every re-planning moment.
    var replans: Bool { self != .static && self != .serverOnly && self != .table }
}

/// Fixed parameters of a simulation.
public struct SimulationSettings: Sendable {
    public var batchSize: Int
    public var deviceFLOPsPerSecond: Double
    public var serverFLOPsPerSecond: Double
    /// RTT used when the trace has none.
    public var defaultRTTSeconds: Double
    /// Seconds between re-planning moments.
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

    func conditions(for sample: NetworkTrace.Sample) -> PlanningConditions {
        PlanningConditions(
            batchSize: batchSize, deviceFLOPsPerSecond: deviceFLOPsPerSecond, serverFLOPsPerSecond: serverFLOPsPerSecond,
            uplinkBitsPerSecond: sample.uplinkBitsPerSecond, downlinkBitsPerSecond: sample.downlinkBitsPerSecond,
            rttSeconds: sample.rttSeconds ?? defaultRTTSeconds, optimizer: optimizer, deviceMemoryLimitBytes: deviceMemoryLimitBytes)
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
    /// Start time and delay of every iteration (for plots; not in JSON).
    public var iterationStartSeconds: [Double] = []
    public var iterationDelaySeconds: [Double] = []

    enum CodingKeys: String, CodingKey {
        case policy, iterations
        case meanDelaySeconds = "mean_delay_seconds"
        case p95DelaySeconds = "p95_delay_seconds"
        case planChanges = "plan_changes"
        case migrationSeconds = "migration_seconds"
        case migrationBytes = "migration_bytes"
    }
}

/// The outcome of a simulation.
public struct SimulationReport: Sendable, Codable, Equatable {
    public var policies: [PolicyResult]
    /// `dag`'s reduction of mean iteration delay against each other policy, percent.
    public var reductionPercent: [String: Double]
    public var traceDurationSeconds: Double
    public var replanEverySeconds: Double
    /// Optimizer whose state moves with migrating layers.
    public var optimizer: Optimizer
    /// Horizon of the `table` policy's switching rule, iterations.
    public var switchHorizonIterations: Int

    enum CodingKeys: String, CodingKey {
        case policies, optimizer
        case reductionPercent = "reduction_percent"
        case traceDurationSeconds = "trace_duration_seconds"
        case replanEverySeconds = "replan_every_seconds"
        case switchHorizonIterations = "switch_horizon_iterations"
    }
}

/// Replays a network trace through each policy: training runs iteration after iteration; each
/// iteration's delay is the cost model evaluated with the rates at the moment it starts; a policy
/// re-plans at the first iteration starting at or after each re-planning moment (every
/// `replanEverySeconds` from the trace start), using only the rates observed then. `table`
/// instead looks its split up at every iteration and moves under the switching rule.
///
/// Every change of split costs its migration (`SplitMigration` at the rates when it happens),
/// added to the delay of the first iteration run with the new split; the split a policy starts
/// with is free (training starts there).
public final class Simulator {
    public let model: PreparedModel
    public let trace: NetworkTrace
    public let settings: SimulationSettings
    private let planner: SplitPlanner
    /// The `table` policy's table and the migration between its segments, computed on first use.
    private var tableState: (table: PlanTable, migrations: [[SplitMigration]])?

    /// What a plan costs apart from the network: fixed compute and the bytes it sends.
    struct PlanCost: Equatable {
        var onDevice: [Bool]
        var computeSeconds: Double
        var transferBytes: Double

        func delay(_ sample: NetworkTrace.Sample, defaultRTT: Double) -> Double {
            computeSeconds + 8 * transferBytes * (1 / sample.uplinkBitsPerSecond + 1 / sample.downlinkBitsPerSecond)
                + (sample.rttSeconds ?? defaultRTT)
        }
    }

    public init(model: PreparedModel, trace: NetworkTrace, settings: SimulationSettings) throws {
        guard settings.replanEverySeconds.isFinite && settings.replanEverySeconds > 0 else {
            throw PlanningError.invalidParameter(.replanInterval, reason: "must be a number of seconds > 0")
        }
        try settings.conditions(for: trace.samples[0]).validate()
        try settings.switchingRule.validate()
        self.model = model
        self.trace = trace
        self.settings = settings
        self.planner = SplitPlanner(model: model)
    }

    func planCost(_ policy: SimulationPolicy, at sample: NetworkTrace.Sample) throws -> PlanCost {
        if policy == .table {
            let table = try tableAndMigrations().table
            return cost(
                of: table.segments[
                    table.segmentIndex(
                        forEffectiveBitsPerSecond: PlanTable.effectiveBitsPerSecond(
                            uplinkBitsPerSecond: sample.uplinkBitsPerSecond, downlinkBitsPerSecond: sample.downlinkBitsPerSecond))], in: table)
        }
        let plan = try planner.plan(policy.algorithm, conditions: settings.conditions(for: sample))
        return PlanCost(
            onDevice: plan.onDevice,
            computeSeconds: plan.breakdown.deviceComputeSeconds + plan.breakdown.serverComputeSeconds,
            transferBytes: plan.transferBytes)
    }

    /// The table for the settings' compute side (with the default rtt, which moves every split
    /// alike) and the migrations between its segments.
    func tableAndMigrations() throws -> (table: PlanTable, migrations: [[SplitMigration]]) {
        if let tableState { return tableState }
        let compute = ComputeConditions(
            batchSize: settings.batchSize, deviceFLOPsPerSecond: settings.deviceFLOPsPerSecond,
            serverFLOPsPerSecond: settings.serverFLOPsPerSecond, rttSeconds: settings.defaultRTTSeconds)
        let table = try PlanTable.compute(model: model, conditions: compute, algorithm: SimulationPolicy.table.algorithm)
        let state = (table, table.migrations(graph: model.graph, optimizer: settings.optimizer))
        tableState = state
        return state
    }

    /// A segment's cost, its rtt taken out (each sample brings its own).
    private func cost(of segment: PlanTable.Segment, in table: PlanTable) -> PlanCost {
        PlanCost(
            onDevice: segment.onDevice(layerCount: model.graph.count),
            computeSeconds: segment.fixedSeconds - table.conditions.rttSeconds, transferBytes: segment.transferBytes)
    }

    /// Runs every policy; `progress` gets the overall fraction done (0...1).
    public func run(_ policies: [SimulationPolicy], progress: ((Double) -> Void)? = nil) throws -> SimulationReport {
        var results: [PolicyResult] = []
        for (index, policy) in policies.enumerated() {
            results.append(try simulate(policy) { fraction in progress?((Double(index) + fraction) / Double(policies.count)) })
        }
        var reduction: [String: Double] = [:]
        if let dag = results.first(where: { $0.policy == .dag }) {
            for result in results where result.policy != .dag && result.meanDelaySeconds > 0 && result.meanDelaySeconds.isFinite {
                reduction[result.policy.rawValue] = (result.meanDelaySeconds - dag.meanDelaySeconds) / result.meanDelaySeconds * 100
            }
        }
        return SimulationReport(
            policies: results, reductionPercent: reduction, traceDurationSeconds: trace.durationSeconds,
            replanEverySeconds: settings.replanEverySeconds, optimizer: settings.optimizer,
            switchHorizonIterations: settings.switchingRule.horizonIterations)
    }

    /// One policy through the whole trace.
    func simulate(_ policy: SimulationPolicy, progress: (Double) -> Void) throws -> PolicyResult {
        let start = trace.samples[0].timeSeconds
        let end = trace.durationSeconds
        var time = start
        var current = try planCost(policy, at: trace.sample(at: time))
        let tableState = policy == .table ? try tableAndMigrations() : nil
        var segment = tableState.map { state in
            let first = trace.sample(at: time)
            return state.table.segmentIndex(
                forEffectiveBitsPerSecond: PlanTable.effectiveBitsPerSecond(
                    uplinkBitsPerSecond: first.uplinkBitsPerSecond, downlinkBitsPerSecond: first.downlinkBitsPerSecond))
        }
        var nextReplan = start + settings.replanEverySeconds
        var changes = 0
        var migrationSeconds = 0.0, migrationBytes = 0.0
        var starts: [Double] = [], delays: [Double] = []
        var lastReport = start
        var partial = 0.0
        while true {
            let sample = trace.sample(at: time)
            var migration = SplitMigration(uplinkBytes: 0, downlinkBytes: 0)
            if let (table, migrations) = tableState, let from = segment {
                let to = table.segmentToRun(
                    current: from, uplinkBitsPerSecond: sample.uplinkBitsPerSecond,
                    downlinkBitsPerSecond: sample.downlinkBitsPerSecond, rule: settings.switchingRule
                ) {
                    settings.chargesMigration
                        ? migrations[$0][$1].seconds(
                            uplinkBitsPerSecond: sample.uplinkBitsPerSecond,
                            downlinkBitsPerSecond: sample.downlinkBitsPerSecond) : 0
                }
                if to != from {
                    changes += 1
                    migration = migrations[from][to]
                    segment = to
                    current = cost(of: table.segments[to], in: table)
                }
            } else if time >= nextReplan {
                if policy.replans {
                    let fresh = try planCost(policy, at: sample)
                    if fresh.onDevice != current.onDevice {
                        changes += 1
                        migration = SplitMigration(from: current.onDevice, to: fresh.onDevice, graph: model.graph, optimizer: settings.optimizer)
                    }
                    current = fresh
                }
                // Skip moments that passed during a long iteration: plan once, with what is observed now.
                nextReplan += settings.replanEverySeconds * ((time - nextReplan) / settings.replanEverySeconds + 1).rounded(.down)
            }
            if !settings.chargesMigration { migration = SplitMigration(uplinkBytes: 0, downlinkBytes: 0) }
            let moving = migration.seconds(uplinkBitsPerSecond: sample.uplinkBitsPerSecond, downlinkBitsPerSecond: sample.downlinkBitsPerSecond)
            migrationSeconds += moving
            migrationBytes += migration.uplinkBytes + migration.downlinkBytes
            // The first iteration with a new split waits for its layers to arrive.
            let delay = current.delay(sample, defaultRTT: settings.defaultRTTSeconds) + moving
            guard delay > 0, time + delay <= end else {
                // The iteration in progress when the trace ends counts by the fraction done.
                if delay > 0 { partial = (end - time) / delay }
                break
            }
            starts.append(time)
            delays.append(delay)
            time += delay
            if time - lastReport > (end - start) / 100 {
                lastReport = time
                progress((time - start) / (end - start))
            }
        }
        progress(1)
        let sorted = delays.sorted()
        let p95 = sorted.isEmpty ? 0 : sorted[max(0, Int((Double(sorted.count) * 0.95).rounded(.up)) - 1)]
        // Mean iteration delay over the whole trace: elapsed time per iteration, with the
        // unfinished last iteration counted by its fraction, so every policy is measured over
        // exactly the same span of time.
        let work = Double(delays.count) + partial
        let mean = work > 0 ? (end - start) / work : .infinity
        return PolicyResult(
            policy: policy, iterations: delays.count, meanDelaySeconds: mean, p95DelaySeconds: p95,
            planChanges: changes, migrationSeconds: migrationSeconds, migrationBytes: migrationBytes,
            iterationStartSeconds: starts, iterationDelaySeconds: delays)
    }

    /// For every re-planning moment of the trace, each policy's predicted delay for the rates
    /// observed at that moment (the plan it would run with at that moment; for `table`, the
    /// table's split for those rates, before the switching rule and without migrations).
    public func predictedDelaysAtReplanMoments(_ policies: [SimulationPolicy]) throws -> [(timeSeconds: Double, delays: [SimulationPolicy: Double])] {
        let first = trace.samples[0]
        var fixed: [SimulationPolicy: PlanCost] = [:]
        for policy in policies where !policy.replans && policy != .table { fixed[policy] = try planCost(policy, at: first) }
        var moments: [(Double, [SimulationPolicy: Double])] = []
        var time = first.timeSeconds
        while time < trace.durationSeconds {
            let sample = trace.sample(at: time)
            var delays: [SimulationPolicy: Double] = [:]
            for policy in policies {
                let cost = try fixed[policy] ?? planCost(policy, at: sample)
                delays[policy] = cost.delay(sample, defaultRTT: settings.defaultRTTSeconds)
            }
            moments.append((time, delays))
            time += settings.replanEverySeconds
        }
        return moments
    }
}
