import SplitCore

/// One request's telemetry, stored all-or-nothing; several may be stored in one transaction.
package struct TelemetryBatch: Sendable {
    /// The samples, in the order they were sent.
    package var samples: [TelemetrySample]
    /// With a device's token: its SHA-256 (hex), checked again in the transaction that stores the
    /// batch, so a token revoked meanwhile (on any replica) stores nothing.
    package var tokenHash: String?

    package init(samples: [TelemetrySample], tokenHash: String? = nil) {
        self.samples = samples
        self.tokenHash = tokenHash
    }
}

/// What became of one batch of a group.
package enum TelemetryBatchOutcome: Sendable, Equatable {
    /// Every sample was stored (the count).
    case stored(Int)
    /// Nothing was stored: a sample names an unknown or inactive device (the field says which).
    case refused(StoreError)
    /// Nothing was stored: the batch's token no longer belongs to its device, or the device was deactivated.
    case tokenRevoked
}
