import Foundation

/// The fleet at a glance, from aggregate queries (never a row per device): devices by model, the
/// splits in force, and how many devices are in each state an operator acts on.
package struct FleetOverview: Sendable, Equatable {
    /// Active devices by model, most devices first.
    package struct ModelCount: Sendable, Equatable {
        package var model: String
        package var devices: Int

        package init(model: String, devices: Int) {
            self.model = model
            self.devices = devices
        }
    }

    /// One split in force and how many active devices run it.
    package struct SplitInForce: Sendable, Equatable {
        package var model: String
        package var modelVersion: Int
        package var cutLayers: [String]
        package var devices: Int
        /// Mean predicted delay of one training iteration over those devices' plans.
        package var meanPredictedDelaySeconds: Double
        /// One plan of this split in force, to link to its picture.
        package var examplePlanID: Int64

        package init(model: String, modelVersion: Int, cutLayers: [String], devices: Int, meanPredictedDelaySeconds: Double, examplePlanID: Int64) {
            self.model = model
            self.modelVersion = modelVersion
            self.cutLayers = cutLayers
            self.devices = devices
            self.meanPredictedDelaySeconds = meanPredictedDelaySeconds
            self.examplePlanID = examplePlanID
        }
    }

    package var activeDevices = 0
    /// Active devices with a plan in force.
    package var plannedDevices = 0
    /// Active devices no split of their model fits.
    package var infeasibleDevices = 0
    /// Active devices whose last planning attempts failed (retried with backoff).
    package var failingDevices = 0
    /// Active devices with a failed or dead webhook delivery, or whose receiver answered 410 Gone.
    package var webhookFailingDevices = 0
    package var models: [ModelCount] = []
    /// The most used splits in force (at most 20).
    package var splits: [SplitInForce] = []

    package init() {}
}
