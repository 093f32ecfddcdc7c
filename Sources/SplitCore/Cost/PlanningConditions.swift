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
    /// Set by `PlanTable` on its probes: the lower envelope is exact over every rate in (0, ∞),
    /// so its search may probe rates beyond `Limits.linkRate` (any finite positive rate).
    var isTableProbe = false

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

    /// Throws `PlanningError.invalidParameter` naming the first value outside `Limits`.
    public func validate() throws {
        guard batchSize >= 1 && batchSize <= Int(Limits.batchSize.bounds.upperBound) else {
            throw PlanningError.invalidParameter(.batchSize, reason: Limits.batchSize.violation(Double(batchSize)) ?? "out of range")
        }
        let checks: [(PlanningParameter, Double, ValueRange)] = [
            (.deviceFLOPs, deviceFLOPsPerSecond, Limits.computeThroughput), (.serverFLOPs, serverFLOPsPerSecond, Limits.computeThroughput),
            (.uplink, uplinkBitsPerSecond, isTableProbe ? Limits.anyPositive : Limits.linkRate),
            (.downlink, downlinkBitsPerSecond, isTableProbe ? Limits.anyPositive : Limits.linkRate), (.rtt, rttSeconds, Limits.rtt),
        ]
        for (parameter, value, range) in checks {
            if let violation = range.violation(value) { throw PlanningError.invalidParameter(parameter, reason: violation) }
        }
        if let limit = deviceMemoryLimitBytes, !(limit >= 1 && limit <= DeviceMemoryTerms.maximumTotalBytes) {
            throw PlanningError.invalidParameter(
                .deviceMemory, reason: "must be between 1 byte and \(DeviceMemoryTerms.maximumTotalBytes) bytes (9 PB), got \(limit)")
        }
    }
}

/// The planning inputs a `PlanningError.invalidParameter` can name. Each surface says them in its
/// own words (a CLI flag, a JSON field); the core names them neutrally.
public enum PlanningParameter: String, Sendable, CaseIterable {
    case batchSize = "batch size"
    case deviceFLOPs = "device compute throughput"
    case serverFLOPs = "server compute throughput"
    case uplink = "uplink rate"
    case downlink = "downlink rate"
    case rtt = "round-trip time"
    case replanInterval = "re-planning interval"
    case deviceMemory = "device memory limit"
    case switchHorizon = "switching horizon"
    case minimumGain = "minimum gain"
    case paybackFactor = "payback factor"
    case smoothing = "smoothing time constant"
    case telemetryInterval = "telemetry interval"
}

/// The JSON shape of conditions, the same in every document that carries them (plan reports,
/// the HTTP API's plan inputs and stateless planning requests).
extension PlanningConditions: Codable {
    enum CodingKeys: String, CodingKey {
        case batchSize = "batch_size"
        case deviceFLOPsPerSecond = "device_flops"
        case serverFLOPsPerSecond = "server_flops"
        case uplinkBitsPerSecond = "uplink_bps"
        case downlinkBitsPerSecond = "downlink_bps"
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
            uplinkBitsPerSecond: try container.decode(Double.self, forKey: .uplinkBitsPerSecond),
            downlinkBitsPerSecond: try container.decode(Double.self, forKey: .downlinkBitsPerSecond),
            rttSeconds: try container.decode(Double.self, forKey: .rttSeconds),
            optimizer: try container.decodeIfPresent(Optimizer.self, forKey: .optimizer) ?? .adam,
            deviceMemoryLimitBytes: try container.decodeIfPresent(Int64.self, forKey: .deviceMemoryLimitBytes))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(batchSize, forKey: .batchSize)
        try container.encode(deviceFLOPsPerSecond, forKey: .deviceFLOPsPerSecond)
        try container.encode(serverFLOPsPerSecond, forKey: .serverFLOPsPerSecond)
        try container.encode(uplinkBitsPerSecond, forKey: .uplinkBitsPerSecond)
        try container.encode(downlinkBitsPerSecond, forKey: .downlinkBitsPerSecond)
        try container.encode(rttSeconds, forKey: .rttSeconds)
        try container.encode(optimizer, forKey: .optimizer)
        try container.encodeIfPresent(deviceMemoryLimitBytes, forKey: .deviceMemoryLimitBytes)
    }

    /// The JSON keys of the conditions.
    public static let jsonKeys: Set<String> = [
        "batch_size", "device_flops", "server_flops", "uplink_bps", "downlink_bps", "rtt_seconds", "optimizer", "device_memory_limit_bytes",
    ]

    /// Reads conditions from the members of `object` (`rtt_seconds` optional, default 0), each
    /// checked against `Limits` with the field named.
    public init(json object: JSONObject) throws {
        self.init(
            batchSize: try object.requiredInteger("batch_size", within: 1...Int(Limits.batchSize.bounds.upperBound)),
            deviceFLOPsPerSecond: try object.requiredNumber("device_flops", within: Limits.computeThroughput),
            serverFLOPsPerSecond: try object.requiredNumber("server_flops", within: Limits.computeThroughput),
            uplinkBitsPerSecond: try object.requiredNumber("uplink_bps", within: Limits.linkRate),
            downlinkBitsPerSecond: try object.requiredNumber("downlink_bps", within: Limits.linkRate),
            rttSeconds: try object.number("rtt_seconds", within: Limits.rtt) ?? 0,
            optimizer: try Self.optimizer(object),
            deviceMemoryLimitBytes: try object.number("device_memory_limit_bytes", within: Limits.deviceMemory).map { Int64($0) })
    }

    /// The `optimizer` field of `object` (default `adam`).
    public static func optimizer(_ object: JSONObject) throws -> Optimizer {
        guard let name = try object.string("optimizer", maximumLength: 32) else { return .adam }
        guard let optimizer = Optimizer(rawValue: name) else {
            throw JSONFieldError(
                field: object.field("optimizer"),
                "must be one of \(Optimizer.allCases.map(\.rawValue).joined(separator: ", ")), got '\(name)'")
        }
        return optimizer
    }
}
