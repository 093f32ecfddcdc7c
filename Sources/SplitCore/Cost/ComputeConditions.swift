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
        self.init(
            batchSize: conditions.batchSize, deviceFLOPsPerSecond: conditions.deviceFLOPsPerSecond,
            serverFLOPsPerSecond: conditions.serverFLOPsPerSecond, rttSeconds: conditions.rttSeconds)
        optimizer = conditions.optimizer
        deviceMemoryLimitBytes = conditions.deviceMemoryLimitBytes
    }

    /// Full conditions at the given rates.
    public func conditions(uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double) -> PlanningConditions {
        PlanningConditions(
            batchSize: batchSize, deviceFLOPsPerSecond: deviceFLOPsPerSecond, serverFLOPsPerSecond: serverFLOPsPerSecond,
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

/// The JSON shape of compute-side conditions: the keys of `PlanningConditions` without the rates.
extension ComputeConditions: Codable {
    enum CodingKeys: String, CodingKey {
        case batchSize = "batch_size"
        case deviceFLOPsPerSecond = "device_flops"
        case serverFLOPsPerSecond = "server_flops"
        case rttSeconds = "rtt_seconds"
        case optimizer
        case deviceMemoryLimitBytes = "device_memory_limit_bytes"
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            batchSize: try container.decode(Int.self, forKey: .batchSize),
            deviceFLOPsPerSecond: try container.decode(Double.self, forKey: .deviceFLOPsPerSecond),
            serverFLOPsPerSecond: try container.decode(Double.self, forKey: .serverFLOPsPerSecond),
            rttSeconds: try container.decode(Double.self, forKey: .rttSeconds))
        optimizer = try container.decodeIfPresent(Optimizer.self, forKey: .optimizer) ?? .adam
        deviceMemoryLimitBytes = try container.decodeIfPresent(Int64.self, forKey: .deviceMemoryLimitBytes)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(batchSize, forKey: .batchSize)
        try container.encode(deviceFLOPsPerSecond, forKey: .deviceFLOPsPerSecond)
        try container.encode(serverFLOPsPerSecond, forKey: .serverFLOPsPerSecond)
        try container.encode(rttSeconds, forKey: .rttSeconds)
        try container.encode(optimizer, forKey: .optimizer)
        try container.encodeIfPresent(deviceMemoryLimitBytes, forKey: .deviceMemoryLimitBytes)
    }
}

/// Conditions as reports print them: the conditions' own keys and `allow_raw_upload` (the
/// placement rule planned under), flat in one object. One shape for plan and table reports.
public struct ReportedConditions<Base: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    /// The conditions.
    public var conditions: Base
    /// Whether layers reading model inputs directly were allowed on the server.
    public var allowRawUpload: Bool

    enum CodingKeys: String, CodingKey { case allowRawUpload = "allow_raw_upload" }

    /// Describes `conditions` planned with `allowRawUpload`.
    public init(conditions: Base, allowRawUpload: Bool) {
        self.conditions = conditions
        self.allowRawUpload = allowRawUpload
    }

    public init(from decoder: Decoder) throws {
        conditions = try Base(from: decoder)
        allowRawUpload = try decoder.container(keyedBy: CodingKeys.self).decode(Bool.self, forKey: .allowRawUpload)
    }

    public func encode(to encoder: Encoder) throws {
        try conditions.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(allowRawUpload, forKey: .allowRawUpload)
    }
}
