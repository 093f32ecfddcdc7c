import Foundation

/// Measured per-layer training times on one machine (`splitprofile/1`), overriding FLOP estimates.
///
/// Times are stored per sample: a profile measured at batch `p` is assumed to scale linearly, so
/// at batch `b` a layer takes `b / p` times its measured time. A layer may also give
/// `memory_bytes`: the activation memory it keeps for the backward pass at batch `p`, which on the
/// device replaces the estimate `b × output_bytes` of `DeviceMemoryTerms` (scaled the same way).
public struct LayerProfile: Sendable, Equatable {
    /// The largest `memory_bytes` a layer may report (1 PB): anything above is a unit mistake.
    public static let maximumMemoryBytes = 1e15

    /// The format tag of profile documents.
    public static let formatTag = "splitprofile/1"

    /// Measured forward plus backward seconds per sample, by layer name.
    public let secondsPerSample: [String: Double]
    /// Measured activation bytes kept for backward per sample (`memory_bytes / batch_size`), by layer.
    public let memoryBytesPerSample: [String: Double]
    /// Batch size the profile was measured at.
    public let batchSize: Int
    /// Free-form description of the hardware, when the file gives one.
    public let hardware: String?

    /// Creates a profile from per-layer forward and backward milliseconds measured at `batchSize`,
    /// and optionally per-layer activation memory (`memoryBytes`, bytes at `batchSize`).
    public init(batchSize: Int, milliseconds: [String: (forward: Double, backward: Double)],
                memoryBytes: [String: Double] = [:], hardware: String? = nil) throws {
        guard batchSize >= 1 else {
            throw ProfileError(field: "batch_size", "must be an integer >= 1, got \(batchSize)")
        }
        var perSample: [String: Double] = [:]
        for (name, times) in milliseconds {
            for (field, value) in [("forward_ms", times.forward), ("backward_ms", times.backward)]
            where !(value.isFinite && value >= 0) {
                throw ProfileError(layer: name, field: field, "must be a finite number >= 0, got \(value)")
            }
            perSample[name] = (times.forward + times.backward) / 1000 / Double(batchSize)
        }
        var memoryPerSample: [String: Double] = [:]
        for (name, bytes) in memoryBytes {
            guard bytes.isFinite && bytes >= 0 && bytes <= Self.maximumMemoryBytes else {
                throw ProfileError(layer: name, field: "memory_bytes", "must be a finite number of bytes between 0 and 1e15, got \(bytes)")
            }
            memoryPerSample[name] = bytes / Double(batchSize)
        }
        self.secondsPerSample = perSample
        self.memoryBytesPerSample = memoryPerSample
        self.batchSize = batchSize
        self.hardware = hardware
    }

    /// Parses a `splitprofile/1` JSON document.
    public init(json data: Data) throws {
        let file: ProfileFile
        do {
            file = try JSONDecoder().decode(ProfileFile.self, from: data)
        } catch let error as DecodingError {
            let graphError = GraphError(decoding: error)
            throw ProfileError(field: graphError.field, graphError.reason)
        }
        guard file.format == Self.formatTag else {
            throw ProfileError(field: "format", "expected \"\(Self.formatTag)\", got \(file.format.map { "\"\($0)\"" } ?? "nothing")")
        }
        guard let batch = file.batchSize, batch.isFinite, batch == batch.rounded(), batch >= 1, batch <= 1e9 else {
            throw ProfileError(field: "batch_size", "must be an integer >= 1")
        }
        guard let layers = file.layers else {
            throw ProfileError(field: "layers", "missing object mapping layer names to {forward_ms, backward_ms}")
        }
        try self.init(
            batchSize: Int(batch), milliseconds: layers.mapValues { ($0.forwardMilliseconds, $0.backwardMilliseconds) },
            memoryBytes: layers.compactMapValues(\.memoryBytes), hardware: file.hardware)
    }

    /// Layer names in the profile that the graph does not have (worth a warning, not an error).
    public func unknownLayers(in graph: ModelGraph) -> [String] {
        Set(secondsPerSample.keys).union(memoryBytesPerSample.keys).filter { graph.index(of: $0) == nil }.sorted()
    }
}

/// Why a profile was rejected, naming the layer and field at fault.
public struct ProfileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Layer at fault, if any.
    public let layer: String?
    /// Field at fault, if any.
    public let field: String?
    /// What was expected.
    public let reason: String

    /// Creates an error.
    public init(layer: String? = nil, field: String? = nil, _ reason: String) {
        self.layer = layer
        self.field = field
        self.reason = reason
    }

    public var description: String {
        var parts: [String] = []
        if let layer { parts.append("layer '\(layer)'") }
        if let field { parts.append("field '\(field)'") }
        return parts.isEmpty ? "profile: \(reason)" : "profile \(parts.joined(separator: ", ")): \(reason)"
    }
}

/// The on-disk shape of a splitprofile/1 document.
private struct ProfileFile: Decodable {
    struct Entry: Decodable {
        var forwardMilliseconds: Double
        var backwardMilliseconds: Double
        var memoryBytes: Double?
        enum CodingKeys: String, CodingKey {
            case forwardMilliseconds = "forward_ms"
            case backwardMilliseconds = "backward_ms"
            case memoryBytes = "memory_bytes"
        }
    }
    var format: String?
    var batchSize: Double?
    var hardware: String?
    var layers: [String: Entry]?
    enum CodingKeys: String, CodingKey {
        case format, hardware, layers
        case batchSize = "batch_size"
    }
}
