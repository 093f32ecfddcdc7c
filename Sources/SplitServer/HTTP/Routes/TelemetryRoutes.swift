import Foundation
import Hummingbird
import SplitCore
import SplitStore

extension APIRoutes {
    /// `POST /v1/telemetry`: all-or-nothing batches from operators, or from a device (its own only),
    /// answered once stored (small ones are group-committed with concurrent requests).
    static func addTelemetryRoutes(to group: RouterGroup<SplitRequestContext>, _ api: APIDependencies) {
        group.post("/v1/telemetry") { request, context -> Response in
            var request = request
            let body = try await RequestBody.decode(Requests.Telemetry.self, &request, limit: 16 << 20)
            let now = Date()
            let oldest = now.addingTimeInterval(-Double(api.telemetryRetentionDays) * 86_400)
            var samples: [TelemetrySample] = []
            samples.reserveCapacity(body.samples.count)
            for (index, sample) in body.samples.enumerated() {
                let path = "samples[\(index)]"
                if case .device(let own) = context.principal, own != sample.device {
                    throw APIError.forbidden("\(path).device: a device token may only send its own telemetry ('\(own)')")
                }
                guard sample.measuredAt <= now.addingTimeInterval(600) else {
                    throw APIError.invalid(
                        "\(path).measured_at",
                        "is more than 10 minutes in the future")
                }
                guard sample.measuredAt >= oldest else {
                    throw APIError.invalid(
                        "\(path).measured_at",
                        "is older than the \(api.telemetryRetentionDays)-day retention")
                }
                samples.append(
                    TelemetrySample(
                        deviceID: sample.device, measuredAt: sample.measuredAt, uplinkBitsPerSecond: sample.link.uplinkBitsPerSecond,
                        downlinkBitsPerSecond: sample.link.downlinkBitsPerSecond, rttSeconds: sample.link.rttSeconds ?? 0,
                        computeFLOPs: sample.computeFLOPs, memoryBytes: sample.memoryBytes))
            }
            switch try await api.telemetry.ingest(TelemetryBatch(samples: samples, tokenHash: context.deviceTokenHash)) {
            case .stored(let accepted):
                api.metrics.telemetryStored(accepted)
                // Written directly: the hot path of every device, and the same bytes JSONEncoder makes.
                return Response(
                    status: .accepted, headers: [.contentType: "application/json; charset=utf-8"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: "{\"accepted\":\(accepted)}")))
            case .refused(let error):
                throw error
            case .tokenRevoked:
                // Revoked on another replica since this one cached the token.
                if case .device(let own) = context.principal { api.auth.tokens.evict(deviceID: own) }
                throw APIError.unauthorized("unknown or revoked token")
            }
        }
    }
}
