import Foundation
import Hummingbird
import SplitCore
import SplitPush
import SplitStore

extension APIRoutes {
    /// Edge servers, devices and their profiles.
    static func addFleetRoutes(to router: Router<SplitRequestContext>, _ api: APIDependencies) {
        router.post("/v1/edge-servers") { request, _ -> Response in
            try await api.auth.requireAdmin(request)
            var request = request
            let body = try await RequestBody.decode(API.EdgeServerBody.self, from: &request, limit: 1 << 20)
            guard let id = body.id else { throw APIError.invalid("id", "is required") }
            try Check.identifier(id, "id")
            try Check.positive(body.computeFLOPs, "compute_flops")
            let server = try await api.store { try FleetRepository.createEdgeServer(id: id, computeFLOPs: body.computeFLOPs, connection: $0) }
            return JSONResponse.make(status: .created, object: API.edgeServer(server))
        }

        router.put("/v1/edge-servers/:id") { request, context -> Response in
            try await api.auth.requireAdmin(request)
            let id = try pathParameter("id", context)
            var request = request
            let body = try await RequestBody.decode(API.EdgeServerBody.self, from: &request, limit: 1 << 20)
            if let bodyID = body.id, bodyID != id { throw APIError.invalid("id", "does not match the path ('\(id)')") }
            try Check.positive(body.computeFLOPs, "compute_flops")
            let server = try await api.store { try FleetRepository.updateEdgeServer(id: id, computeFLOPs: body.computeFLOPs, connection: $0) }
            return JSONResponse.make(object: API.edgeServer(server))
        }

        router.get("/v1/edge-servers") { request, _ -> Response in
            try await api.auth.requireAdmin(request)
            let servers = try await api.store { try FleetRepository.edgeServers(connection: $0) }
            return JSONResponse.make(object: ["edge_servers": servers.map(API.edgeServer)])
        }

        router.get("/v1/edge-servers/:id") { request, context -> Response in
            try await api.auth.requireAdmin(request)
            let id = try pathParameter("id", context)
            guard let server = try await api.store({ try FleetRepository.edgeServer(id: id, connection: $0) }) else {
                throw APIError.notFound("edge server '\(id)' does not exist")
            }
            return JSONResponse.make(object: API.edgeServer(server))
        }

        router.put("/v1/edge-servers/:id/profile") { request, context -> Response in
            try await api.auth.requireAdmin(request)
            let id = try pathParameter("id", context)
            var request = request
            let body = try await RequestBody.data(&request, limit: api.maximumBodyBytes)
            let profile = try parseProfile(body)
            let fileModel = (try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["model"] as? String
            guard let model = request.uri.queryParameters.get("model") ?? fileModel else {
                throw APIError.invalid("model", "name the model the profile is for (?model=NAME or a 'model' field)")
            }
            try await checkProfileLayers(profile, model: model, api)
            try await api.store { try FleetRepository.putServerProfile(edgeServerID: id, modelName: model, profileJSON: String(decoding: body, as: UTF8.self), connection: $0) }
            return JSONResponse.make(object: ["edge_server": id, "model": model, "layers": profile.secondsPerSample.count])
        }

        router.post("/v1/devices") { request, _ -> Response in
            try await api.auth.requireAdmin(request)
            var request = request
            let body = try await RequestBody.decode(API.DeviceBody.self, from: &request, limit: 1 << 20)
            guard let id = body.id else { throw APIError.invalid("id", "is required") }
            try Check.identifier(id, "id")
            let settings = try await validatedSettings(body, api)
            var link: TelemetrySample?
            if let given = body.link {
                try Check.positive(given.uplinkBitsPerSecond, "link.uplink_bps")
                try Check.positive(given.downlinkBitsPerSecond, "link.downlink_bps")
                try Check.nonNegative(given.rttSeconds ?? 0, "link.rtt_seconds")
                link = TelemetrySample(deviceID: id, measuredAt: Date(), uplinkBitsPerSecond: given.uplinkBitsPerSecond,
                                       downlinkBitsPerSecond: given.downlinkBitsPerSecond, rttSeconds: given.rttSeconds ?? 0)
            }
            let smoothing = api.smoothing
            let credentials = try await api.store { [link] connection in
                try connection.transaction {
                    let credentials = try FleetRepository.registerDevice(id: id, settings: settings, connection: connection)
                    if let link { try TelemetryRepository.ingest([link], smoothing: smoothing, thresholds: api.thresholds, connection: connection) }
                    return credentials
                }
            }
            return JSONResponse.make(status: .created, object: ["id": id, "token": credentials.token, "webhook_secret": credentials.webhookSecret])
        }

        router.get("/v1/devices/:id") { request, context -> Response in
            try await api.auth.requireAdmin(request)
            let id = try pathParameter("id", context)
            guard let device = try await api.store({ try FleetRepository.device(id: id, connection: $0) }) else {
                throw APIError.notFound("device '\(id)' does not exist")
            }
            return JSONResponse.make(object: API.device(device))
        }

        router.get("/v1/devices") { request, _ -> Response in
            try await api.auth.requireAdmin(request)
            let after = request.uri.queryParameters.get("after")
            let limit = try request.uri.queryParameters.get("limit").map { text -> Int in
                guard let limit = Int(text), (1...10_000).contains(limit) else { throw APIError.invalid("limit", "must be an integer in 1...10000") }
                return limit
            } ?? 1000
            let devices = try await api.store { try FleetRepository.devices(after: after, limit: limit, connection: $0) }
            return JSONResponse.make(object: ["devices": devices.map(API.device)])
        }

        router.put("/v1/devices/:id") { request, context -> Response in
            try await api.auth.requireAdmin(request)
            let id = try pathParameter("id", context)
            var request = request
            let body = try await RequestBody.decode(API.DeviceBody.self, from: &request, limit: 1 << 20)
            if let bodyID = body.id, bodyID != id { throw APIError.invalid("id", "does not match the path ('\(id)')") }
            let settings = try await validatedSettings(body, api)
            let device = try await api.store { try FleetRepository.updateDevice(id: id, settings: settings, connection: $0) }
            return JSONResponse.make(object: API.device(device))
        }

        router.delete("/v1/devices/:id") { request, context -> Response in
            try await api.auth.requireAdmin(request)
            let id = try pathParameter("id", context)
            guard try await api.store({ try FleetRepository.deactivateDevice(id: id, connection: $0) }) else {
                throw APIError.notFound("device '\(id)' does not exist or is already deactivated")
            }
            return Response(status: .noContent)
        }

        router.put("/v1/devices/:id/profile") { request, context -> Response in
            try await api.auth.requireAdmin(request)
            let id = try pathParameter("id", context)
            var request = request
            let body = try await RequestBody.data(&request, limit: api.maximumBodyBytes)
            let profile = try parseProfile(body)
            guard let device = try await api.store({ try FleetRepository.device(id: id, connection: $0) }), device.active else {
                throw APIError.notFound("device '\(id)' does not exist")
            }
            try await checkProfileLayers(profile, model: device.modelName, api)
            try await api.store { try FleetRepository.putDeviceProfile(deviceID: id, profileJSON: String(decoding: body, as: UTF8.self), connection: $0) }
            return JSONResponse.make(object: ["device": id, "layers": profile.secondsPerSample.count])
        }
    }

    /// Checks a device body's values, references, callback URL (SSRF guard) and that its model can
    /// be split under its raw-upload rule.
    static func validatedSettings(_ body: API.DeviceBody, _ api: APIDependencies) async throws -> DeviceSettings {
        try Check.identifier(body.model, "model")
        try Check.identifier(body.edgeServer, "edge_server")
        try Check.range(body.batchSize, 1...1_000_000, "batch_size")
        try Check.positive(body.computeFLOPs, "compute_flops")
        if let memory = body.memoryBytes, memory <= 0 { throw APIError.invalid("memory_bytes", "must be > 0") }
        if let version = body.modelVersion, version < 1 { throw APIError.invalid("model_version", "must be >= 1") }
        if let url = body.callbackURL {
            do {
                _ = try api.policy.vet(url)
            } catch let error as WebhookError {
                throw APIError.invalid("callback_url", error.description)
            }
        }
        let settings = DeviceSettings(modelName: body.model, modelVersion: body.modelVersion, edgeServerID: body.edgeServer,
                                      batchSize: body.batchSize, computeFLOPs: body.computeFLOPs, memoryBytes: body.memoryBytes,
                                      allowRawUpload: body.allowRawUpload ?? false, callbackURL: body.callbackURL)
        // The model must exist and be splittable with this device's raw-upload rule.
        let stored = try await api.store { try ModelRepository.find(name: body.model, version: body.modelVersion, connection: $0) }
        guard let stored else {
            throw APIError.invalid(body.modelVersion == nil ? "model" : "model_version", "model '\(body.model)'\(body.modelVersion.map { " version \($0)" } ?? "") does not exist")
        }
        do {
            _ = try await api.store { connection in
                try api.cache.prepared(ModelCache.Key(model: stored.name, version: stored.version, allowRawUpload: settings.allowRawUpload), connection: connection)
            }
        } catch let error as PlanningError {
            throw APIError.invalid("allow_raw_upload", error.description)
        }
        return settings
    }

    static func parseProfile(_ body: Data) throws -> LayerProfile {
        do {
            return try LayerProfile(json: body)
        } catch let error as ProfileError {
            throw APIError(.unprocessableContent, "invalid_profile", error.description, field: error.field)
        }
    }

    /// A profile must name layers of the model it is for.
    static func checkProfileLayers(_ profile: LayerProfile, model: String, _ api: APIDependencies) async throws {
        guard let stored = try await api.store({ try ModelRepository.find(name: model, connection: $0) }) else {
            throw APIError.invalid("model", "model '\(model)' does not exist")
        }
        let graph = try ModelGraph(json: Data(stored.graphJSON.utf8))
        let unknown = profile.unknownLayers(in: graph)
        if !unknown.isEmpty {
            throw APIError.invalid("layers", "\(unknown.count) profiled layer(s) are not in model '\(model)': \(unknown.prefix(5).joined(separator: ", "))")
        }
    }
}
