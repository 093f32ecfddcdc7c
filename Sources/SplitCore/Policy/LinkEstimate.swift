import Foundation

/// One telemetry measurement of a device's link (and, optionally, its compute throughput).
public struct TelemetrySample: Sendable, Equatable {
    /// The device it was measured on.
    public var deviceID: String
    /// When it was measured.
    public var measuredAt: Date
    public var uplinkBitsPerSecond: Double
    public var downlinkBitsPerSecond: Double
    public var rttSeconds: Double
    public var computeFLOPs: Double?
    /// Device memory available for training now, bytes, when the device reports it.
    public var memoryBytes: Double?

    public init(
        deviceID: String, measuredAt: Date, uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double,
        rttSeconds: Double, computeFLOPs: Double? = nil, memoryBytes: Double? = nil
    ) {
        self.deviceID = deviceID
        self.measuredAt = measuredAt
        self.uplinkBitsPerSecond = uplinkBitsPerSecond
        self.downlinkBitsPerSecond = downlinkBitsPerSecond
        self.rttSeconds = rttSeconds
        self.computeFLOPs = computeFLOPs
        self.memoryBytes = memoryBytes
    }
}

/// The smoothed link of a device (see `LinkEstimator`): what plans are made for.
public struct LinkEstimate: Sendable, Equatable {
    /// The device.
    public var deviceID: String
    /// Smoothed device → server rate, bit/s.
    public var uplinkBitsPerSecond: Double
    /// Smoothed server → device rate, bit/s.
    public var downlinkBitsPerSecond: Double
    /// Smoothed round-trip time, seconds.
    public var rttSeconds: Double
    /// Smoothed measured device throughput, FLOP/s, when telemetry reports it.
    public var computeFLOPs: Double?
    /// The latest reported available memory, bytes (not smoothed: a limit holds as soon as it is known).
    public var memoryBytes: Double?
    /// Samples folded in so far.
    public var samples: Int
    /// Time of the latest sample folded in.
    public var measuredAt: Date

    /// Creates an estimate.
    public init(
        deviceID: String, uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double, rttSeconds: Double,
        computeFLOPs: Double?, memoryBytes: Double? = nil, samples: Int, measuredAt: Date
    ) {
        self.deviceID = deviceID
        self.uplinkBitsPerSecond = uplinkBitsPerSecond
        self.downlinkBitsPerSecond = downlinkBitsPerSecond
        self.rttSeconds = rttSeconds
        self.computeFLOPs = computeFLOPs
        self.memoryBytes = memoryBytes
        self.samples = samples
        self.measuredAt = measuredAt
    }
}
