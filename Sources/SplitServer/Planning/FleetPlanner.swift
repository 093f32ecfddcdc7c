import Foundation
import Logging
import SplitCore
import SplitStore

/// Plans one batch of devices inside one transaction: claim (SKIP LOCKED), plan, decide, store.
///
/// For each device: its plan table (the exact optimal split for every link rate of its compute
/// side, under its memory limit), the table's split for its current link, and whether to move to
/// it: `SwitchingRule` (SplitCore), the same rule the simulator and the device-side client apply,
/// with the migration priced (`SplitMigration`). A plan is stored when the device's split changes,
/// or (devices that take tables) when its table changes; it is pushed when the device would not
/// know it otherwise: a new table for `table` devices, a new split for `split` devices.
///
/// One device that cannot be planned never fails the batch: it is recorded with its reason and
/// retried after a backoff (`PlanRepository.recordFailures`); a device no split fits is recorded
/// as infeasible with the memory it needs (its current plan, which it can no longer run, ends).
package struct FleetPlanner: Sendable {
    package struct Outcome: Sendable {
        var claimed = 0
        var stored = 0
        var failed = 0
        var infeasible = 0
        var solveSeconds: [Double] = []
        /// Where the claim left the planning queue (nil: it claimed nothing).
        var position: QueuePosition?
    }

    let cache: ModelCache
    let tables: TableCache
    let rule: SwitchingRule
    let algorithm: PlanningAlgorithm
    let logger: Logger

    package init(cache: ModelCache, tables: TableCache, rule: SwitchingRule, algorithm: PlanningAlgorithm, logger: Logger) {
        self.cache = cache
        self.tables = tables
        self.rule = rule
        self.algorithm = algorithm
        self.logger = logger
    }

    /// What planning one candidate found before the current split is known.
    private struct Evaluation {
        var candidate: PlanningCandidate
        var model: PreparedModel
        var conditions: PlanningConditions
        var table: TableCache.Entry
        var plan: Plan
        var split: SegmentSplit
    }

    /// A table segment's split under one compute side, with what every device given it shares:
    /// its plan (priced for the first such device; others reprice the link terms), fingerprint
    /// and layer names. A batch of a large fleet has few.
    private struct SegmentSplit {
        var plan: Plan
        var fingerprint: String
        var deviceLayerNames: [String]
        var cutLayerNames: [String]
        var cutModules: [String]
    }

    private struct SegmentKey: Hashable {
        let model: ObjectIdentifier
        let conditions: ComputeConditions
        let segment: Int
    }

    /// Plans up to `limit` devices on `connection` (which must not be in a transaction), claimed
    /// from the planning queue behind `position` (see `PlanRepository.claimCandidates`).
    func planBatch(limit: Int, after position: QueuePosition? = nil, connection: PostgresConnection) throws -> Outcome {
        try connection.transaction {
            let candidates = try PlanRepository.claimCandidates(limit: limit, after: position, connection: connection)
            var outcome = Outcome(claimed: candidates.count, position: candidates.last?.claim.position)
            var planners: [ObjectIdentifier: SplitPlanner] = [:]
            var segments: [SegmentKey: SegmentSplit] = [:]
            var evaluated: [Evaluation] = []
            var failures: [(candidate: PlanningCandidate, reason: String)] = []
            var infeasible: [(deviceID: String, requiredBytes: Int64)] = []
            var notices: [InfeasibleNotice] = []
            for candidate in candidates {
                do {
                    let model = try cache.prepared(for: candidate, connection: connection)
                    let planner = planners[ObjectIdentifier(model)] ?? SplitPlanner(model: model)
                    planners[ObjectIdentifier(model)] = planner
                    let evaluation = try evaluate(candidate, model: model, planner: planner, segments: &segments)
                    outcome.solveSeconds.append(evaluation.plan.solveMicroseconds / 1e6)
                    evaluated.append(evaluation)
                } catch PlanningError.deviceMemoryExceeded(let required, let limit) {
                    infeasible.append((candidate.deviceID, required))
                    // Told when it becomes infeasible, or the memory it needs changes (once feasible
                    // again, its next plan is pushed like a first one).
                    if candidate.deliverable && candidate.claim.infeasibleRequiredBytes != required {
                        notices.append(
                            InfeasibleNotice(
                                deviceID: candidate.deviceID, modelName: candidate.modelName, modelVersion: candidate.modelVersion,
                                requiredBytes: required, limitBytes: limit))
                    }
                    logger.warning(
                        "no split fits the device's memory",
                        metadata: [
                            "device": "\(candidate.deviceID)", "required_bytes": "\(required)", "limit_bytes": "\(limit)",
                        ])
                } catch {
                    failures.append((candidate, "\(error)"))
                }
            }
            // The current splits of devices whose best split is another one, in one query.
            let currentPlanIDs = evaluated.compactMap { evaluation -> Int64? in
                guard let current = evaluation.candidate.current, current.modelVersion == evaluation.candidate.modelVersion,
                    current.splitFingerprint != evaluation.split.fingerprint
                else { return nil }
                return current.id
            }
            let currentLayers = try PlanRepository.deviceLayers(planIDs: currentPlanIDs, connection: connection)
            var plans: [NewPlan] = []
            var planned: [PlanningCandidate] = []  // the candidate of each plan
            for evaluation in evaluated {
                do {
                    if let newPlan = try decide(evaluation, currentLayers: evaluation.candidate.current.flatMap { currentLayers[$0.id] }) {
                        plans.append(newPlan)
                        planned.append(evaluation.candidate)
                    }
                } catch {
                    failures.append((evaluation.candidate, "\(error)"))
                }
            }
            let refused = try store(plans, connection: connection)
            for failed in refused {
                failures.append((planned[failed.index], failed.reason))
            }
            for failure in failures {
                logger.warning(
                    "cannot plan device; retried after a backoff",
                    metadata: [
                        "device": "\(failure.candidate.deviceID)",
                        "error": "\(failure.reason)",
                    ])
            }
            // The claim recorded every evaluation; what went differently is recorded here.
            try PlanRepository.endPlans(deviceIDs: infeasible.map(\.deviceID), connection: connection)
            try PlanRepository.recordInfeasible(infeasible, connection: connection)
            try DeliveryRepository.enqueueNotices(notices, connection: connection)
            try PlanRepository.recordFailures(failures, connection: connection)
            outcome.failed = failures.count
            outcome.infeasible = infeasible.count
            outcome.stored = plans.count - refused.count
            return outcome
        }
    }

    /// Stores the plans together; if the database refuses the batch, stores them one by one so
    /// a plan it refuses fails only its own device. Returns the plans that failed, by index.
    private func store(_ plans: [NewPlan], connection: PostgresConnection) throws -> [(index: Int, reason: String)] {
        guard !plans.isEmpty else { return [] }
        do {
            try connection.transaction { _ = try PlanRepository.store(plans, connection: connection) }
            return []
        } catch  where !connection.isBroken {
            var failed: [(index: Int, reason: String)] = []
            for (index, plan) in plans.enumerated() {
                do {
                    try connection.transaction { _ = try PlanRepository.store([plan], connection: connection) }
                } catch  where !connection.isBroken {
                    failed.append((index, "storing the plan failed: \(error)"))
                }
            }
            return failed
        }
    }

    /// The torch module of each of `layers` ("" where the graph names none; empty when it names none at all).
    static func modules(of layers: [Int], in graph: ModelGraph) -> [String] {
        guard layers.contains(where: { graph.layers[$0].module != nil }) else { return [] }
        return layers.map { graph.layers[$0].module ?? "" }
    }

    /// The conditions a candidate is planned for.
    static func conditions(_ candidate: PlanningCandidate) -> PlanningConditions {
        PlanningConditions(
            batchSize: candidate.batchSize, deviceFLOPsPerSecond: candidate.deviceFLOPs, serverFLOPsPerSecond: candidate.serverFLOPs,
            uplinkBitsPerSecond: candidate.link.uplinkBitsPerSecond, downlinkBitsPerSecond: candidate.link.downlinkBitsPerSecond,
            rttSeconds: candidate.link.rttSeconds, optimizer: candidate.optimizer, deviceMemoryLimitBytes: candidate.memoryLimitBytes)
    }

    /// The candidate's table and the optimal split for its current link: the table's split (the
    /// table is exact for every rate, so no planner runs per device). Whether the memory limit
    /// binds is read off the table without the limit.
    private func evaluate(
        _ candidate: PlanningCandidate, model: PreparedModel, planner: SplitPlanner,
        segments: inout [SegmentKey: SegmentSplit]
    ) throws -> Evaluation {
        let started = DispatchTime.now()
        let conditions = Self.conditions(candidate)
        try conditions.validate()
        let table = try tables.table(model: model, conditions: conditions, planner: planner, algorithm: algorithm)
        let rate = PlanTable.effectiveBitsPerSecond(
            uplinkBitsPerSecond: conditions.uplinkBitsPerSecond,
            downlinkBitsPerSecond: conditions.downlinkBitsPerSecond)
        let index = table.table.segmentIndex(forEffectiveBitsPerSecond: rate)
        var compute = ComputeConditions(conditions)
        compute.rttSeconds = 0
        let key = SegmentKey(model: ObjectIdentifier(model), conditions: compute, segment: index)
        let split: SegmentSplit
        if let shared = segments[key] {
            split = shared
        } else {
            var plan = try model.plan(
                forSplit: table.table.segments[index].onDevice(layerCount: model.graph.count), conditions: conditions,
                algorithm: algorithm)
            plan.memoryBound = false
            let names = model.graph.layerNames
            split = SegmentSplit(
                plan: plan,
                fingerprint: SplitFingerprint.of(
                    modelName: candidate.modelName, modelVersion: candidate.modelVersion,
                    onDevice: plan.onDevice),
                deviceLayerNames: plan.deviceLayers.map { names[$0] }, cutLayerNames: plan.cutLayers.map { names[$0] },
                cutModules: Self.modules(of: plan.cutLayers, in: model.graph))
            segments[key] = split
        }
        var plan = split.plan.repriced(
            uplinkBitsPerSecond: conditions.uplinkBitsPerSecond, downlinkBitsPerSecond: conditions.downlinkBitsPerSecond,
            rttSeconds: conditions.rttSeconds)
        if conditions.deviceMemoryLimitBytes != nil {
            // Bound when the fastest split without the limit (at these rates) is faster.
            var unlimited = conditions
            unlimited.deviceMemoryLimitBytes = nil
            let fastest = try tables.table(model: model, conditions: unlimited, planner: planner, algorithm: algorithm).table
            let fastestSeconds = fastest.segments[fastest.segmentIndex(forEffectiveBitsPerSecond: rate)]
                .delaySeconds(uplinkBitsPerSecond: conditions.uplinkBitsPerSecond, downlinkBitsPerSecond: conditions.downlinkBitsPerSecond)
            plan.memoryBound = plan.delaySeconds - conditions.rttSeconds > fastestSeconds * (1 + SplitPlanner.memoryBoundTolerance)
        }
        plan.solveMicroseconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e3
        return Evaluation(candidate: candidate, model: model, conditions: conditions, table: table, plan: plan, split: split)
    }

    /// The plan to store for the evaluated device (nil: it keeps its plan), which says whether the
    /// device moves to the evaluated split and whether the plan is pushed. `currentLayers` are the
    /// device layers of its current split when it differs from the new one.
    private func decide(_ evaluation: Evaluation, currentLayers: [String]?) throws -> NewPlan? {
        let candidate = evaluation.candidate, model = evaluation.model, conditions = evaluation.conditions
        var runs = evaluation.plan  // the split the device will run after this evaluation
        var fingerprint = evaluation.split.fingerprint
        var keepsCurrent = false
        let reason: PlanReason
        var switched = true
        if let current = candidate.current, current.modelVersion == candidate.modelVersion {
            reason = candidate.requestedReason ?? .telemetryChange
            if current.splitFingerprint == evaluation.split.fingerprint {
                switched = false
            } else if let currentPlan = try currentPlan(current, layers: currentLayers, model: model, conditions: conditions) {
                let migration = SplitMigration(
                    from: currentPlan.onDevice, to: evaluation.plan.onDevice, graph: model.graph,
                    optimizer: candidate.optimizer)
                switched = rule.shouldSwitch(
                    currentSeconds: currentPlan.delaySeconds, candidateSeconds: evaluation.plan.delaySeconds,
                    migrationSeconds: migration.seconds(
                        uplinkBitsPerSecond: conditions.uplinkBitsPerSecond,
                        downlinkBitsPerSecond: conditions.downlinkBitsPerSecond))
                if !switched {
                    runs = currentPlan
                    keepsCurrent = true
                    fingerprint = current.splitFingerprint ?? fingerprint
                }
            }
            // else: the current split can no longer run here (a rule or the memory limit): switch.
        } else {
            reason = candidate.current == nil ? (candidate.requestedReason ?? .newDevice) : .modelChange
        }
        let tableChanged = candidate.current?.tableDigest != evaluation.table.digest
        let store = switched || (candidate.pushMode == .table && tableChanged)
        guard store else { return nil }
        let pushed = candidate.pushMode == .split ? switched : tableChanged
        let names = model.graph.layerNames
        var newPlan = NewPlan(
            deviceID: candidate.deviceID, modelName: candidate.modelName, modelVersion: candidate.modelVersion,
            algorithm: runs.algorithm.rawValue, conditions: conditions,
            deviceLayers: keepsCurrent ? runs.deviceLayers.map { names[$0] } : evaluation.split.deviceLayerNames,
            cutLayers: keepsCurrent ? runs.cutLayers.map { names[$0] } : evaluation.split.cutLayerNames, splitFingerprint: fingerprint,
            predictedDelaySeconds: runs.delaySeconds,
            transferBytes: runs.transferBytes, breakdown: runs.breakdown, solveMicroseconds: evaluation.plan.solveMicroseconds, reason: reason,
            deliver: candidate.deliverable && pushed)
        newPlan.deliverable = candidate.deliverable
        newPlan.cutModules = keepsCurrent ? Self.modules(of: runs.cutLayers, in: model.graph) : evaluation.split.cutModules
        newPlan.table = (evaluation.table.document, evaluation.table.digest)
        newPlan.deviceMemoryBytes = runs.deviceMemoryBytes
        newPlan.memoryBound = runs.memoryBound
        newPlan.firstPlan = !candidate.evaluatedBefore && candidate.current == nil
        return newPlan
    }

    /// The current split priced under the new conditions; nil when it can no longer run (a layer
    /// is gone, it breaks a placement rule, or it needs more memory than the limit).
    private func currentPlan(
        _ current: PlanningCandidate.CurrentPlan, layers: [String]?, model: PreparedModel,
        conditions: PlanningConditions
    ) throws -> Plan? {
        guard let layers else { return nil }
        var onDevice = [Bool](repeating: false, count: model.graph.count)
        for name in layers {
            guard let index = model.graph.index(of: name) else { return nil }
            onDevice[index] = true
        }
        return try? model.plan(forSplit: onDevice, conditions: conditions)
    }
}
