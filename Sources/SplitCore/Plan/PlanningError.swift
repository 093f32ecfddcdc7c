/// Why a plan could not be computed.
public enum PlanningError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A layer must be both on the device and on the server.
    case conflictingConstraints(layer: String, deviceReason: String, serverReason: String)
    /// A planning parameter is out of range.
    case invalidParameter(PlanningParameter, reason: String)
    /// A plan table document does not describe a table of this model.
    case invalidTable(field: String, reason: String)
    /// Exhaustive search was asked for a graph with too many free layers.
    case tooManyFreeLayers(count: Int, limit: Int)
    /// An algorithm name that does not exist.
    case unknownAlgorithm(String)
    /// A given split breaks a placement rule.
    case invalidSplit(String)
    /// No valid split fits the device memory limit; `requiredBytes` is the least memory any valid
    /// split needs (exact), `limitBytes` the limit.
    case deviceMemoryExceeded(requiredBytes: Int64, limitBytes: Int64)
    /// A given split needs more device memory than the limit.
    case splitExceedsDeviceMemory(neededBytes: Int64, limitBytes: Int64)
    /// A baseline planner has no candidate split within the limit (`dag`, `block` and `brute`
    /// search every valid split and may still find one).
    case noCandidateWithinMemory(algorithm: String, limitBytes: Int64)

    public var description: String {
        switch self {
        case let .conflictingConstraints(layer, deviceReason, serverReason):
            return "no valid split: layer '\(layer)' must run on the device (\(deviceReason)) and on the server (\(serverReason))"
        case let .invalidParameter(parameter, reason):
            return "\(parameter.rawValue) \(reason)"
        case let .invalidTable(field, reason):
            return "plan table \(field): \(reason)"
        case let .tooManyFreeLayers(count, limit):
            return "brute force refuses graphs with more than \(limit) free layers (this one has \(count)); use dag or block"
        case let .invalidSplit(reason):
            return "not a valid split: \(reason)"
        case let .deviceMemoryExceeded(required, limit):
            return """
                no valid split fits in \(ByteQuantity.describe(limit)) of device memory: the smallest valid split needs \
                \(ByteQuantity.describe(required))
                """
        case let .splitExceedsDeviceMemory(needed, limit):
            return "the split needs \(ByteQuantity.describe(needed)) of device memory, more than the limit of \(ByteQuantity.describe(limit))"
        case let .noCandidateWithinMemory(algorithm, limit):
            return """
                \(algorithm): none of its candidate splits fits in \(ByteQuantity.describe(limit)) of device memory (dag and block search every \
                valid split)
                """
        case let .unknownAlgorithm(name):
            return "unknown algorithm '\(name)'; expected one of \(PlanningAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))"
        }
    }
}
