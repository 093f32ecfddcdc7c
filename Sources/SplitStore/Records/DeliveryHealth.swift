import Foundation

/// The webhook outbox at a glance: deliveries by status, how old the oldest unfinished one is,
/// the latest failures with the receivers' errors, and the receiving hosts that fail.
package struct DeliveryHealth: Sendable, Equatable {
    /// Receivers on one host with failed or dead deliveries.
    package struct FailingHost: Sendable, Equatable {
        /// The callback URLs' host (`(none)` when a device has no callback URL any more).
        package var host: String
        package var deliveries: Int
        package var devices: Int
        /// The most recent error from that host.
        package var lastError: String?

        package init(host: String, deliveries: Int, devices: Int, lastError: String?) {
            self.host = host
            self.deliveries = deliveries
            self.devices = devices
            self.lastError = lastError
        }
    }

    /// Deliveries in the outbox by status (finished ones until retention trims them).
    package var countsByStatus: [String: Int] = [:]
    /// The creation time of the oldest pending or failed (to be retried) delivery.
    package var oldestUnfinishedAt: Date?
    /// Pending or failed deliveries whose next attempt is due now.
    package var due = 0
    /// Active devices whose receiver answered 410 Gone (nothing more is sent to them).
    package var disabledReceivers = 0
    /// Failed and dead deliveries, most recently attempted first.
    package var recentFailures: [DeliveryRecord] = []
    package var failingHosts: [FailingHost] = []

    package init() {}
}
