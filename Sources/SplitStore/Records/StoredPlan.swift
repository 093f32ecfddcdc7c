import Foundation
import SplitCore

/// A plan row of the history.
package struct StoredPlan: Sendable, Equatable {
    package var id: Int64
    package var deviceID: String
    package var modelName: String
    package var modelVersion: Int
    package var computedAt: Date
    package var algorithm: String
    package var uplinkBitsPerSecond: Double
    package var downlinkBitsPerSecond: Double
    package var rttSeconds: Double
    package var deviceFLOPs: Double
    package var serverFLOPs: Double
    package var batchSize: Int
    package var deviceLayers: [String]
    package var cutLayers: [String]
    /// The torch module of each cut layer ("" for none); nil for splits stored before modules were.
    package var cutModules: [String]? = nil
    package var predictedDelaySeconds: Double
    /// Bytes per iteration, one direction.
    package var transferBytes: Double
    /// The predicted delay's parts.
    package var breakdown: DelayBreakdown
    package var solveMicroseconds: Double
    package var supersededAt: Date?
    package var reason: String
    /// The optimizer, memory limit and device memory it was planned with.
    package var optimizer: Optimizer?
    package var memoryLimitBytes: Int64?
    package var deviceMemoryBytes: Int64?
    package var memoryBound: Bool
    /// The plan table it came from (a `PlanTableReport` document), when it has one.
    package var tableJSON: String?
}
