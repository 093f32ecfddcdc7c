import Foundation
import Hummingbird
import SplitCore
import SplitStore

extension APIRoutes {
    /// Plans of a device, and stateless planning.
    static func addPlanRoutes(to router: Router<SplitRequestContext>, _ api: APIDependencies) {
        router.get("/v1/devices/:id/plan") { request, context -> Response in
            let id = try pathParameter("id", context)
            try await api.auth.requireAdminOrDevice(id, request)
            let plan = try await api.store { try PlanRepository.current(deviceID: id, connection: $0) }
            guard let plan else { throw APIError.notFound("device '\(id)' has no plan yet (it needs a link estimate: telemetry or a link at registration)") }
            return JSONResponse.make(object: API.plan(plan))
        }

        router.get("/v1/devices/:id/plans") { request, context -> Response in
            let id = try pathParameter("id", context)
            try await api.auth.requireAdminOrDevice(id, request)
            let limit = try request.uri.queryParameters.get("limit").map { text -> Int in
                guard let limit = Int(text), (1...1000).contains(limit) else { throw APIError.invalid("limit", "must be an integer in 1...1000") }
                return limit
            } ?? 50
            let before = try request.uri.queryParameters.get("before").map { text -> Date in
                guard let date = parseISO8601(String(text)) else { throw APIError.invalid("before", "must be an RFC 3339 timestamp") }
                return date
            }
            let plans = try await api.store { try PlanRepository.history(deviceID: id, limit: limit, before: before, connection: $0) }
            var object: [String: Any] = ["plans": plans.map(API.plan)]
            if plans.count == limit, let last = plans.last { object["next_before"] = iso8601(last.computedAt) }
            return JSONResponse.make(object: object)
        }

        router.post("/v1/plan") { request, _ -> Response in
            try await api.auth.requireAdmin(request)
            var request = request
            let body = try await RequestBody.data(&request, limit: api.maximumBodyBytes)
            let parameters = try RequestBody.decode(API.PlanRequest.self, from: body)
            let conditions = PlanningConditions(
                batchSize: parameters.batchSize, deviceFLOPsPerSecond: parameters.deviceFLOPs, serverFLOPsPerSecond: parameters.serverFLOPs,
                uplinkBitsPerSecond: parameters.uplinkBitsPerSecond, downlinkBitsPerSecond: parameters.downlinkBitsPerSecond,
                rttSeconds: parameters.rttSeconds ?? 0)
            do {
                try conditions.validate()
            } catch let error as PlanningError {
                if case .invalidParameter(let parameter, let reason) = error {
                    let field: String
                    switch parameter {
                    case .batchSize: field = "batch_size"
                    case .deviceFLOPs: field = "device_flops"
                    case .serverFLOPs: field = "server_flops"
                    case .uplink: field = "uplink_bps"
                    case .downlink: field = "downlink_bps"
                    case .rtt, .replanInterval: field = "rtt_seconds"
                    }
                    throw APIError.invalid(field, reason)
                }
                throw error
            }
            let algorithmName = parameters.algorithm ?? "dag"
            guard let algorithm = PlanningAlgorithm(rawValue: algorithmName) else {
                throw APIError.invalid("algorithm", PlanningError.unknownAlgorithm(algorithmName).description)
            }
            let raw = parameters.allowRawUpload ?? false
            let model: PreparedModel
            do {
                if let name = parameters.model {
                    let stored = try await api.store { try ModelRepository.find(name: name, version: parameters.modelVersion, connection: $0) }
                    guard let stored else { throw APIError.invalid("model", "model '\(name)' does not exist") }
                    model = try await api.store { connection in
                        try api.cache.prepared(ModelCache.Key(model: stored.name, version: stored.version, allowRawUpload: raw), connection: connection)
                    }
                } else {
                    let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
                    guard let graph = object?["graph"] else { throw APIError.invalid("graph", "give an inline 'graph' (splitgraph/1) or a registered 'model'") }
                    let graphData = try JSONSerialization.data(withJSONObject: graph)
                    do {
                        model = try PreparedModel(graph: try ModelGraph(json: graphData), allowRawUpload: raw)
                    } catch let error as GraphError {
                        throw APIError(.unprocessableContent, "invalid_graph", "graph: \(error)", field: error.field.map { "graph.\($0)" } ?? "graph")
                    }
                }
                let plan = try SplitPlanner(model: model).plan(algorithm, conditions: conditions)
                return JSONResponse.make(data: PlanReport(plan: plan, model: model, conditions: conditions).jsonData())
            } catch let error as PlanningError {
                throw APIError(.unprocessableContent, "unplannable", error.description)
            }
        }
    }
}
