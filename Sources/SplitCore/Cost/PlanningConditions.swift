/// The hardware and network conditions one plan is computed for.
public struct PlanningConditions: Sendable, Equatable, Hashable {
    /// Samples per training iteration.
    public var batchSize: Int
    /// Device compute throughput, FLOP/s.
    public var deviceFLOPsPerSecond: Double
    /// Edge-server compute throughput, FLOP/s.
    public var serverFLOPsPerSecond: Double
    /// Device → server rate, bit/s (activations go up).
    public var uplinkBitsPerSecond: Double
    /// Server → device rate, bit/s (gradients come back).
    public var downlinkBitsPerSecond: Double
    /// Round-trip time added once per iteration, seconds.
    public var rttSeconds: Double
    /// The optimizer the device trains with; only the device memory of a split depends on it.
    /// Adam by default: the most state per weight, so the default never underestimates memory.
    public var optimizer: Optimizer
    /// Device memory available for training, bytes, or nil for no limit. With a limit, `dag`,
    /// `block` and `brute` return the fastest split whose memory M(D) fits (`DeviceMemoryTerms`),
    /// or throw `PlanningError.deviceMemoryExceeded` with the least memory any valid split needs.
    public var deviceMemoryLimitBytes: Int64?

    /// Creates conditions; call `validate()` before planning with user-supplied values.
    public init(
        batchSize: Int, deviceFLOPsPerSecond: Double, serverFLOPsPerSecond: Double,
        uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double, rttSeconds: Double = 0,
        optimizer: Optimizer = .adam, deviceMemoryLimitBytes: Int64? = nil
    ) {
        self.batchSize = batchSize
        self.deviceFLOPsPerSecond = deviceFLOPsPerSecond
        self.serverFLOPsPerSecond = serverFLOPsPerSecond
        self.uplinkBitsPerSecond = uplinkBitsPerSecond
        self.downlinkBitsPerSecond = downlinkBitsPerSecond
        self.rttSeconds = rttSeconds
        self.optimizer = optimizer
        self.deviceMemoryLimitBytes = deviceMemoryLimitBytes
    }

    /// Throws `PlanningError.invalidParameter` naming the first value out of range.
    public func validate() throws {
        guard batchSize >= 1 && batchSize <= 1_000_000_000 else {
            throw PlanningError.invalidParameter(name: "batch", reason: "must be an integer between 1 and 1e9, got \(batchSize)")
        }
        let positive: [(String, Double)] = [
            ("device-flops", deviceFLOPsPerSecond), ("server-flops", serverFLOPsPerSecond),
            ("uplink", uplinkBitsPerSecond), ("downlink", downlinkBitsPerSecond),
        ]
        for (name, value) in positive where !(value.isFinite && value > 0) {
            throw PlanningError.invalidParameter(name: name, reason: "must be a finite number > 0, got \(value)")
        }
        guard rttSeconds.isFinite && rttSeconds >= 0 else {
            throw PlanningError.invalidParameter(name: "rtt", reason: "must be a finite number >= 0 seconds, got \(rttSeconds)")
        }
        if let limit = deviceMemoryLimitBytes, !(limit >= 1 && limit <= DeviceMemoryTerms.maximumTotalBytes) {
            throw PlanningError.invalidParameter(
                name: "device-memory", reason: "must be between 1 byte and \(DeviceMemoryTerms.maximumTotalBytes) bytes (9 PB), got \(limit)")
        }
    }
}
