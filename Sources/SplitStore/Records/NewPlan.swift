import SplitCore

/// A plan about to be stored.
package struct NewPlan: Sendable {
    package var deviceID: String
    package var modelName: String
    package var modelVersion: Int
    package var algorithm: String
    package var conditions: PlanningConditions
    package var deviceLayers: [String]
    package var cutLayers: [String]
    /// The torch module of each cut layer ("" where the graph names none); empty when the graph
    /// has no modules at all.
    package var cutModules: [String] = []
    /// `SplitFingerprint` of the split: plans of one batch with the same fingerprint
    /// share one `splits` row, found without comparing layer lists.
    package var splitFingerprint: String
    package var predictedDelaySeconds: Double
    package var transferBytes: Double
    package var breakdown: DelayBreakdown
    package var solveMicroseconds: Double
    package var reason: PlanReason
    /// Whether to enqueue a webhook delivery for it because it brings the device something new.
    package var deliver: Bool
    /// Whether the device can be pushed to (callback URL set, webhooks enabled). A plan that
    /// supersedes a delivery the device has not received yet is delivered even when `deliver` is
    /// false: the obligation carries over (`PlanRepository.store`).
    package var deliverable = false
    /// The table it came from: its document (`PlanTableReport` JSON) and that document's digest.
    package var table: (document: String, digest: String)?
    /// The device memory of its split, and whether the limit made it slower than the optimum.
    package var deviceMemoryBytes: Int64?
    package var memoryBound = false
    /// The caller knows that the device has no plan in force (it was never evaluated before), so
    /// storing this plan supersedes nothing and skips looking for one. Were the caller wrong, the
    /// unique index of the plans in force refuses the plan.
    package var firstPlan = false

    package init(
        deviceID: String, modelName: String, modelVersion: Int, algorithm: String, conditions: PlanningConditions,
        deviceLayers: [String], cutLayers: [String], splitFingerprint: String, predictedDelaySeconds: Double, transferBytes: Double,
        breakdown: DelayBreakdown, solveMicroseconds: Double, reason: PlanReason, deliver: Bool
    ) {
        self.deviceID = deviceID
        self.modelName = modelName
        self.modelVersion = modelVersion
        self.algorithm = algorithm
        self.conditions = conditions
        self.deviceLayers = deviceLayers
        self.cutLayers = cutLayers
        self.splitFingerprint = splitFingerprint
        self.predictedDelaySeconds = predictedDelaySeconds
        self.transferBytes = transferBytes
        self.breakdown = breakdown
        self.solveMicroseconds = solveMicroseconds
        self.reason = reason
        self.deliver = deliver
    }
}
