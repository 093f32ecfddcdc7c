import Foundation

/// A better split the switching rule did not move to, and why (`refused_moves`): written by the
/// planner, read by the dashboard and by SQL.
package struct RefusedMove: Sendable, Equatable {
    package var deviceID: String
    package var recordedAt: Date
    /// The rule's reason (`SwitchDecision.Reason`: `not yet paid for`, `below minimum gain`, `horizon too short`).
    package var reason: String
    /// The rule that decided (`payback` or `horizon`).
    package var rule: String
    /// Predicted seconds per iteration of the split in use and of the better one, at the rates planned for.
    package var currentSeconds: Double
    package var candidateSeconds: Double
    /// Seconds the move would take, the savings accrued towards it and those the rule asks for.
    package var migrationSeconds: Double
    package var accruedSavingSeconds: Double
    package var requiredSavingSeconds: Double
    /// When the device is evaluated again because the savings would pay then (payback), if ever.
    package var revisitAt: Date?
    /// The better split's cut layers.
    package var candidateCutLayers: [String]

    /// Seconds per iteration the better split would have saved.
    package var savingSecondsPerIteration: Double { currentSeconds - candidateSeconds }

    package init(
        deviceID: String, recordedAt: Date, reason: String, rule: String, currentSeconds: Double, candidateSeconds: Double, migrationSeconds: Double,
        accruedSavingSeconds: Double, requiredSavingSeconds: Double, revisitAt: Date?, candidateCutLayers: [String]
    ) {
        self.deviceID = deviceID
        self.recordedAt = recordedAt
        self.reason = reason
        self.rule = rule
        self.currentSeconds = currentSeconds
        self.candidateSeconds = candidateSeconds
        self.migrationSeconds = migrationSeconds
        self.accruedSavingSeconds = accruedSavingSeconds
        self.requiredSavingSeconds = requiredSavingSeconds
        self.revisitAt = revisitAt
        self.candidateCutLayers = candidateCutLayers
    }
}

/// What the switching rule keeps for a device between evaluations (`planning_state`).
package struct SwitchingStateRecord: Sendable, Equatable {
    package var deviceID: String
    /// Accrued savings per segment of the table `tableDigest` (empty: none).
    package var accruedSavingSeconds: [Double]
    package var tableDigest: String?
    /// When to evaluate the device again although its link has not moved.
    package var revisitAt: Date?

    package init(deviceID: String, accruedSavingSeconds: [Double], tableDigest: String?, revisitAt: Date?) {
        self.deviceID = deviceID
        self.accruedSavingSeconds = accruedSavingSeconds
        self.tableDigest = tableDigest
        self.revisitAt = revisitAt
    }
}
