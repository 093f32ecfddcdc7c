import Foundation
import Hummingbird
import SplitCore
import SplitImport
import SplitStore

extension APIRoutes {
    /// `POST /v1/models`, `GET /v1/models`, `GET /v1/models/{name}`.
    static func addModelRoutes(to group: RouterGroup<SplitRequestContext>, _ api: APIDependencies) {
        group.post("/v1/models") { request, _ -> EditedResponse<Responses.RegisteredModel> in
            var request = request
            let isONNX = request.headers[.contentType].map { $0.lowercased().hasPrefix("application/onnx") } ?? false
            let options = isONNX ? try ModelBodies.importOptions(request) : nil
            let body = try await RequestBody.data(&request, limit: api.maximumBodyBytes)
            let graph = try options.map { try ModelBodies.importONNX(body, options: $0) } ?? ModelBodies.graph(body)
            let (model, created) = try await api.store.registerModel(graph)
            HeapTrim.afterBody(of: body.count)
            return EditedResponse(
                status: created ? .created : .ok,
                response: Responses.RegisteredModel(
                    name: model.name, version: model.version, layers: model.layerCount, blocks: model.blockCount, created: created))
        }

        group.get("/v1/models") { _, _ in
            Responses.Models(models: try await api.store.latestModels().map { Responses.Model($0) })
        }

        group.get("/v1/models/:name") { request, context in
            let name = try Check.pathParameter("name", context)
            let version = try Check.queryInteger(request, "version", 1...Int(Int32.max))
            guard let (model, versions) = try await api.store.model(name: name, version: version) else {
                throw APIError.notFound("model '\(name)'\(version.map { " version \($0)" } ?? "") does not exist")
            }
            let graph = try Query(request).get("graph") == "true" ? try ModelGraph(json: Data(model.graphJSON.utf8)) : nil
            return Responses.Model(model, versions: versions, graph: graph)
        }
    }
}

/// Reading model graphs from request bodies.
enum ModelBodies {
    /// The most layers a graph sent over HTTP may have (files for `splitctl` may have more):
    /// keeps one request's memory bounded (see README, "Limits").
    static let maximumLayers = 200_000

    /// Parses and validates a splitgraph/1 body: malformed JSON is 400 (line and column), a
    /// graph that breaks a rule 422 naming the layer and field.
    static func graph(_ body: Data) throws -> ModelGraph {
        let root = try RequestBody.object(from: body)
        if let layers = try? root.array("layers"), layers.count > maximumLayers {
            throw APIError.tooLarge("graph has \(layers.count) layers; the API accepts at most \(maximumLayers) (plan bigger graphs with splitctl)")
        }
        return try graph(root)
    }

    /// `?name=`, `?input=NAME=1x3x224x224` (repeatable) and `?unknown_ops=error|zero` of an ONNX upload.
    static func importOptions(_ request: Request) throws -> ImportOptions {
        var options = ImportOptions()
        let query = try Query(request)
        if let name = query.get("name") {
            try Check.identifier(name, "name")
            options.name = name
        }
        for text in query.getAll("input") {
            do {
                let (name, shape) = try ImportOptions.parseInputShape(text)
                options.inputShapes[name] = shape
            } catch let error as ImportError {
                throw APIError.invalid("input", error.reason)
            }
        }
        if let mode = query.get("unknown_ops") {
            guard let parsed = ImportOptions.UnknownOperators(rawValue: String(mode)) else {
                throw APIError.invalid("unknown_ops", "must be error or zero, got '\(mode)'")
            }
            options.unknownOperators = parsed
        }
        return options
    }

    /// Imports an ONNX body (`Content-Type: application/onnx`) on the server: the stored graph is
    /// the splitgraph/1 result, so plans name its layers. Malformed files and unsupported models
    /// are 422 naming the node and operator.
    static func importONNX(_ body: Data, options: ImportOptions) throws -> ModelGraph {
        let graph: ModelGraph
        do {
            graph = try ONNXImporter.importGraph(data: body, options: options).graph
        } catch let error as ImportError {
            throw APIError(.unprocessableContent, "invalid_model", "ONNX: \(error)", field: error.location ?? error.field)
        }
        guard graph.count <= maximumLayers else {
            throw APIError.tooLarge("graph has \(graph.count) layers; the API accepts at most \(maximumLayers) (plan bigger graphs with splitctl)")
        }
        do {
            try Check.identifier(graph.name, "name")
        } catch let error as JSONFieldError {
            throw APIError.invalid("name", "\(error.reason) (the ONNX graph's name: give ?name=)")
        }
        return graph
    }

    /// Validates a parsed splitgraph/1 document; `prefix` is the body field it came from.
    static func graph(_ document: JSONObject, prefix: String? = nil) throws -> ModelGraph {
        do {
            let graph = try ModelGraph(document: document)
            try Check.identifier(graph.name, prefix.map { "\($0).name" } ?? "name")
            return graph
        } catch let error as GraphError {
            let field = [prefix, error.field].compactMap { $0 }.joined(separator: ".")
            throw APIError(.unprocessableContent, "invalid_graph", "\(prefix.map { "\($0): " } ?? "")\(error)", field: field.isEmpty ? nil : field)
        }
    }
}
