/// Why a model could not be imported: what was wrong and where (node, operator, field or line).
///
/// The server maps every `ImportError` to HTTP 422 with `field` set from `location`.
public struct ImportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of problem.
    public enum Kind: String, Sendable, Equatable {
        /// The bytes are not a well-formed ONNX protobuf (or are truncated).
        case malformed
        /// Well-formed, but not something the importer can use (no graph, no inputs, a bad type).
        case unsupportedModel
        /// An operator without a shape rule or FLOP formula (see `ImportOptions.unknownOperators`).
        case unknownOperator
        /// A node's output shape could not be determined.
        case shapeInference
        /// A node reads a value that no node, initializer or graph input provides.
        case missingInput
        /// Nodes depend on each other in a cycle.
        case cycle
        /// An import option is invalid (`--input` names an unknown input, a bad shape).
        case invalidOption
        /// A PipeDream `graph.txt` line could not be parsed.
        case syntax
        /// The imported layers do not form a valid splitgraph/1 graph.
        case invalidGraph
    }

    /// The kind of problem.
    public let kind: Kind
    /// The ONNX node (its name, or `#index` when unnamed) or PipeDream node at fault.
    public let node: String?
    /// The node's operator type.
    public let op: String?
    /// The value, field, option or line at fault.
    public let field: String?
    /// What was expected and what was found.
    public let reason: String

    /// Creates an error.
    public init(_ kind: Kind, node: String? = nil, op: String? = nil, field: String? = nil, _ reason: String) {
        self.kind = kind
        self.node = node
        self.op = op
        self.field = field
        self.reason = reason
    }

    /// Where the problem is, as one string (`node 'x' (Conv)`, `input 'ids'`, ...), for API errors.
    public var location: String? {
        var parts: [String] = []
        if let node { parts.append(op.map { "node '\(node)' (\($0))" } ?? "node '\(node)'") }
        if let field { parts.append(field) }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }

    public var description: String {
        location.map { "\($0): \(reason)" } ?? reason
    }
}
