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

    /// Creates conditions; call `validate()` before planning with user-supplied values.
    public init(
        batchSize: Int, deviceFLOPsPerSecond: Double, serverFLOPsPerSecond: Double,
        uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double, rttSeconds: Double = 0
    ) {
        self.batchSize = batchSize
        self.deviceFLOPsPerSecond = deviceFLOPsPerSecond
        self.serverFLOPsPerSecond = serverFLOPsPerSecond
        self.uplinkBitsPerSecond = uplinkBitsPerSecond
        self.downlinkBitsPerSecond = downlinkBitsPerSecond
        self.rttSeconds = rttSeconds
    }

    /// Throws `PlanningError.invalidParameter` naming the first value outside `Limits`.
    public func validate() throws {
        guard batchSize >= 1 && batchSize <= Int(Limits.batchSize.bounds.upperBound) else {
            throw PlanningError.invalidParameter(.batchSize, reason: Limits.batchSize.violation(Double(batchSize)) ?? "out of range")
        }
        let checks: [(PlanningParameter, Double, ValueRange)] = [
            (.deviceFLOPs, deviceFLOPsPerSecond, Limits.computeThroughput), (.serverFLOPs, serverFLOPsPerSecond, Limits.computeThroughput),
            (.uplink, uplinkBitsPerSecond, Limits.linkRate), (.downlink, downlinkBitsPerSecond, Limits.linkRate), (.rtt, rttSeconds, Limits.rtt),
        ]
        for (parameter, value, range) in checks {
            if let violation = range.violation(value) { throw PlanningError.invalidParameter(parameter, reason: violation) }
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
    }

    /// The JSON keys of the conditions.
    public static let jsonKeys: Set<String> = ["batch_size", "device_flops", "server_flops", "uplink_bps", "downlink_bps", "rtt_seconds"]

    /// Reads conditions from the members of `object` (`rtt_seconds` optional, default 0), each
    /// checked against `Limits` with the field named.
    public init(json object: JSONObject) throws {
        self.init(
            batchSize: try object.requiredInteger("batch_size", within: 1...Int(Limits.batchSize.bounds.upperBound)),
            deviceFLOPsPerSecond: try object.requiredNumber("device_flops", within: Limits.computeThroughput),
            serverFLOPsPerSecond: try object.requiredNumber("server_flops", within: Limits.computeThroughput),
            uplinkBitsPerSecond: try object.requiredNumber("uplink_bps", within: Limits.linkRate),
            downlinkBitsPerSecond: try object.requiredNumber("downlink_bps", within: Limits.linkRate),
            rttSeconds: try object.number("rtt_seconds", within: Limits.rtt) ?? 0)
    }
}
