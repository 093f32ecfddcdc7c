import Foundation
import Hummingbird
import SplitCore
import SplitStore

extension APIRoutes {
    /// Edge servers and their per-model profiles (operators only).
    static func addEdgeServerRoutes(to group: RouterGroup<SplitRequestContext>, _ api: APIDependencies) {
        group.post("/v1/edge-servers") { request, _ -> EditedResponse<Responses.EdgeServer> in
            var request = request
            let body = try await RequestBody.decode(Requests.EdgeServer.self, &request, limit: 1 << 20)
            guard let id = body.id else { throw APIError.invalid("id", "is required") }
            return EditedResponse(
                status: .created,
                response: Responses.EdgeServer(
                    try await api.store.createEdgeServer(
                        id: id,
                        computeFLOPs: body.computeFLOPs)))
        }

        group.put("/v1/edge-servers/:id") { request, context in
            let id = try Check.pathParameter("id", context)
            var request = request
            let body = try await RequestBody.decode(Requests.EdgeServer.self, &request, limit: 1 << 20)
            if let bodyID = body.id, bodyID != id { throw APIError.invalid("id", "does not match the path ('\(id)')") }
            return Responses.EdgeServer(try await api.store.updateEdgeServer(id: id, computeFLOPs: body.computeFLOPs))
        }

        group.get("/v1/edge-servers") { _, _ in
            Responses.EdgeServers(edgeServers: try await api.store.edgeServers().map { Responses.EdgeServer($0) })
        }

        group.get("/v1/edge-servers/:id") { _, context in
            let id = try Check.pathParameter("id", context)
            guard let server = try await api.store.edgeServer(id: id) else { throw APIError.notFound("edge server '\(id)' does not exist") }
            return Responses.EdgeServer(server)
        }

        group.put("/v1/edge-servers/:id/profile") { request, context in
            let id = try Check.pathParameter("id", context)
            let query = try Query(request)
            let force = query.get("force") == "true"
            let queryModel = query.get("model")
            var request = request
            let body = try await RequestBody.data(&request, limit: api.maximumBodyBytes)
            let profile = try Profiles.parse(body)
            guard let model = queryModel ?? profile.model else {
                throw APIError.invalid("model", "name the model the profile is for (?model=NAME or a 'model' field)")
            }
            try await Profiles.check(profile, model: model, force: force, api)
            try await api.store.putServerProfile(edgeServerID: id, modelName: model, profileJSON: String(decoding: body, as: UTF8.self))
            return Responses.ProfileStored(edgeServer: id, model: model, layers: profile.secondsPerSample.count)
        }
    }
}
