import Foundation

/// A better split a device did not move to because moving would not pay: the saving per training
/// iteration, the time the move's migration (weights and optimizer state) would take, and why it
/// was refused. Recorded by the planner in `refused_moves` (a schema this version may not have
/// yet; see `DashboardRepository.refusedMoves`).
package struct RefusedMove: Sendable, Equatable {
    package var deviceID: String
    package var recordedAt: Date
    /// Seconds per iteration the better split would have saved.
    package var savingSecondsPerIteration: Double?
    /// Seconds the migration to it would have cost.
    package var migrationSeconds: Double?
    package var reason: String?
    /// The cut layers of the split that was refused, when recorded.
    package var cutLayers: [String]?

    package init(
        deviceID: String, recordedAt: Date, savingSecondsPerIteration: Double?, migrationSeconds: Double?, reason: String?,
        cutLayers: [String]? = nil
    ) {
        self.deviceID = deviceID
        self.recordedAt = recordedAt
        self.savingSecondsPerIteration = savingSecondsPerIteration
        self.migrationSeconds = migrationSeconds
        self.reason = reason
        self.cutLayers = cutLayers
    }
}
