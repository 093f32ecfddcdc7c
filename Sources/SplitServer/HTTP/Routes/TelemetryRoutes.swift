import Foundation
import Hummingbird
import SplitStore

extension APIRoutes {
    /// The most samples one telemetry request may carry.
    static let maximumSamplesPerRequest = 10_000

    /// `POST /v1/telemetry`: all-or-nothing batches from operators or devices (their own only).
    static func addTelemetryRoutes(to router: Router<SplitRequestContext>, _ api: APIDependencies) {
        router.post("/v1/telemetry") { request, _ -> Response in
            let caller = try await api.auth.principal(request)
            var request = request
            let body = try await RequestBody.decode(API.TelemetryBody.self, from: &request, limit: 16 << 20)
            guard !body.samples.isEmpty else { throw APIError.invalid("samples", "must hold at least one sample") }
            guard body.samples.count <= maximumSamplesPerRequest else {
                throw APIError.tooLarge("at most \(maximumSamplesPerRequest) samples per request, got \(body.samples.count)")
            }
            let now = Date()
            let oldest = now.addingTimeInterval(-Double(api.telemetryRetentionDays) * 86_400)
            var samples: [TelemetrySample] = []
            samples.reserveCapacity(body.samples.count)
            for (index, sample) in body.samples.enumerated() {
                let path = "samples[\(index)]"
                try Check.identifier(sample.device, "\(path).device")
                if case .device(let own) = caller, own != sample.device {
                    throw APIError.forbidden("\(path).device: a device token may only send its own telemetry ('\(own)')")
                }
                guard let measuredAt = parseISO8601(sample.measuredAt) else {
                    throw APIError.invalid("\(path).measured_at", "must be an RFC 3339 timestamp like 2026-11-27T06:00:00Z")
                }
                guard measuredAt <= now.addingTimeInterval(600) else { throw APIError.invalid("\(path).measured_at", "is more than 10 minutes in the future") }
                guard measuredAt >= oldest else { throw APIError.invalid("\(path).measured_at", "is older than the \(api.telemetryRetentionDays)-day retention") }
                try Check.positive(sample.uplinkBitsPerSecond, "\(path).uplink_bps")
                try Check.positive(sample.downlinkBitsPerSecond, "\(path).downlink_bps")
                try Check.nonNegative(sample.rttSeconds, "\(path).rtt_seconds")
                if let compute = sample.computeFLOPs { try Check.positive(compute, "\(path).compute_flops") }
                samples.append(TelemetrySample(deviceID: sample.device, measuredAt: measuredAt, uplinkBitsPerSecond: sample.uplinkBitsPerSecond,
                                               downlinkBitsPerSecond: sample.downlinkBitsPerSecond, rttSeconds: sample.rttSeconds,
                                               computeFLOPs: sample.computeFLOPs))
            }
            let smoothing = api.smoothing, thresholds = api.thresholds
            let accepted = try await api.store { [samples] in
                try TelemetryRepository.ingest(samples, smoothing: smoothing, thresholds: thresholds, connection: $0)
            }
            api.metrics.telemetryStored(accepted)
            return JSONResponse.make(status: .accepted, object: ["accepted": accepted])
        }
    }
}
