import Foundation
import SplitCore

/// A device as registered.
package struct Device: Sendable, Equatable {
    package var id: String
    package var modelName: String
    /// Pinned model version, or nil to follow the latest.
    package var modelVersion: Int?
    package var edgeServerID: String
    package var batchSize: Int
    package var computeFLOPs: Double
    package var memoryBytes: Int64?
    package var allowRawUpload: Bool
    package var callbackURL: String?
    /// The optimizer it trains with (its training memory; what moves when its split changes).
    package var optimizer: Optimizer
    /// What it wants pushed: a table per compute-side change, or each split change.
    package var pushMode: PushMode
    /// Its own switching rule, or nil for the daemon's (`SPLITD_SWITCHING`).
    package var switching: SwitchingPolicy?
    package var webhookEnabled: Bool
    package var active: Bool
    package var createdAt: Date
    package var updatedAt: Date
}

/// What an operator sends to register or change a device.
package struct DeviceSettings: Sendable, Equatable {
    package var modelName: String
    package var modelVersion: Int?
    package var edgeServerID: String
    package var batchSize: Int
    package var computeFLOPs: Double
    package var memoryBytes: Int64?
    package var allowRawUpload: Bool
    package var callbackURL: String?
    package var optimizer: Optimizer
    package var pushMode: PushMode
    /// Its own switching rule, or nil for the daemon's.
    package var switching: SwitchingPolicy?

    package init(
        modelName: String, modelVersion: Int? = nil, edgeServerID: String, batchSize: Int, computeFLOPs: Double,
        memoryBytes: Int64? = nil, allowRawUpload: Bool = false, callbackURL: String? = nil,
        optimizer: Optimizer = .adam, pushMode: PushMode = .table, switching: SwitchingPolicy? = nil
    ) {
        self.modelName = modelName
        self.modelVersion = modelVersion
        self.edgeServerID = edgeServerID
        self.batchSize = batchSize
        self.computeFLOPs = computeFLOPs
        self.memoryBytes = memoryBytes
        self.allowRawUpload = allowRawUpload
        self.callbackURL = callbackURL
        self.optimizer = optimizer
        self.pushMode = pushMode
        self.switching = switching
    }
}
