import Foundation
import Logging
import SplitCore
import SplitStore

/// Plans one batch of devices inside one transaction: claim (SKIP LOCKED), plan, decide, store.
///
/// For each device: its plan table (the exact optimal split for every link rate of its compute
/// side, under its memory limit), then the daemon's decision, made in SplitCore by the same code
/// the simulator's `daemon` policy runs (`DevicePlanningSettings.evaluate`): the switching rule
/// (the device's own or the daemon's; payback by default) folds in the training since the last
/// evaluation and says whether to move to a better segment of the table, pricing the migration
/// (`SplitMigration`); a refusal is recorded with its reason (`refused_moves`) and the rule's
/// state with the planning state. Whether a plan is stored and pushed is `PlanDelivery.decide`: a
/// plan when the split changes or (devices that take tables) the table changes; a push when the
/// device would not know otherwise.
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
    /// The daemon's estimator, thresholds and default switching rule (a device may choose its rule).
    let settings: DevicePlanningSettings
    let algorithm: PlanningAlgorithm
    let logger: Logger
    let metrics: ServerMetrics?

    package init(
        cache: ModelCache, tables: TableCache, settings: DevicePlanningSettings, algorithm: PlanningAlgorithm, logger: Logger,
        metrics: ServerMetrics? = nil
    ) {
        self.cache = cache
        self.tables = tables
        self.settings = settings
        self.algorithm = algorithm
        self.logger = logger
        self.metrics = metrics
    }

    /// What planning one candidate found before the current split is known: its table, the table's
    /// segment for its link and every segment's split fingerprint.
    private struct Evaluation {
        var candidate: PlanningCandidate
        var model: PreparedModel
        var conditions: PlanningConditions
        var planner: SplitPlanner
        var table: TableCache.Entry
        var best: Int
        var fingerprints: [String]
        var solveMicroseconds: Double
    }

    /// What deciding for one device produced.
    private struct Decision {
        var plan: NewPlan?
        var state: SwitchingStateRecord?
        var refusal: RefusedMove?
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
            var fingerprints: [String: [String]] = [:]  // by table digest, model and version
            var evaluated: [Evaluation] = []
            var failures: [(candidate: PlanningCandidate, reason: String)] = []
            var infeasible: [(deviceID: String, requiredBytes: Int64)] = []
            var notices: [InfeasibleNotice] = []
            for candidate in candidates {
                do {
                    let model = try cache.prepared(for: candidate, connection: connection)
                    let planner = planners[ObjectIdentifier(model)] ?? SplitPlanner(model: model)
                    planners[ObjectIdentifier(model)] = planner
                    let evaluation = try evaluate(candidate, model: model, planner: planner, fingerprints: &fingerprints)
                    outcome.solveSeconds.append(evaluation.solveMicroseconds / 1e6)
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
            // The current splits of devices running none of their table's segments, in one query.
            let currentPlanIDs = evaluated.compactMap { evaluation -> Int64? in
                guard let current = evaluation.candidate.current, current.modelVersion == evaluation.candidate.modelVersion,
                    !evaluation.fingerprints.contains(current.splitFingerprint ?? "")
                else { return nil }
                return current.id
            }
            let currentLayers = try PlanRepository.deviceLayers(planIDs: currentPlanIDs, connection: connection)
            var plans: [NewPlan] = []
            var planned: [PlanningCandidate] = []  // the candidate of each plan
            var states: [SwitchingStateRecord] = []
            var refusals: [RefusedMove] = []
            let now = Date()
            for evaluation in evaluated {
                do {
                    let decision = try decide(
                        evaluation, currentLayers: evaluation.candidate.current.flatMap { currentLayers[$0.id] }, now: now,
                        segments: &segments)
                    if let newPlan = decision.plan {
                        plans.append(newPlan)
                        planned.append(evaluation.candidate)
                    }
                    if let state = decision.state { states.append(state) }
                    if let refusal = decision.refusal { refusals.append(refusal) }
                } catch {
                    failures.append((evaluation.candidate, "\(error)"))
                }
            }
            try PlanRepository.recordSwitchingStates(states, connection: connection)
            try PlanRepository.recordRefusals(refusals, connection: connection)
            for refusal in refusals { metrics?.refusedMove(reason: refusal.reason) }
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

    /// The candidate's table (exact for every rate, so no planner runs per device), the table's
    /// segment for its current link, and each segment's split fingerprint (cached per table).
    private func evaluate(
        _ candidate: PlanningCandidate, model: PreparedModel, planner: SplitPlanner, fingerprints cache: inout [String: [String]]
    ) throws -> Evaluation {
        let started = DispatchTime.now()
        let conditions = Self.conditions(candidate)
        try conditions.validate()
        let table = try tables.table(model: model, conditions: conditions, planner: planner, algorithm: algorithm)
        let rate = PlanTable.effectiveBitsPerSecond(
            uplinkBitsPerSecond: conditions.uplinkBitsPerSecond,
            downlinkBitsPerSecond: conditions.downlinkBitsPerSecond)
        let key = "\(table.digest)\u{0}\(candidate.modelName)\u{0}\(candidate.modelVersion)"
        let fingerprints =
            cache[key]
            ?? table.table.segments.map {
                SplitFingerprint.of(
                    modelName: candidate.modelName, modelVersion: candidate.modelVersion, onDevice: $0.onDevice(layerCount: model.graph.count))
            }
        cache[key] = fingerprints
        return Evaluation(
            candidate: candidate, model: model, conditions: conditions, planner: planner, table: table,
            best: table.table.segmentIndex(forEffectiveBitsPerSecond: rate),
            fingerprints: fingerprints, solveMicroseconds: Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e3)
    }

    /// Segment `index` of the candidate's table as a split priced for the candidate's link (its
    /// plan shared by the batch's devices with the same compute side), with whether the memory
    /// limit made it slower than the fastest split without the limit.
    private func segmentPlan(
        _ index: Int, of evaluation: Evaluation, segments: inout [SegmentKey: SegmentSplit]
    ) throws -> (plan: Plan, split: SegmentSplit) {
        let model = evaluation.model, conditions = evaluation.conditions
        var compute = ComputeConditions(conditions)
        compute.rttSeconds = 0
        let key = SegmentKey(model: ObjectIdentifier(model), conditions: compute, segment: index)
        let split: SegmentSplit
        if let shared = segments[key] {
            split = shared
        } else {
            var plan = try model.plan(
                forSplit: evaluation.table.table.segments[index].onDevice(layerCount: model.graph.count), conditions: conditions,
                algorithm: algorithm)
            plan.memoryBound = false
            let names = model.graph.layerNames
            split = SegmentSplit(
                plan: plan, fingerprint: evaluation.fingerprints[index],
                deviceLayerNames: plan.deviceLayers.map { names[$0] }, cutLayerNames: plan.cutLayers.map { names[$0] },
                cutModules: Self.modules(of: plan.cutLayers, in: model.graph))
            segments[key] = split
        }
        var plan = split.plan.repriced(
            uplinkBitsPerSecond: conditions.uplinkBitsPerSecond, downlinkBitsPerSecond: conditions.downlinkBitsPerSecond,
            rttSeconds: conditions.rttSeconds)
        plan.memoryBound = try memoryBound(plan, of: evaluation)
        plan.solveMicroseconds = evaluation.solveMicroseconds
        return (plan, split)
    }

    /// Whether the memory limit makes `plan` slower than the fastest split without it, at these rates.
    private func memoryBound(_ plan: Plan, of evaluation: Evaluation) throws -> Bool {
        let conditions = evaluation.conditions
        guard conditions.deviceMemoryLimitBytes != nil else { return false }
        var unlimited = conditions
        unlimited.deviceMemoryLimitBytes = nil
        let fastest = try tables.table(model: evaluation.model, conditions: unlimited, planner: evaluation.planner, algorithm: algorithm).table
        let rate = PlanTable.effectiveBitsPerSecond(
            uplinkBitsPerSecond: conditions.uplinkBitsPerSecond, downlinkBitsPerSecond: conditions.downlinkBitsPerSecond)
        let fastestSeconds = fastest.segments[fastest.segmentIndex(forEffectiveBitsPerSecond: rate)]
            .delaySeconds(uplinkBitsPerSecond: conditions.uplinkBitsPerSecond, downlinkBitsPerSecond: conditions.downlinkBitsPerSecond)
        return plan.delaySeconds - conditions.rttSeconds > fastestSeconds * (1 + SplitPlanner.memoryBoundTolerance)
    }

    /// The decision for an evaluated device: `DevicePlanningSettings.evaluate` (SplitCore) over its
    /// table with the split it runs now, the rule's state from its last evaluation, then
    /// `PlanDelivery.decide`. Returns the plan to store (nil: it keeps its plan), the rule's state
    /// to record (nil: unchanged and empty) and the refusal to record, if a better split was refused.
    /// `currentLayers` are the device layers of its current split when it is none of the table's.
    private func decide(
        _ evaluation: Evaluation, currentLayers: [String]?, now: Date, segments: inout [SegmentKey: SegmentSplit]
    ) throws -> Decision {
        let candidate = evaluation.candidate, model = evaluation.model, conditions = evaluation.conditions
        let table = evaluation.table.table
        var current = CurrentSplit.none
        var currentPlan: Plan?
        var currentOnDevice: [Bool]?
        let reason: PlanReason
        if let running = candidate.current, running.modelVersion == candidate.modelVersion {
            reason = candidate.requestedReason ?? .telemetryChange
            if let index = evaluation.fingerprints.firstIndex(of: running.splitFingerprint ?? "") {
                current = .segment(index)
                currentOnDevice = table.segments[index].onDevice(layerCount: model.graph.count)
            } else if let plan = try self.currentPlan(running, layers: currentLayers, model: model, conditions: conditions) {
                current = .other(SplitCost(plan))
                currentPlan = plan
                currentOnDevice = plan.onDevice
            } else {
                current = .invalidated  // a layer is gone, a placement rule or the memory limit breaks it
            }
        } else {
            reason = candidate.current == nil ? (candidate.requestedReason ?? .newDevice) : .modelChange
        }
        var device = settings
        device.switching = candidate.switching ?? settings.switching
        device.pushMode = candidate.pushMode
        var state = DevicePlanningState(estimate: candidate.link)
        if let previous = candidate.previous {
            state.evaluated = previous.link
            state.evaluatedAt = previous.at
            // Accrued savings are per segment of one table: another table starts afresh.
            if previous.switchingTable == evaluation.table.digest {
                state.switching = SwitchingState(accruedSavingSeconds: previous.accruedSavingSeconds)
            }
        }
        let hadState = !(candidate.previous?.accruedSavingSeconds.allSatisfy { $0 == 0 } ?? true)
        let decision = device.evaluate(table: table, current: current, now: now, state: &state) { to, up, down in
            guard let from = currentOnDevice else { return 0 }
            return SplitMigration(
                from: from, to: table.segments[to].onDevice(layerCount: model.graph.count), graph: model.graph, optimizer: candidate.optimizer
            ).seconds(uplinkBitsPerSecond: up, downlinkBitsPerSecond: down)
        }
        var result = Decision()
        if hadState || state.revisitAt != nil || state.switching.accruedSavingSeconds.contains(where: { $0 != 0 }) {
            result.state = SwitchingStateRecord(
                deviceID: candidate.deviceID, accruedSavingSeconds: state.switching.accruedSavingSeconds, tableDigest: evaluation.table.digest,
                revisitAt: state.revisitAt)
        }
        // The split the device runs after this evaluation.
        let runs: Plan
        let split: SegmentSplit?
        var switched = true
        if let target = decision.target {
            (runs, split) = try segmentPlan(target, of: evaluation, segments: &segments)
            if case .segment(let index) = current, index == target { switched = false }
        } else if case .segment(let index) = current {
            (runs, split) = try segmentPlan(index, of: evaluation, segments: &segments)
            switched = false
        } else if let currentPlan {
            var kept = currentPlan
            kept.memoryBound = try memoryBound(kept, of: evaluation)
            kept.solveMicroseconds = evaluation.solveMicroseconds
            (runs, split) = (kept, nil)
            switched = false
        } else {
            // Nothing runnable to stay on: the table's split for the link.
            (runs, split) = try segmentPlan(evaluation.best, of: evaluation, segments: &segments)
        }
        if decision.isRefusal {
            let candidateSplit = try segmentPlan(decision.candidate, of: evaluation, segments: &segments).split
            result.refusal = RefusedMove(
                deviceID: candidate.deviceID, recordedAt: now, reason: decision.reason.rawValue, rule: device.switching.name,
                currentSeconds: decision.currentSeconds, candidateSeconds: decision.candidateSeconds,
                migrationSeconds: decision.migrationSeconds, accruedSavingSeconds: decision.accruedSavingSeconds,
                requiredSavingSeconds: decision.requiredSavingSeconds, revisitAt: state.revisitAt, candidateCutLayers: candidateSplit.cutLayerNames)
        }
        let tableChanged = candidate.current?.tableDigest != evaluation.table.digest
        let delivery = PlanDelivery.decide(pushMode: candidate.pushMode, switched: switched, tableChanged: tableChanged)
        guard delivery.store else { return result }
        let names = model.graph.layerNames
        var newPlan = NewPlan(
            deviceID: candidate.deviceID, modelName: candidate.modelName, modelVersion: candidate.modelVersion,
            algorithm: runs.algorithm.rawValue, conditions: conditions,
            deviceLayers: split?.deviceLayerNames ?? runs.deviceLayers.map { names[$0] },
            cutLayers: split?.cutLayerNames ?? runs.cutLayers.map { names[$0] },
            splitFingerprint: split?.fingerprint ?? candidate.current?.splitFingerprint
                ?? SplitFingerprint.of(modelName: candidate.modelName, modelVersion: candidate.modelVersion, onDevice: runs.onDevice),
            predictedDelaySeconds: runs.delaySeconds, transferBytes: runs.transferBytes, breakdown: runs.breakdown,
            solveMicroseconds: evaluation.solveMicroseconds, reason: reason, deliver: candidate.deliverable && delivery.push)
        newPlan.deliverable = candidate.deliverable
        newPlan.cutModules = split?.cutModules ?? Self.modules(of: runs.cutLayers, in: model.graph)
        newPlan.table = (evaluation.table.document, evaluation.table.digest)
        newPlan.deviceMemoryBytes = runs.deviceMemoryBytes
        newPlan.memoryBound = runs.memoryBound
        newPlan.firstPlan = !candidate.evaluatedBefore && candidate.current == nil
        result.plan = newPlan
        return result
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
