import Foundation

/// What an infeasible device is told (`split_plan.infeasible`): no split of its model fits its
/// memory, the least memory a valid split needs, and the limit it was planned under.
package struct InfeasibleNotice: Sendable, Equatable {
    package var deviceID: String
    package var modelName: String
    package var modelVersion: Int
    /// The least device memory any valid split of the model needs, bytes.
    package var requiredBytes: Int64
    /// The limit it was evaluated under (registered or reported, whichever is smaller), bytes.
    package var limitBytes: Int64?

    package init(deviceID: String, modelName: String, modelVersion: Int, requiredBytes: Int64, limitBytes: Int64?) {
        self.deviceID = deviceID
        self.modelName = modelName
        self.modelVersion = modelVersion
        self.requiredBytes = requiredBytes
        self.limitBytes = limitBytes
    }
}
