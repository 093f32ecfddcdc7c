import Foundation

/// The JSON shape of a plan, shared by `splitctl plan --format json` and the HTTP API.
public struct PlanReport: Codable, Sendable, Equatable {
    /// `planned` (a split that fits); see `MemoryInfeasibleReport` for the other status.
    public var status = "planned"
    /// Planner used.
    public var algorithm: String
    /// Model name.
    public var model: String
    /// Number of layers in the model.
    public var layers: Int
    /// Predicted training delay of one iteration, seconds.
    public var delaySeconds: Double
    /// Names of device layers, topological order.
    public var deviceLayers: [String]
    /// Names of server layers, topological order.
    public var serverLayers: [String]
    /// Names of device layers whose output crosses to the server.
    public var cutLayers: [String]
    /// Bytes per iteration in one direction.
    public var transferBytes: Double
    /// Delay parts.
    public var breakdown: DelayBreakdown
    /// Planner wall time, microseconds.
    public var solveMicroseconds: Double
    /// Training memory M(D) of the device part, bytes.
    public var deviceMemoryBytes: Int64
    /// `true` when the device memory limit binds (the fastest split without it does not fit);
    /// absent otherwise.
    public var memoryBound: Bool?
    /// The conditions planned for.
    public var conditions: ConditionsReport

    /// The conditions part of a report: the conditions, and the raw-upload rule planned under.
    public typealias ConditionsReport = ReportedConditions<PlanningConditions>

    enum CodingKeys: String, CodingKey {
        case status, algorithm, model, layers, breakdown, conditions
        case deviceMemoryBytes = "device_memory_bytes"
        case memoryBound = "memory_bound"
        case delaySeconds = "delay_seconds"
        case deviceLayers = "device_layers"
        case serverLayers = "server_layers"
        case cutLayers = "cut_layers"
        case transferBytes = "transfer_bytes"
        case solveMicroseconds = "solve_microseconds"
    }

    /// Describes `plan` of `model` under `conditions`.
    public init(plan: Plan, model: PreparedModel, conditions: PlanningConditions) {
        let layers = model.graph.layers
        algorithm = plan.algorithm.rawValue
        self.model = model.graph.name
        self.layers = layers.count
        delaySeconds = plan.delaySeconds
        deviceLayers = plan.deviceLayers.map { layers[$0].name }
        serverLayers = plan.serverLayers.map { layers[$0].name }
        cutLayers = plan.cutLayers.map { layers[$0].name }
        transferBytes = plan.transferBytes
        breakdown = plan.breakdown
        solveMicroseconds = plan.solveMicroseconds
        deviceMemoryBytes = plan.deviceMemoryBytes
        memoryBound = plan.memoryBound ? true : nil
        self.conditions = ConditionsReport(conditions: conditions, allowRawUpload: model.rules.allowRawUpload)
    }

    /// Compact JSON with sorted keys.
    public func jsonData() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try! encoder.encode(self)
    }
}

/// The JSON shape of "no valid split fits the device memory limit" (`splitctl plan --format json`
/// exits 1 with this on stdout; the HTTP API can send the same body).
public struct MemoryInfeasibleReport: Codable, Sendable, Equatable {
    /// Always `infeasible`.
    public var status = "infeasible"
    /// Always `device_memory`: the limit is what no split meets.
    public var reason = "device_memory"
    /// Planner asked.
    public var algorithm: String
    /// Model name.
    public var model: String
    /// The least memory any valid split needs, bytes (exact).
    public var requiredDeviceMemoryBytes: Int64
    /// The limit, bytes.
    public var deviceMemoryLimitBytes: Int64
    /// One line for people.
    public var message: String
    /// The conditions planned for.
    public var conditions: PlanReport.ConditionsReport

    enum CodingKeys: String, CodingKey {
        case status, reason, algorithm, model, message, conditions
        case requiredDeviceMemoryBytes = "required_device_memory_bytes"
        case deviceMemoryLimitBytes = "device_memory_limit_bytes"
    }

    /// Describes `PlanningError.deviceMemoryExceeded(requiredBytes, limitBytes)` for `model`.
    public init(requiredBytes: Int64, limitBytes: Int64, algorithm: PlanningAlgorithm, model: PreparedModel, conditions: PlanningConditions) {
        self.algorithm = algorithm.rawValue
        self.model = model.graph.name
        requiredDeviceMemoryBytes = requiredBytes
        deviceMemoryLimitBytes = limitBytes
        message = PlanningError.deviceMemoryExceeded(requiredBytes: requiredBytes, limitBytes: limitBytes).description
        self.conditions = PlanReport.ConditionsReport(conditions: conditions, allowRawUpload: model.rules.allowRawUpload)
    }

    /// Compact JSON with sorted keys.
    public func jsonData() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try! encoder.encode(self)
    }
}
