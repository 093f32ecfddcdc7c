import Foundation

/// The JSON shape of a plan table, shared by `splitctl table --format json`, the daemon and the
/// device-side client:
///
/// ```json
/// {"model": "resnet50", "algorithm": "block",
///  "conditions": {"batch_size": 32, "device_flops": 1e11, "server_flops": 2e13, "rtt_seconds": 0.01, "allow_raw_upload": false},
///  "segments": [{"min_effective_bps": 0, "max_effective_bps": 1.2e6, "device_layers": [...], "cut_layers": [...],
///                "transfer_bytes": 131072, "fixed_seconds": 7.9}, ...],
///  "parameter_bytes": {"conv1": 37632, ...}}
/// ```
///
/// Segments are ordered by rate; the first's `min_effective_bps` is 0 and the last's
/// `max_effective_bps` is null. A segment's delay at rates (u, d) is
/// `fixed_seconds + 8·transfer_bytes·(1/u + 1/d)`. `parameter_bytes` lists every layer that can
/// change sides and has parameters, so a device can price a migration (`SplitMigration`) without
/// the model graph.
public struct PlanTableReport: Codable, Sendable, Equatable {
    /// Model name.
    public var model: String
    /// Planner the table was computed with.
    public var algorithm: String
    /// The compute side the table holds for.
    public var conditions: Conditions
    /// Segments in increasing order of effective rate.
    public var segments: [Segment]
    /// Parameter bytes of every free layer with parameters, by name.
    public var parameterBytes: [String: Double]

    /// The compute-side conditions of a table, and the raw-upload rule.
    public typealias Conditions = ReportedConditions<ComputeConditions>

    /// One segment, layers by name.
    public struct Segment: Codable, Sendable, Equatable {
        /// Lowest effective rate, bit/s (0 for the first segment).
        public var minEffectiveBitsPerSecond: Double
        /// Highest effective rate, bit/s; nil (JSON null) for the last, unbounded segment.
        public var maxEffectiveBitsPerSecond: Double?
        /// Names of device layers, topological order.
        public var deviceLayers: [String]
        /// Names of device layers whose output crosses to the server.
        public var cutLayers: [String]
        /// Bytes per iteration in one direction, batch included.
        public var transferBytes: Double
        /// Compute plus rtt per iteration, seconds.
        public var fixedSeconds: Double

        enum CodingKeys: String, CodingKey {
            case minEffectiveBitsPerSecond = "min_effective_bps"
            case maxEffectiveBitsPerSecond = "max_effective_bps"
            case deviceLayers = "device_layers"
            case cutLayers = "cut_layers"
            case transferBytes = "transfer_bytes"
            case fixedSeconds = "fixed_seconds"
        }

        /// Encodes every key, the unbounded maximum as an explicit null.
        public func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(minEffectiveBitsPerSecond, forKey: .minEffectiveBitsPerSecond)
            try container.encode(maxEffectiveBitsPerSecond, forKey: .maxEffectiveBitsPerSecond)
            try container.encode(deviceLayers, forKey: .deviceLayers)
            try container.encode(cutLayers, forKey: .cutLayers)
            try container.encode(transferBytes, forKey: .transferBytes)
            try container.encode(fixedSeconds, forKey: .fixedSeconds)
        }
    }

    enum CodingKeys: String, CodingKey {
        case model, algorithm, conditions, segments
        case parameterBytes = "parameter_bytes"
    }

    /// Describes `table` of `model`, computed with `algorithm`.
    public init(table: PlanTable, model: PreparedModel, algorithm: PlanningAlgorithm) {
        let layers = model.graph.layers
        self.model = model.graph.name
        self.algorithm = algorithm.rawValue
        conditions = Conditions(conditions: table.conditions, allowRawUpload: model.rules.allowRawUpload)
        segments = table.segments.map { segment in
            Segment(
                minEffectiveBitsPerSecond: segment.minEffectiveBitsPerSecond, maxEffectiveBitsPerSecond: segment.maxEffectiveBitsPerSecond,
                deviceLayers: segment.deviceLayers.map { layers[$0].name }, cutLayers: segment.cutLayers.map { layers[$0].name },
                transferBytes: segment.transferBytes, fixedSeconds: segment.fixedSeconds)
        }
        var parameterBytes: [String: Double] = [:]
        for layer in 0..<layers.count where model.rules.isFree(layer) && layers[layer].parameterBytes > 0 {
            parameterBytes[layers[layer].name] = layers[layer].parameterBytes
        }
        self.parameterBytes = parameterBytes
    }

    /// The table this report describes, layers resolved by name in `graph`.
    ///
    /// - Throws: `PlanningError.invalidTable` naming the segment and field when a layer is not
    ///   in `graph` or the segments do not cover (0, ∞) in order.
    public func table(graph: ModelGraph) throws -> PlanTable {
        guard !segments.isEmpty else { throw PlanningError.invalidTable(field: "segments", reason: "must not be empty") }
        func indices(_ names: [String], _ field: String) throws -> [Int] {
            try names.map { name in
                guard let index = graph.index(of: name) else {
                    throw PlanningError.invalidTable(field: field, reason: "'\(name)' is not a layer of '\(graph.name)'")
                }
                return index
            }
        }
        var result: [PlanTable.Segment] = []
        for (index, segment) in segments.enumerated() {
            let expectedMinimum = index == 0 ? 0 : segments[index - 1].maxEffectiveBitsPerSecond
            guard segment.minEffectiveBitsPerSecond == expectedMinimum,
                (segment.maxEffectiveBitsPerSecond == nil) == (index == segments.count - 1),
                segment.maxEffectiveBitsPerSecond.map({ $0 > segment.minEffectiveBitsPerSecond }) ?? true
            else {
                throw PlanningError.invalidTable(
                    field: "segments[\(index)]", reason: "segments must cover (0, ∞) in increasing order, each starting where the previous ends")
            }
            result.append(
                PlanTable.Segment(
                    minEffectiveBitsPerSecond: segment.minEffectiveBitsPerSecond, maxEffectiveBitsPerSecond: segment.maxEffectiveBitsPerSecond,
                    deviceLayers: try indices(segment.deviceLayers, "segments[\(index)].device_layers").sorted(),
                    cutLayers: try indices(segment.cutLayers, "segments[\(index)].cut_layers"),
                    transferBytes: segment.transferBytes, fixedSeconds: segment.fixedSeconds))
        }
        return PlanTable(conditions: conditions.conditions, segments: result, plannerCalls: 0)
    }

    /// Compact JSON with sorted keys (throws `EncodingError` only for a non-finite number).
    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }
}
