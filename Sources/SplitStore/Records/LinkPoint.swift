import Foundation

/// A device's reported link over one interval of its timeline: the mean of the telemetry samples
/// measured in it.
package struct LinkPoint: Sendable, Equatable {
    /// The first sample's measurement time.
    package var measuredAt: Date
    package var uplinkBitsPerSecond: Double
    package var downlinkBitsPerSecond: Double
    package var rttSeconds: Double
    /// Samples averaged into this point.
    package var samples: Int

    package init(measuredAt: Date, uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double, rttSeconds: Double, samples: Int) {
        self.measuredAt = measuredAt
        self.uplinkBitsPerSecond = uplinkBitsPerSecond
        self.downlinkBitsPerSecond = downlinkBitsPerSecond
        self.rttSeconds = rttSeconds
        self.samples = samples
    }
}
