import Foundation

/// The JSON shape of a plan, shared by `splitctl plan --format json` and the HTTP API.
public struct PlanReport: Codable, Sendable, Equatable {
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
    /// The conditions planned for.
    public var conditions: ConditionsReport

    /// The conditions part of a report: the conditions, and the raw-upload rule planned under.
    public struct ConditionsReport: Codable, Sendable, Equatable {
        public var conditions: PlanningConditions
        public var allowRawUpload: Bool

        enum CodingKeys: String, CodingKey { case allowRawUpload = "allow_raw_upload" }

        public init(conditions: PlanningConditions, allowRawUpload: Bool) {
            self.conditions = conditions
            self.allowRawUpload = allowRawUpload
        }

        public init(from decoder: Decoder) throws {
            conditions = try PlanningConditions(from: decoder)
            allowRawUpload = try decoder.container(keyedBy: CodingKeys.self).decode(Bool.self, forKey: .allowRawUpload)
        }

        public func encode(to encoder: Encoder) throws {
            try conditions.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(allowRawUpload, forKey: .allowRawUpload)
        }
    }

    enum CodingKeys: String, CodingKey {
        case algorithm, model, layers, breakdown, conditions
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
        self.conditions = ConditionsReport(conditions: conditions, allowRawUpload: model.rules.allowRawUpload)
    }

    /// Compact JSON with sorted keys.
    public func jsonData() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try! encoder.encode(self)
    }
}
