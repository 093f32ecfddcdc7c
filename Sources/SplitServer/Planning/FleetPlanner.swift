import Foundation
import Logging
import SplitCore
import SplitStore

/// Plans one batch of devices inside one transaction: claim (SKIP LOCKED), plan, decide, store.
///
/// A new plan replaces the current one only if its split differs and it is predicted to be at
/// least `minimumGain` faster than the current split under the same, new conditions (so a link
/// wobbling around a switching point does not flap the split), or if the current plan became
/// invalid: a new model version, a device change that breaks it, or no plan yet.
struct FleetPlanner: Sendable {
    struct Outcome: Sendable {
        var claimed = 0
        var stored = 0
        var failed = 0
        var solveSeconds: [Double] = []
    }

    let cache: ModelCache
    let minimumGain: Double
    let algorithm: PlanningAlgorithm
    let logger: Logger

    /// Plans up to `limit` devices on `connection` (which must not be in a transaction).
    func planBatch(limit: Int, connection: PostgresConnection) throws -> Outcome {
        try connection.transaction {
            let candidates = try PlanRepository.claimCandidates(limit: limit, connection: connection)
            var outcome = Outcome(claimed: candidates.count)
            var planners: [ObjectIdentifier: SplitPlanner] = [:]
            var plans: [NewPlan] = []
            var evaluations: [PlanEvaluation] = []
            for candidate in candidates {
                do {
                    let model = try cache.prepared(for: candidate, connection: connection)
                    let planner = planners[ObjectIdentifier(model)] ?? SplitPlanner(model: model)
                    planners[ObjectIdentifier(model)] = planner
                    let decision = try decide(candidate, model: model, planner: planner, connection: connection)
                    outcome.solveSeconds.append(decision.plan.solveMicroseconds / 1e6)
                    if let newPlan = decision.store { plans.append(newPlan) }
                    evaluations.append(PlanEvaluation(deviceID: candidate.deviceID, modelVersion: candidate.modelVersion, link: candidate.link,
                                                      deviceFLOPs: candidate.deviceFLOPs, splitFingerprint: decision.fingerprintInForce))
                } catch {
                    // Record the evaluation anyway so a device that cannot be planned (say, its
                    // model conflicts with its raw-upload rule) is not retried every cycle.
                    outcome.failed += 1
                    logger.warning("cannot plan device", metadata: ["device": "\(candidate.deviceID)", "error": "\(error)"])
                    evaluations.append(PlanEvaluation(deviceID: candidate.deviceID, modelVersion: candidate.modelVersion, link: candidate.link,
                                                      deviceFLOPs: candidate.deviceFLOPs, splitFingerprint: candidate.current?.splitFingerprint))
                }
            }
            try PlanRepository.store(plans, connection: connection)
            try PlanRepository.recordEvaluations(evaluations, connection: connection)
            outcome.stored = plans.count
            return outcome
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
        let fingerprint = PlanRepository.fingerprint(modelName: candidate.modelName, modelVersion: candidate.modelVersion, onDevice: plan.onDevice)
        let reason: PlanReason
        var replace: Bool
        if let current = candidate.current, current.modelVersion == candidate.modelVersion {
            reason = candidate.requestedReason ?? .telemetryChange
            if current.splitFingerprint == fingerprint {
                replace = false
            } else if let oldDelay = try currentDelay(current, candidate: candidate, model: model, conditions: conditions, connection: connection) {
                replace = oldDelay.isInfinite || (oldDelay - plan.delaySeconds) >= minimumGain * oldDelay
            } else {
                replace = true  // the current split is no longer valid for this device
            }
        } else {
            reason = candidate.current == nil ? (candidate.requestedReason ?? .newDevice) : .modelChange
            replace = true
        }
        guard replace else { return Decision(plan: plan, store: nil, fingerprintInForce: candidate.current?.splitFingerprint) }
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
