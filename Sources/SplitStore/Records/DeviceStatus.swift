import Foundation
import SplitCore

/// One device as the dashboard lists it: its settings, the split in force and its age, the link
/// estimate, and what is wrong with it if anything. Read for a page of devices in one statement.
package struct DeviceStatus: Sendable, Equatable {
    package var id: String
    package var modelName: String
    package var modelVersion: Int?
    package var edgeServerID: String
    package var pushMode: PushMode
    package var active: Bool
    package var callbackURL: String?
    package var webhookEnabled: Bool
    /// The plan in force, if any.
    package var planID: Int64?
    package var planComputedAt: Date?
    package var planReason: String?
    package var cutLayers: [String]?
    package var predictedDelaySeconds: Double?
    /// The smoothed link estimate and the time of its newest sample.
    package var uplinkBitsPerSecond: Double?
    package var downlinkBitsPerSecond: Double?
    package var rttSeconds: Double?
    package var linkMeasuredAt: Date?
    package var linkSamples: Int?
    /// When no split fits: the least memory a valid split needs, and the limit.
    package var infeasibleRequiredBytes: Int64?
    package var memoryLimitBytes: Int64?
    /// Consecutive planning failures and the last one's reason.
    package var planningFailures: Int
    package var lastPlanningFailure: String?
    /// The delivery of the plan in force.
    package var deliveryStatus: String?
    package var deliveryAttempts: Int?
    package var deliveryError: String?
    /// An infeasible notice's delivery failed and is being retried.
    package var noticeFailing: Bool

    package init(
        id: String, modelName: String, modelVersion: Int? = nil, edgeServerID: String, pushMode: PushMode = .table, active: Bool = true,
        callbackURL: String? = nil, webhookEnabled: Bool = true
    ) {
        self.id = id
        self.modelName = modelName
        self.modelVersion = modelVersion
        self.edgeServerID = edgeServerID
        self.pushMode = pushMode
        self.active = active
        self.callbackURL = callbackURL
        self.webhookEnabled = webhookEnabled
        planningFailures = 0
        noticeFailing = false
    }

    /// Whether its webhooks are failing: the plan's delivery failed or died, a notice's failed, or
    /// the receiver answered 410 Gone (deliveries stopped).
    package var webhookFailing: Bool {
        deliveryStatus == "failed" || deliveryStatus == "dead" || noticeFailing || (callbackURL != nil && !webhookEnabled)
    }

    /// Every state that applies (`ok` alone when nothing is wrong), as the fleet table's filter
    /// selects them.
    package var states: [DeviceFilter.State] {
        var states: [DeviceFilter.State] = []
        if infeasibleRequiredBytes != nil { states.append(.infeasible) }
        if planningFailures > 0 { states.append(.failing) }
        if webhookFailing { states.append(.webhook) }
        if planID == nil { states.append(.unplanned) }
        return states.isEmpty ? [.ok] : states
    }
}
