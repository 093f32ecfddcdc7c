import Foundation

/// Measured per-layer training times on one machine (`splitprofile/1`), overriding FLOP estimates.
///
/// Times are stored per sample: a profile measured at batch `p` is assumed to scale linearly, so
/// at batch `b` a layer takes `b / p` times its measured time. A layer may also give
/// `memory_bytes`: the activation memory it keeps for the backward pass at batch `p`, which on the
/// device replaces the estimate `b × output_bytes` of `DeviceMemoryTerms` (scaled the same way).
public struct LayerProfile: Sendable, Equatable {
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
    /// The model the profile was measured for (the graph's `name`), when the file says.
    public let model: String?

    /// Creates a profile from per-layer forward and backward milliseconds measured at `batchSize`,
    /// and optionally per-layer activation memory (`memoryBytes`, bytes at `batchSize`).
    public init(
        batchSize: Int, milliseconds: [String: (forward: Double, backward: Double)],
        memoryBytes: [String: Double] = [:], hardware: String? = nil, model: String? = nil
    ) throws {
        guard batchSize >= 1 && Double(batchSize) <= Limits.batchSize.bounds.upperBound else {
            throw ProfileError(field: "batch_size", "must be an integer between 1 and 1000000, got \(batchSize)")
        }
        var perSample: [String: Double] = [:]
        for (name, times) in milliseconds {
            for (field, value) in [("forward_ms", times.forward), ("backward_ms", times.backward)] {
                if let violation = Limits.profileMilliseconds.violation(value) { throw ProfileError(layer: name, field: field, violation) }
            }
            perSample[name] = (times.forward + times.backward) / 1000 / Double(batchSize)
        }
        var memoryPerSample: [String: Double] = [:]
        for (name, bytes) in memoryBytes {
            if let violation = Limits.measuredMemory.violation(bytes) { throw ProfileError(layer: name, field: "memory_bytes", violation) }
            memoryPerSample[name] = bytes / Double(batchSize)
        }
        self.secondsPerSample = perSample
        self.memoryBytesPerSample = memoryPerSample
        self.batchSize = batchSize
        self.hardware = hardware
        self.model = model
    }

    /// Parses a `splitprofile/1` JSON document; errors name the layer and field.
    public init(json data: some Collection<UInt8>) throws {
        do {
            let root = try JSONObject(parsing: data)
            let format = try root.string("format")
            guard format == Self.formatTag else {
                throw ProfileError(field: "format", "expected \"\(Self.formatTag)\", got \(format.map { "\"\($0)\"" } ?? "nothing")")
            }
            let batch = try root.integer("batch_size", within: 1...Int(Limits.batchSize.bounds.upperBound))
            guard let batch else { throw ProfileError(field: "batch_size", "must be an integer between 1 and 1000000") }
            guard let layers = try root.object("layers") else {
                throw ProfileError(field: "layers", "missing object mapping layer names to {forward_ms, backward_ms}")
            }
            var milliseconds: [String: (forward: Double, backward: Double)] = [:]
            var memory: [String: Double] = [:]
            for (name, value) in layers.members {
                let entry = try JSONObject(value, path: "layers.\(name)")
                try JSONObject.check(name, field: "layers", maximumLength: ModelGraph.maximumNameLength, allowEmpty: false)
                do {
                    milliseconds[name] = (
                        try entry.requiredNumber("forward_ms", within: Limits.profileMilliseconds),
                        try entry.requiredNumber("backward_ms", within: Limits.profileMilliseconds)
                    )
                    memory[name] = try entry.number("memory_bytes", within: Limits.measuredMemory)
                } catch let error as JSONFieldError {
                    throw ProfileError(layer: name, field: String(error.field.split(separator: ".").last ?? ""), error.reason)
                }
            }
            try self.init(
                batchSize: batch, milliseconds: milliseconds, memoryBytes: memory,
                hardware: try root.string("hardware", maximumLength: 1000), model: try root.string("model", maximumLength: 1000))
        } catch let error as JSONSyntaxError {
            throw ProfileError(error.description)
        } catch let error as JSONFieldError {
            throw ProfileError(field: error.field, error.reason)
        }
    }

    /// Why this profile cannot be used with `graph`: it names another model. Nil when it names
    /// `graph`'s model or none. A profile of another model would give its times to whichever
    /// layers happen to share names, silently; callers refuse it unless the user forces it.
    public func modelMismatch(with graph: ModelGraph) -> String? {
        guard let model, model != graph.name else { return nil }
        return "profile is for model '\(model)', not '\(graph.name)'"
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
