import Foundation
import Logging
import SplitCore
import SplitStore

/// Plans one batch of devices inside one transaction: claim (SKIP LOCKED), plan, decide, store.
///
/// Whether a new plan replaces a device's current one is `ReplaceRule` (SplitCore). One device
/// that cannot be planned (its model conflicts with its raw-upload rule, or the database refuses
/// its row) never fails the batch: it is recorded with its reason and retried after a backoff
/// (`PlanRepository.recordFailures`), and the others are stored.
struct FleetPlanner: Sendable {
    struct Outcome: Sendable {
        var claimed = 0
        var stored = 0
        var failed = 0
        var solveSeconds: [Double] = []
    }

    let cache: ModelCache
    let rule: ReplaceRule
    let algorithm: PlanningAlgorithm
    let logger: Logger

    /// Plans up to `limit` devices on `connection` (which must not be in a transaction).
    func planBatch(limit: Int, connection: PostgresConnection) throws -> Outcome {
        try connection.transaction {
            let candidates = try PlanRepository.claimCandidates(limit: limit, connection: connection)
            var outcome = Outcome(claimed: candidates.count)
            var planners: [ObjectIdentifier: SplitPlanner] = [:]
            var plans: [NewPlan] = []
            var evaluations: [String: PlanEvaluation] = [:]
            var failures: [(deviceID: String, reason: String)] = []
            for candidate in candidates {
                do {
                    let model = try cache.prepared(for: candidate, connection: connection)
                    let planner = planners[ObjectIdentifier(model)] ?? SplitPlanner(model: model)
                    planners[ObjectIdentifier(model)] = planner
                    let decision = try decide(candidate, model: model, planner: planner, connection: connection)
                    outcome.solveSeconds.append(decision.plan.solveMicroseconds / 1e6)
                    if let newPlan = decision.store { plans.append(newPlan) }
                    evaluations[candidate.deviceID] = PlanEvaluation(
                        deviceID: candidate.deviceID, modelVersion: candidate.modelVersion, link: candidate.link,
                        deviceFLOPs: candidate.deviceFLOPs, splitFingerprint: decision.fingerprintInForce)
                } catch {
                    failures.append((candidate.deviceID, "\(error)"))
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
            try PlanRepository.recordEvaluations(Array(evaluations.values), connection: connection)
            try PlanRepository.recordFailures(failures, connection: connection)
            outcome.failed = failures.count
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

    struct Decision {
        var plan: Plan
        var store: NewPlan?
        var fingerprintInForce: String?
    }

    func decide(_ candidate: PlanningCandidate, model: PreparedModel, planner: SplitPlanner, connection: PostgresConnection) throws -> Decision {
        let conditions = PlanningConditions(
            batchSize: candidate.batchSize, deviceFLOPsPerSecond: candidate.deviceFLOPs, serverFLOPsPerSecond: candidate.serverFLOPs,
            uplinkBitsPerSecond: candidate.link.uplinkBitsPerSecond, downlinkBitsPerSecond: candidate.link.downlinkBitsPerSecond,
            rttSeconds: candidate.link.rttSeconds)
        var plan = try planner.plan(algorithm, conditions: conditions)
        if algorithm == .block, model.violation(of: plan.onDevice) != nil {
            plan = try planner.plan(.dag, conditions: conditions)  // defensive fallback; never expected
        }
        let fingerprint = SplitFingerprint.of(modelName: candidate.modelName, modelVersion: candidate.modelVersion, onDevice: plan.onDevice)
        let reason: PlanReason
        let current: ReplaceRule.Current
        if let plan = candidate.current, plan.modelVersion == candidate.modelVersion {
            reason = candidate.requestedReason ?? .telemetryChange
            if plan.splitFingerprint == fingerprint {
                current = .valid(fingerprint: fingerprint, delaySeconds: 0)
            } else if let delay = try currentDelay(plan, candidate: candidate, model: model, conditions: conditions, connection: connection) {
                current = .valid(fingerprint: plan.splitFingerprint ?? "", delaySeconds: delay)
            } else {
                current = .invalid
            }
        } else {
            reason = candidate.current == nil ? (candidate.requestedReason ?? .newDevice) : .modelChange
            current = candidate.current == nil ? .none : .invalid
        }
        guard rule.replaces(current, candidateFingerprint: fingerprint, candidateDelaySeconds: plan.delaySeconds) else {
            return Decision(plan: plan, store: nil, fingerprintInForce: candidate.current?.splitFingerprint)
        }
        let names = model.graph.layerNames
        let store = NewPlan(
            deviceID: candidate.deviceID, modelName: candidate.modelName, modelVersion: candidate.modelVersion,
            algorithm: plan.algorithm.rawValue, conditions: conditions, deviceLayers: plan.deviceLayers.map { names[$0] },
            cutLayers: plan.cutLayers.map { names[$0] }, splitFingerprint: fingerprint, predictedDelaySeconds: plan.delaySeconds, transferBytes: plan.transferBytes,
            breakdown: plan.breakdown, solveMicroseconds: plan.solveMicroseconds, reason: reason, deliver: candidate.deliverable)
        return Decision(plan: plan, store: store, fingerprintInForce: fingerprint)
    }

    /// The current split's delay under the new conditions; nil when it is no longer a valid split.
    private func currentDelay(_ current: PlanningCandidate.CurrentPlan, candidate: PlanningCandidate, model: PreparedModel,
                              conditions: PlanningConditions, connection: PostgresConnection) throws -> Double? {
        // Only the link moved: price the stored compute and bytes at the new rates, no lookup.
        if candidate.requestedReason == nil || candidate.requestedReason == .telemetryChange,
           let delay = current.delay(uplink: conditions.uplinkBitsPerSecond, downlink: conditions.downlinkBitsPerSecond,
                                     rtt: conditions.rttSeconds, deviceFLOPs: conditions.deviceFLOPsPerSecond,
                                     serverFLOPs: conditions.serverFLOPsPerSecond, batchSize: conditions.batchSize) {
            return delay
        }
        // Something else changed: evaluate the stored split layer by layer.
        guard let stored = try PlanRepository.plan(id: current.id, connection: connection) else { return nil }
        var onDevice = [Bool](repeating: false, count: model.graph.count)
        for name in stored.deviceLayers {
            guard let index = model.graph.index(of: name) else { return nil }
            onDevice[index] = true
        }
        return try? model.plan(forSplit: onDevice, conditions: conditions).delaySeconds
    }
}
