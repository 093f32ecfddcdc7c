import Foundation
import Hummingbird
import SplitCore
import SplitPush
import SplitStore

extension APIRoutes {
    /// Devices: registration, settings, deactivation, profiles and credentials (operators only).
    static func addDeviceRoutes(to group: RouterGroup<SplitRequestContext>, _ api: APIDependencies) {
        group.post("/v1/devices") { request, _ -> EditedResponse<Responses.Credentials> in
            var request = request
            let body = try await RequestBody.decode(Requests.Device.self, &request, limit: 1 << 20)
            guard let id = body.id else { throw APIError.invalid("id", "is required") }
            try await validate(body.settings, api)
            let link = body.link.map {
                TelemetrySample(
                    deviceID: id, measuredAt: Date(), uplinkBitsPerSecond: $0.uplinkBitsPerSecond,
                    downlinkBitsPerSecond: $0.downlinkBitsPerSecond, rttSeconds: $0.rttSeconds ?? 0)
            }
            let credentials = try await api.store.registerDevice(id: id, settings: body.settings, link: link)
            return EditedResponse(
                status: .created,
                response: Responses.Credentials(
                    id: id, token: credentials.token,
                    webhookSecret: credentials.webhookSecret))
        }

        group.get("/v1/devices/:id") { _, context in
            let id = try Check.pathParameter("id", context)
            guard let device = try await api.store.device(id: id) else { throw APIError.notFound("device '\(id)' does not exist") }
            return Responses.Device(device)
        }

        group.get("/v1/devices") { request, _ in
            let limit = try Check.queryInteger(request, "limit", 1...10_000) ?? 1000
            let after = try Query(request).get("after")
            return Responses.Devices(devices: try await api.store.devices(after: after, limit: limit).map { Responses.Device($0) })
        }

        group.put("/v1/devices/:id") { request, context in
            let id = try Check.pathParameter("id", context)
            var request = request
            let body = try await RequestBody.decode(Requests.Device.self, &request, limit: 1 << 20)
            if let bodyID = body.id, bodyID != id { throw APIError.invalid("id", "does not match the path ('\(id)')") }
            if body.link != nil { throw APIError.invalid("link", "is only accepted at registration; send telemetry instead") }
            try await validate(body.settings, api)
            return Responses.Device(try await api.store.updateDevice(id: id, settings: body.settings))
        }

        group.delete("/v1/devices/:id") { _, context -> Response in
            let id = try Check.pathParameter("id", context)
            guard try await api.auth.revoking(device: id, { try await api.store.deactivateDevice(id: id) }) else {
                throw APIError.notFound("device '\(id)' does not exist or is already deactivated")
            }
            return Response(status: .noContent)
        }

        group.put("/v1/devices/:id/profile") { request, context in
            let id = try Check.pathParameter("id", context)
            let force = try Query(request).get("force") == "true"
            var request = request
            let body = try await RequestBody.data(&request, limit: api.maximumBodyBytes)
            let profile = try Profiles.parse(body)
            guard let device = try await api.store.device(id: id), device.active else { throw APIError.notFound("device '\(id)' does not exist") }
            try await Profiles.check(profile, model: device.modelName, force: force, api)
            try await api.store.putDeviceProfile(deviceID: id, profileJSON: String(decoding: body, as: UTF8.self))
            return Responses.ProfileStored(device: id, layers: profile.secondsPerSample.count)
        }

        group.post("/v1/devices/:id/credentials") { request, context in
            let id = try Check.pathParameter("id", context)
            var request = request
            let body = try await RequestBody.decode(Requests.Credentials.self, &request, limit: 1 << 16)
            let rotated = try await api.auth.revoking(device: id) {
                try await api.store.rotateCredentials(deviceID: id, body.rotation, rotatedBy: context.actor)
            }
            context.logger.notice(
                "credentials rotated",
                metadata: [
                    "device": "\(id)", "token": "\(body.rotation.token)", "webhook_secret": "\(body.rotation.webhookSecret)",
                ])
            return Responses.Credentials(
                id: id, token: rotated.token, webhookSecret: rotated.webhookSecret,
                previousTokenValidUntil: rotated.previousTokenValidUntil.map(iso8601),
                previousSecretValidUntil: rotated.previousSecretValidUntil.map(iso8601))
        }
    }

    /// Checks a device's callback URL (SSRF guard) and that its model exists and can be split
    /// under its raw-upload rule.
    static func validate(_ settings: DeviceSettings, _ api: APIDependencies) async throws {
        if let url = settings.callbackURL {
            do {
                _ = try api.policy.vet(url)
            } catch let error as WebhookError {
                throw APIError.invalid("callback_url", error.description)
            }
        }
        do {
            _ = try await api.store.preparedModel(name: settings.modelName, version: settings.modelVersion, allowRawUpload: settings.allowRawUpload)
        } catch let error as StoreError where error.kind == .notFound {
            throw APIError.invalid(error.field ?? "model", error.message)
        } catch let error as PlanningError {
            throw APIError.invalid("allow_raw_upload", error.description)
        }
    }
}
