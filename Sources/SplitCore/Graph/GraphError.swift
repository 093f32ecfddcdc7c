/// Why a model graph was rejected; the description names the layer and field at fault.
public struct GraphError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The rule a graph broke.
    public enum Kind: String, Sendable, Equatable {
        case invalidJSON
        case wrongFormat
        case missingField
        case invalidField
        case emptyName
        case duplicateName
        case unknownInput
        case selfLoop
        case cycle
        case noInput
        case noOutput
        case unknownOutput
        case tooManyLayers
    }

    /// The rule that was broken.
    public let kind: Kind
    /// The layer at fault, when there is one (its name, or `#index` when it has no usable name).
    public let layer: String?
    /// The JSON field at fault, when there is one.
    public let field: String?
    /// A sentence saying what was expected and what was found.
    public let reason: String

    /// Creates an error; prefer the static constructors below.
    public init(_ kind: Kind, layer: String? = nil, field: String? = nil, _ reason: String) {
        self.kind = kind
        self.layer = layer
        self.field = field
        self.reason = reason
    }

    public var description: String {
        var location = ""
        if let layer { location += "layer '\(layer)'" }
        if let field { location += location.isEmpty ? "field '\(field)'" : ", field '\(field)'" }
        return location.isEmpty ? reason : "\(location): \(reason)"
    }
}
