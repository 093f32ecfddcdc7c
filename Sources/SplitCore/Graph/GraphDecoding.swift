import Foundation

extension ModelGraph {
    /// The format tag this version of splitd reads and writes.
    public static let formatTag = "splitgraph/1"

    /// Parses and validates a `splitgraph/1` JSON document.
    ///
    /// Unknown fields are ignored. Every rejection is a `GraphError` naming the layer and field
    /// (and, for malformed JSON, the line and column).
    public init(json data: some Collection<UInt8>) throws {
        let root: JSONObject
        do {
            root = try JSONObject(parsing: data)
        } catch let error as JSONSyntaxError {
            throw GraphError(.invalidJSON, error.description)
        } catch let error as JSONFieldError {
            throw GraphError(.invalidJSON, "a splitgraph/1 document must be a JSON object: \(error)")
        }
        try self.init(document: root)
    }

    /// Reads and validates a `splitgraph/1` document already parsed into `root` (for callers that
    /// embed a graph in a larger document, such as the HTTP API's stateless planning).
    public init(document root: JSONObject) throws {
        let format: String?
        do {
            format = try root.string("format")
        } catch {
            throw GraphError(.wrongFormat, field: "format", "must be the string \"\(ModelGraph.formatTag)\"")
        }
        guard let format else { throw GraphError(.wrongFormat, field: "format", "missing 'format'; expected \"\(ModelGraph.formatTag)\"") }
        guard format == ModelGraph.formatTag else {
            throw GraphError(.wrongFormat, field: "format", "expected \"\(ModelGraph.formatTag)\", got \"\(format)\"")
        }
        let name: String
        let outputs: [String]?
        let layerValues: [JSONValue]
        do {
            name = try root.string("name", maximumLength: Self.maximumNameLength) ?? ""
            outputs = try root.strings("outputs", maximumLength: Self.maximumNameLength)
            guard let values = try root.array("layers") else {
                throw GraphError(.missingField, field: "layers", "missing 'layers' array")
            }
            layerValues = values
        } catch let error as JSONFieldError {
            throw GraphError(.invalidField, field: error.field, error.reason)
        }
        guard layerValues.count <= Self.maximumLayerCount else {
            throw GraphError(.tooManyLayers, "graph has \(layerValues.count) layers; at most \(Self.maximumLayerCount) are accepted")
        }
        var layers: [Layer] = []
        layers.reserveCapacity(layerValues.count)
        for (position, value) in layerValues.enumerated() { layers.append(try Layer(json: value, position: position)) }
        try self.init(name: name, layers: layers, outputs: outputs)
    }

    /// The longest layer, block, op or model name accepted, in characters.
    public static let maximumNameLength = 1000

    /// Encodes the graph back into `splitgraph/1` JSON (layers in topological order).
    public func jsonData() -> Data {
        let file = GraphFile(name: name, outputs: outputs.map { layers[$0].name }, layers: layers)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try! encoder.encode(file)
    }
}

/// The on-disk shape of a splitgraph/1 document.
struct GraphFile: Encodable {
    var name: String?
    var outputs: [String]?
    var layers: [Layer]

    enum CodingKeys: String, CodingKey { case format, name, outputs, layers }

    init(name: String, outputs: [String]?, layers: [Layer]) {
        self.name = name
        self.outputs = outputs
        self.layers = layers
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(ModelGraph.formatTag, forKey: .format)
        try container.encode(name, forKey: .name)
        try container.encodeIfPresent(outputs, forKey: .outputs)
        try container.encode(layers, forKey: .layers)
    }
}

extension Layer: Encodable {
    enum CodingKeys: String, CodingKey {
        case name, op, inputs, block, module
        case fxNode = "fx_node"
        case forwardFLOPs = "forward_flops"
        case backwardFLOPs = "backward_flops"
        case outputBytes = "output_bytes"
        case parameterBytes = "param_bytes"
    }

    /// Reads layer number `position` of a document, naming the layer and field in every error.
    init(json value: JSONValue, position: Int) throws {
        let object: JSONObject
        do {
            object = try JSONObject(value, path: "layers[\(position)]")
        } catch {
            throw GraphError(.invalidField, layer: "#\(position)", field: "layers[\(position)]", "must be an object, got \(value.kindDescription)")
        }
        let name: String
        do {
            guard let text = try object.string("name", maximumLength: ModelGraph.maximumNameLength) else {
                throw GraphError(
                    .missingField, layer: "#\(position)", field: "name",
                    object.contains("name") ? "'name' must be a string" : "missing 'name'")
            }
            name = text
        } catch let error as JSONFieldError {
            throw GraphError(.invalidField, layer: "#\(position)", field: "name", error.reason)
        }
        let label = name.isEmpty ? "#\(position)" : name
        func read<T>(_ key: String, _ body: () throws -> T) throws -> T {
            do {
                return try body()
            } catch let error as JSONFieldError {
                throw GraphError(.invalidField, layer: label, field: key, error.reason)
            }
        }
        func number(_ key: String, required: Bool, range: ValueRange) throws -> Double {
            guard let value = try read(key, { try object.number(key, within: range) }) else {
                if required { throw GraphError(.missingField, layer: label, field: key, "missing required number") }
                return 0
            }
            return value
        }
        let inputs = try read("inputs") { try object.strings("inputs", maximumLength: ModelGraph.maximumNameLength) } ?? []
        let block = try read("block") { try object.string("block", maximumLength: ModelGraph.maximumNameLength) }
        let module = try read("module") { try object.string("module", maximumLength: ModelGraph.maximumNameLength) }
        let fxNode = try read("fx_node") { try object.string("fx_node", maximumLength: ModelGraph.maximumNameLength) }
        self.init(
            name: name,
            op: try read("op") { try object.string("op", maximumLength: ModelGraph.maximumNameLength) } ?? "",
            inputs: inputs,
            forwardFLOPs: try number("forward_flops", required: true, range: Limits.layerFLOPs),
            backwardFLOPs: try number("backward_flops", required: true, range: Limits.layerFLOPs),
            outputBytes: try number("output_bytes", required: true, range: Limits.layerBytes),
            parameterBytes: try number("param_bytes", required: false, range: Limits.layerBytes),
            block: block?.isEmpty == true ? nil : block,
            module: module?.isEmpty == true ? nil : module,
            fxNode: fxNode?.isEmpty == true ? nil : fxNode
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
        try container.encodeIfPresent(module, forKey: .module)
        try container.encodeIfPresent(fxNode, forKey: .fxNode)
    }
}

/// A graph encodes as its `splitgraph/1` document (layers in topological order).
extension ModelGraph: Encodable {
    public func encode(to encoder: Encoder) throws {
        try GraphFile(name: name, outputs: outputs.map { layers[$0].name }, layers: layers).encode(to: encoder)
    }
}
