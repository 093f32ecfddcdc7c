import Foundation

/// One webhook delivery as the dashboard shows it: a plan's push or an infeasible notice, where
/// it stands, and the receiver's last error.
package struct DeliveryRecord: Sendable, Equatable {
    /// The message id (`webhook-id`).
    package var id: String
    package var deviceID: String
    /// The plan pushed; nil for a notice.
    package var planID: Int64?
    /// For a notice: the least device memory a valid split needs, bytes.
    package var noticeRequiredBytes: Int64?
    /// pending, delivering, delivered, failed, dead or superseded.
    package var status: String
    package var attempts: Int
    package var lastStatusCode: Int?
    package var lastError: String?
    package var createdAt: Date
    package var nextAttemptAt: Date
    package var deliveredAt: Date?

    package init(
        id: String, deviceID: String, planID: Int64?, noticeRequiredBytes: Int64? = nil, status: String, attempts: Int, lastStatusCode: Int? = nil,
        lastError: String? = nil, createdAt: Date, nextAttemptAt: Date, deliveredAt: Date? = nil
    ) {
        self.id = id
        self.deviceID = deviceID
        self.planID = planID
        self.noticeRequiredBytes = noticeRequiredBytes
        self.status = status
        self.attempts = attempts
        self.lastStatusCode = lastStatusCode
        self.lastError = lastError
        self.createdAt = createdAt
        self.nextAttemptAt = nextAttemptAt
        self.deliveredAt = deliveredAt
    }
}
