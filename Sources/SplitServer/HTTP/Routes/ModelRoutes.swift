import Foundation
import Hummingbird
import SplitCore
import SplitStore

extension APIRoutes {
    /// `POST /v1/models`, `GET /v1/models`, `GET /v1/models/{name}`.
    static func addModelRoutes(to router: Router<SplitRequestContext>, _ api: APIDependencies) {
        router.post("/v1/models") { request, _ -> Response in
            try await api.auth.requireAdmin(request)
            var request = request
            let body = try await RequestBody.data(&request, limit: api.maximumBodyBytes)
            let graph: ModelGraph
            do {
                graph = try ModelGraph(json: body)
            } catch let error as GraphError {
                if error.kind == .invalidJSON { throw APIError.badRequest(error.description) }
                throw APIError(.unprocessableContent, "invalid_graph", error.description, field: error.field)
            }
            try Check.identifier(graph.name, "name")
            let (model, created) = try await api.store { try ModelRepository.store(graph, connection: $0) }
            return JSONResponse.make(status: created ? .created : .ok, object: [
                "name": model.name, "version": model.version, "layers": model.layerCount, "blocks": model.blockCount, "created": created])
        }

        router.get("/v1/models") { request, _ -> Response in
            try await api.auth.requireAdmin(request)
            let models = try await api.store { try ModelRepository.latest(connection: $0) }
            return JSONResponse.make(object: ["models": models.map(API.model)])
        }

        router.get("/v1/models/:name") { request, context -> Response in
            try await api.auth.requireAdmin(request)
            let name = try pathParameter("name", context)
            let version = try request.uri.queryParameters.get("version").map { text -> Int in
                guard let version = Int(text), version >= 1 else { throw APIError.invalid("version", "must be an integer >= 1") }
                return version
            }
            let includeGraph = request.uri.queryParameters.get("graph") == "true"
            let (model, versions) = try await api.store { connection in
                (try ModelRepository.find(name: name, version: version, connection: connection),
                 try ModelRepository.versionCount(name: name, connection: connection))
            }
            guard let model else { throw APIError.notFound("model '\(name)'\(version.map { " version \($0)" } ?? "") does not exist") }
            var object = API.model(model)
            object["versions"] = versions
            if includeGraph { object["graph"] = try JSONSerialization.jsonObject(with: Data(model.graphJSON.utf8)) }
            return JSONResponse.make(object: object)
        }
    }

    /// A path parameter, percent-decoded.
    static func pathParameter(_ name: String, _ context: SplitRequestContext) throws -> String {
        guard let raw = context.parameters.get(name) else { throw APIError.badRequest("missing path parameter \(name)") }
        return raw.removingPercentEncoding ?? raw
    }
}

/// Builds the API router.
enum APIRoutes {}
