/// Why a plan could not be computed.
public enum PlanningError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A layer must be both on the device and on the server.
    case conflictingConstraints(layer: String, deviceReason: String, serverReason: String)
    /// A planning parameter is out of range.
    case invalidParameter(PlanningParameter, reason: String)
    /// Exhaustive search was asked for a graph with too many free layers.
    case tooManyFreeLayers(count: Int, limit: Int)
    /// An algorithm name that does not exist.
    case unknownAlgorithm(String)
    /// A given split breaks a placement rule.
    case invalidSplit(String)

    public var description: String {
        switch self {
        case let .conflictingConstraints(layer, deviceReason, serverReason):
            return "no valid split: layer '\(layer)' must run on the device (\(deviceReason)) and on the server (\(serverReason))"
        case let .invalidParameter(parameter, reason):
            return "\(parameter.rawValue) \(reason)"
        case let .tooManyFreeLayers(count, limit):
            return "brute force refuses graphs with more than \(limit) free layers (this one has \(count)); use dag or block"
        case let .invalidSplit(reason):
            return "not a valid split: \(reason)"
        case let .unknownAlgorithm(name):
            return "unknown algorithm '\(name)'; expected one of \(PlanningAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))"
        }
    }
}
