/// The compute side of planning conditions: everything a plan depends on except the link rates.
///
/// Under the cost model a split's delay is `fixed + 8·transferBytes·(1/uplink + 1/downlink)`,
/// where `fixed` (device and server compute plus rtt) depends only on these values, so one
/// `PlanTable` computed for them answers every pair of rates.
public struct ComputeConditions: Sendable, Equatable, Hashable {
    /// Samples per training iteration.
    public var batchSize: Int
    /// Device compute throughput, FLOP/s.
    public var deviceFLOPsPerSecond: Double
    /// Edge-server compute throughput, FLOP/s.
    public var serverFLOPsPerSecond: Double
    /// Round-trip time added once per iteration, seconds (it moves every split's delay alike).
    public var rttSeconds: Double
    /// The optimizer the device trains with (its memory, and what a split change moves).
    public var optimizer: Optimizer = .adam
    /// Device memory available for training, bytes, or nil for no limit: a table under a limit
    /// holds only splits that fit (memory does not depend on the link).
    public var deviceMemoryLimitBytes: Int64?

    /// Creates compute-side conditions; call `validate()` before planning with user-supplied values.
    public init(batchSize: Int, deviceFLOPsPerSecond: Double, serverFLOPsPerSecond: Double, rttSeconds: Double = 0) {
        self.batchSize = batchSize
        self.deviceFLOPsPerSecond = deviceFLOPsPerSecond
        self.serverFLOPsPerSecond = serverFLOPsPerSecond
        self.rttSeconds = rttSeconds
    }

    /// The compute side of `conditions` (its rates dropped).
    public init(_ conditions: PlanningConditions) {
        self.init(batchSize: conditions.batchSize, deviceFLOPsPerSecond: conditions.deviceFLOPsPerSecond,
                  serverFLOPsPerSecond: conditions.serverFLOPsPerSecond, rttSeconds: conditions.rttSeconds)
        optimizer = conditions.optimizer
        deviceMemoryLimitBytes = conditions.deviceMemoryLimitBytes
    }

    /// Full conditions at the given rates.
    public func conditions(uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double) -> PlanningConditions {
        PlanningConditions(batchSize: batchSize, deviceFLOPsPerSecond: deviceFLOPsPerSecond, serverFLOPsPerSecond: serverFLOPsPerSecond,
                           uplinkBitsPerSecond: uplinkBitsPerSecond, downlinkBitsPerSecond: downlinkBitsPerSecond, rttSeconds: rttSeconds,
                           optimizer: optimizer, deviceMemoryLimitBytes: deviceMemoryLimitBytes)
    }

    /// Full conditions whose effective rate `1/(1/uplink + 1/downlink)` is exactly `effectiveBitsPerSecond`:
    /// uplink = downlink = 2R, and `1/(2R) + 1/(2R)` is `1/R` rounded once, as a power-of-two
    /// scaling commutes with rounding.
    public func conditions(effectiveBitsPerSecond: Double) -> PlanningConditions {
        conditions(uplinkBitsPerSecond: 2 * effectiveBitsPerSecond, downlinkBitsPerSecond: 2 * effectiveBitsPerSecond)
    }

    /// Throws `PlanningError.invalidParameter` naming the first value out of range.
    public func validate() throws {
        try conditions(uplinkBitsPerSecond: 1, downlinkBitsPerSecond: 1).validate()
    }
}
