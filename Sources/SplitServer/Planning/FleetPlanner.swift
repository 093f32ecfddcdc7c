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
        var fingerprint: String
    }

    /// Plans up to `limit` devices on `connection` (which must not be in a transaction).
    func planBatch(limit: Int, connection: PostgresConnection) throws -> Outcome {
        try connection.transaction {
            let candidates = try PlanRepository.claimCandidates(limit: limit, connection: connection)
            var outcome = Outcome(claimed: candidates.count)
            var planners: [ObjectIdentifier: SplitPlanner] = [:]
            var evaluated: [Evaluation] = []
            var evaluations: [String: PlanEvaluation] = [:]
            var failures: [(deviceID: String, reason: String)] = []
            var infeasible: [String] = []
            for candidate in candidates {
                do {
                    let model = try cache.prepared(for: candidate, connection: connection)
                    let planner = planners[ObjectIdentifier(model)] ?? SplitPlanner(model: model)
                    planners[ObjectIdentifier(model)] = planner
                    let evaluation = try evaluate(candidate, model: model, planner: planner)
                    outcome.solveSeconds.append(evaluation.plan.solveMicroseconds / 1e6)
                    evaluated.append(evaluation)
                } catch PlanningError.deviceMemoryExceeded(let required, let limit) {
                    infeasible.append(candidate.deviceID)
                    evaluations[candidate.deviceID] = PlanEvaluation(
                        deviceID: candidate.deviceID, modelVersion: candidate.modelVersion, link: candidate.link,
                        deviceFLOPs: candidate.deviceFLOPs, splitFingerprint: nil, infeasibleRequiredBytes: required)
                    logger.warning("no split fits the device's memory", metadata: [
                        "device": "\(candidate.deviceID)", "required_bytes": "\(required)", "limit_bytes": "\(limit)"])
                } catch {
                    failures.append((candidate.deviceID, "\(error)"))
                }
            }
            // The current splits of devices whose best split is another one, in one query.
            let currentPlanIDs = evaluated.compactMap { evaluation -> Int64? in
                guard let current = evaluation.candidate.current, current.modelVersion == evaluation.candidate.modelVersion,
                      current.splitFingerprint != evaluation.fingerprint else { return nil }
                return current.id
            }
            let currentLayers = try PlanRepository.deviceLayers(planIDs: currentPlanIDs, connection: connection)
            var plans: [NewPlan] = []
            for evaluation in evaluated {
                do {
                    let decision = try decide(evaluation, currentLayers: evaluation.candidate.current.flatMap { currentLayers[$0.id] })
                    if let newPlan = decision.store { plans.append(newPlan) }
                    evaluations[evaluation.candidate.deviceID] = PlanEvaluation(
                        deviceID: evaluation.candidate.deviceID, modelVersion: evaluation.candidate.modelVersion, link: evaluation.candidate.link,
                        deviceFLOPs: evaluation.candidate.deviceFLOPs, splitFingerprint: decision.fingerprintInForce)
                } catch {
                    failures.append((evaluation.candidate.deviceID, "\(error)"))
                }
            }
            let refused = try store(plans, connection: connection)
            for failed in refused {
                evaluations[failed.deviceID] = nil
                failures.append(failed)
            }
            for failure in failures {
                logger.warning("cannot plan device; retried after a backoff", metadata: ["device": "\(failure.deviceID)", "error": "\(failure.reason)"])
            }
            try PlanRepository.endPlans(deviceIDs: infeasible, connection: connection)
            try PlanRepository.recordEvaluations(Array(evaluations.values), connection: connection)
            try PlanRepository.recordFailures(failures, connection: connection)
            outcome.failed = failures.count
            outcome.infeasible = infeasible.count
            outcome.stored = plans.count - refused.count
            return outcome
        }
    }

    /// Stores the plans together; if the database refuses the batch, stores them one by one so
    /// a plan it refuses fails only its own device. Returns the devices whose plan failed.
    private func store(_ plans: [NewPlan], connection: PostgresConnection) throws -> [(deviceID: String, reason: String)] {
        guard !plans.isEmpty else { return [] }
        do {
            try connection.transaction { _ = try PlanRepository.store(plans, connection: connection) }
            return []
        } catch where !connection.isBroken {
            var failed: [(deviceID: String, reason: String)] = []
            for plan in plans {
                do {
                    try connection.transaction { _ = try PlanRepository.store([plan], connection: connection) }
                } catch where !connection.isBroken {
                    failed.append((plan.deviceID, "storing the plan failed: \(error)"))
                }
            }
            return failed
        }
    }

    /// The conditions a candidate is planned for.
    static func conditions(_ candidate: PlanningCandidate) -> PlanningConditions {
        PlanningConditions(
            batchSize: candidate.batchSize, deviceFLOPsPerSecond: candidate.deviceFLOPs, serverFLOPsPerSecond: candidate.serverFLOPs,
            uplinkBitsPerSecond: candidate.link.uplinkBitsPerSecond, downlinkBitsPerSecond: candidate.link.downlinkBitsPerSecond,
            rttSeconds: candidate.link.rttSeconds, optimizer: candidate.optimizer, deviceMemoryLimitBytes: candidate.memoryLimitBytes)
    }

    /// The candidate's table and the optimal split for its current link (the table's split).
    private func evaluate(_ candidate: PlanningCandidate, model: PreparedModel, planner: SplitPlanner) throws -> Evaluation {
        let conditions = Self.conditions(candidate)
        let table = try tables.table(model: model, conditions: conditions, planner: planner, algorithm: algorithm)
        var plan = try planner.plan(algorithm, conditions: conditions)
        // The table's split for these rates is optimal like the planner's; when the two differ
        // (a tie), the table's is the one a device holding the table runs, so it is the one stored.
        let tableSplit = table.table.segment(forUplink: conditions.uplinkBitsPerSecond, downlink: conditions.downlinkBitsPerSecond)
            .onDevice(layerCount: model.graph.count)
        if tableSplit != plan.onDevice {
            let bound = plan.memoryBound, solve = plan.solveMicroseconds
            plan = try model.plan(forSplit: tableSplit, conditions: conditions, algorithm: plan.algorithm)
            plan.memoryBound = bound
            plan.solveMicroseconds = solve
        }
        let fingerprint = SplitFingerprint.of(modelName: candidate.modelName, modelVersion: candidate.modelVersion, onDevice: plan.onDevice)
        return Evaluation(candidate: candidate, model: model, conditions: conditions, table: table, plan: plan, fingerprint: fingerprint)
    }

    struct Decision {
        var store: NewPlan?
        var fingerprintInForce: String?
    }

    /// Whether the device moves to the evaluated split (and whether a plan is stored and pushed).
    /// `currentLayers` are the device layers of its current split when it differs from the new one.
    private func decide(_ evaluation: Evaluation, currentLayers: [String]?) throws -> Decision {
        let candidate = evaluation.candidate, model = evaluation.model, conditions = evaluation.conditions
        var runs = evaluation.plan  // the split the device will run after this evaluation
        var fingerprint = evaluation.fingerprint
        let reason: PlanReason
        var switched = true
        if let current = candidate.current, current.modelVersion == candidate.modelVersion {
            reason = candidate.requestedReason ?? .telemetryChange
            if current.splitFingerprint == evaluation.fingerprint {
                switched = false
            } else if let currentPlan = try currentPlan(current, layers: currentLayers, model: model, conditions: conditions) {
                let migration = SplitMigration(from: currentPlan.onDevice, to: evaluation.plan.onDevice, graph: model.graph, optimizer: candidate.optimizer)
                switched = rule.shouldSwitch(
                    currentSeconds: currentPlan.delaySeconds, candidateSeconds: evaluation.plan.delaySeconds,
                    migrationSeconds: migration.seconds(uplinkBitsPerSecond: conditions.uplinkBitsPerSecond,
                                                        downlinkBitsPerSecond: conditions.downlinkBitsPerSecond))
                if !switched {
                    runs = currentPlan
                    fingerprint = current.splitFingerprint ?? fingerprint
                }
            }
            // else: the current split can no longer run here (a rule or the memory limit): switch.
        } else {
            reason = candidate.current == nil ? (candidate.requestedReason ?? .newDevice) : .modelChange
        }
        let tableChanged = candidate.current?.tableDigest != evaluation.table.digest
        let store = switched || (candidate.pushMode == .table && tableChanged)
        guard store else { return Decision(store: nil, fingerprintInForce: candidate.current?.splitFingerprint) }
        let pushed = candidate.pushMode == .split ? switched : tableChanged
        let names = model.graph.layerNames
        var newPlan = NewPlan(
            deviceID: candidate.deviceID, modelName: candidate.modelName, modelVersion: candidate.modelVersion,
            algorithm: runs.algorithm.rawValue, conditions: conditions, deviceLayers: runs.deviceLayers.map { names[$0] },
            cutLayers: runs.cutLayers.map { names[$0] }, splitFingerprint: fingerprint, predictedDelaySeconds: runs.delaySeconds,
            transferBytes: runs.transferBytes, breakdown: runs.breakdown, solveMicroseconds: evaluation.plan.solveMicroseconds, reason: reason,
            deliver: candidate.deliverable && pushed)
        newPlan.table = (evaluation.table.document, evaluation.table.digest)
        newPlan.deviceMemoryBytes = runs.deviceMemoryBytes
        newPlan.memoryBound = runs.memoryBound
        return Decision(store: newPlan, fingerprintInForce: fingerprint)
    }

    /// The current split priced under the new conditions; nil when it can no longer run (a layer
    /// is gone, it breaks a placement rule, or it needs more memory than the limit).
    private func currentPlan(_ current: PlanningCandidate.CurrentPlan, layers: [String]?, model: PreparedModel,
                             conditions: PlanningConditions) throws -> Plan? {
        guard let layers else { return nil }
        var onDevice = [Bool](repeating: false, count: model.graph.count)
        for name in layers {
            guard let index = model.graph.index(of: name) else { return nil }
            onDevice[index] = true
        }
        return try? model.plan(forSplit: onDevice, conditions: conditions)
    }
}
