import Foundation

extension ModelGraph {
    /// The format tag this version of splitd reads and writes.
    public static let formatTag = "splitgraph/1"

    /// Parses and validates a `splitgraph/1` JSON document.
    ///
    /// Unknown fields are ignored. Every rejection is a `GraphError` naming the layer and field.
    public init(json data: Data) throws {
        let file: GraphFile
        do {
            file = try JSONDecoder().decode(GraphFile.self, from: data)
        } catch let error as GraphError {
            throw error
        } catch let error as DecodingError {
            throw GraphError(decoding: error)
        }
        try self.init(name: file.name ?? "", layers: file.layers, outputs: file.outputs)
    }

    /// Encodes the graph back into `splitgraph/1` JSON (layers in topological order).
    public func jsonData() -> Data {
        let file = GraphFile(name: name, outputs: outputs.map { layers[$0].name }, layers: layers)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try! encoder.encode(file)
    }
}

/// The on-disk shape of a splitgraph/1 document.
struct GraphFile: Codable {
    var name: String?
    var outputs: [String]?
    var layers: [Layer]

    enum CodingKeys: String, CodingKey { case format, name, outputs, layers }

    init(name: String, outputs: [String]?, layers: [Layer]) {
        self.name = name
        self.outputs = outputs
        self.layers = layers
    }

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let format = try? container.decodeIfPresent(String.self, forKey: .format)
        guard let format else {
            throw GraphError(.wrongFormat, field: "format", "missing 'format'; expected \"\(ModelGraph.formatTag)\"")
        }
        guard format == ModelGraph.formatTag else {
            throw GraphError(.wrongFormat, field: "format", "expected \"\(ModelGraph.formatTag)\", got \"\(format)\"")
        }
        name = try container.decodeIfPresent(String.self, forKey: .name)
        outputs = try container.decodeIfPresent([String].self, forKey: .outputs)
        guard container.contains(.layers) else {
            throw GraphError(.missingField, field: "layers", "missing 'layers' array")
        }
        layers = try container.decode([Layer].self, forKey: .layers)
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(ModelGraph.formatTag, forKey: .format)
        try container.encode(name, forKey: .name)
        try container.encodeIfPresent(outputs, forKey: .outputs)
        try container.encode(layers, forKey: .layers)
    }
}

extension Layer: Codable {
    enum CodingKeys: String, CodingKey {
        case name, op, inputs, block
        case forwardFLOPs = "forward_flops"
        case backwardFLOPs = "backward_flops"
        case outputBytes = "output_bytes"
        case parameterBytes = "param_bytes"
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let position = decoder.codingPath.last?.intValue ?? 0
        let decodedName = try? container.decodeIfPresent(String.self, forKey: .name)
        guard let name = decodedName else {
            let found = container.contains(.name) ? "'name' must be a string" : "missing 'name'"
            throw GraphError(.missingField, layer: "#\(position)", field: "name", found)
        }
        let label = name.isEmpty ? "#\(position)" : name

        func number(_ key: CodingKeys, required: Bool) throws -> Double {
            guard container.contains(key), (try? container.decodeNil(forKey: key)) == false else {
                if required { throw GraphError(.missingField, layer: label, field: key.rawValue, "missing required number") }
                return 0
            }
            guard let value = try? container.decode(Double.self, forKey: key) else {
                throw GraphError(.invalidField, layer: label, field: key.rawValue, "must be a number")
            }
            return value
        }
        var inputs: [String] = []
        if container.contains(.inputs) {
            guard let decoded = try? container.decode([String].self, forKey: .inputs) else {
                throw GraphError(.invalidField, layer: label, field: "inputs", "must be an array of layer names")
            }
            inputs = decoded
        }
        let block: String?
        do {
            block = try container.decodeIfPresent(String.self, forKey: .block)
        } catch {
            throw GraphError(.invalidField, layer: label, field: "block", "must be a string")
        }
        self.init(
            name: name,
            op: (try? container.decodeIfPresent(String.self, forKey: .op)) ?? "",
            inputs: inputs,
            forwardFLOPs: try number(.forwardFLOPs, required: true),
            backwardFLOPs: try number(.backwardFLOPs, required: true),
            outputBytes: try number(.outputBytes, required: true),
            parameterBytes: try number(.parameterBytes, required: false),
            block: block?.isEmpty == true ? nil : block
        )
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(op, forKey: .op)
        try container.encode(inputs, forKey: .inputs)
        try container.encode(forwardFLOPs, forKey: .forwardFLOPs)
        try container.encode(backwardFLOPs, forKey: .backwardFLOPs)
        try container.encode(outputBytes, forKey: .outputBytes)
        try container.encode(parameterBytes, forKey: .parameterBytes)
        try container.encodeIfPresent(block, forKey: .block)
    }
}

extension GraphError {
    /// Maps a Foundation decoding failure to a message that says where in the document it happened.
    public init(decoding error: DecodingError) {
        func path(_ codingPath: [CodingKey]) -> String {
            codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
                .trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            let detail = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            self.init(.invalidJSON, "invalid JSON: \(detail ?? context.debugDescription)")
        case .dataCorrupted(let context):
            self.init(.invalidField, field: path(context.codingPath), context.debugDescription)
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            self.init(.invalidField, field: path(context.codingPath), "has the wrong type: \(context.debugDescription)")
        case .keyNotFound(let key, let context):
            self.init(.missingField, field: path(context.codingPath + [key]), "missing required field")
        @unknown default:
            self.init(.invalidJSON, "invalid document: \(error)")
        }
    }
}
