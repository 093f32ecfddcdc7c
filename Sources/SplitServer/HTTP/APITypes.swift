import Foundation
import SplitCore
import SplitStore

/// Request and response bodies of the HTTP API (snake_case JSON).
enum API {
    struct EdgeServerBody: Decodable {
        var id: String?
        var computeFLOPs: Double
        enum CodingKeys: String, CodingKey {
            case id
            case computeFLOPs = "compute_flops"
        }
    }

    struct LinkBody: Decodable {
        var uplinkBitsPerSecond: Double
        var downlinkBitsPerSecond: Double
        var rttSeconds: Double?
        enum CodingKeys: String, CodingKey {
            case uplinkBitsPerSecond = "uplink_bps"
            case downlinkBitsPerSecond = "downlink_bps"
            case rttSeconds = "rtt_seconds"
        }
    }

    struct DeviceBody: Decodable {
        var id: String?
        var model: String
        var modelVersion: Int?
        var edgeServer: String
        var batchSize: Int
        var computeFLOPs: Double
        var callbackURL: String?
        var memoryBytes: Int64?
        var allowRawUpload: Bool?
        /// Optional first link measurement, so the device can be planned before telemetry arrives.
        var link: LinkBody?
        enum CodingKeys: String, CodingKey {
            case id, model, link
            case modelVersion = "model_version"
            case edgeServer = "edge_server"
            case batchSize = "batch_size"
            case computeFLOPs = "compute_flops"
            case callbackURL = "callback_url"
            case memoryBytes = "memory_bytes"
            case allowRawUpload = "allow_raw_upload"
        }
    }

    struct TelemetryBody: Decodable {
        var samples: [Sample]
        struct Sample: Decodable {
            var device: String
            var measuredAt: String
            var uplinkBitsPerSecond: Double
            var downlinkBitsPerSecond: Double
            var rttSeconds: Double
            var computeFLOPs: Double?
            enum CodingKeys: String, CodingKey {
                case device
                case measuredAt = "measured_at"
                case uplinkBitsPerSecond = "uplink_bps"
                case downlinkBitsPerSecond = "downlink_bps"
                case rttSeconds = "rtt_seconds"
                case computeFLOPs = "compute_flops"
            }
        }
    }

    /// `POST /v1/plan`: an inline graph or a registered model, and the conditions.
    struct PlanRequest: Decodable {
        var model: String?
        var modelVersion: Int?
        var batchSize: Int
        var deviceFLOPs: Double
        var serverFLOPs: Double
        var uplinkBitsPerSecond: Double
        var downlinkBitsPerSecond: Double
        var rttSeconds: Double?
        var algorithm: String?
        var allowRawUpload: Bool?
        enum CodingKeys: String, CodingKey {
            case model, algorithm
            case modelVersion = "model_version"
            case batchSize = "batch_size"
            case deviceFLOPs = "device_flops"
            case serverFLOPs = "server_flops"
            case uplinkBitsPerSecond = "uplink_bps"
            case downlinkBitsPerSecond = "downlink_bps"
            case rttSeconds = "rtt_seconds"
            case allowRawUpload = "allow_raw_upload"
        }
    }

    static func edgeServer(_ server: EdgeServer) -> [String: Any] {
        ["id": server.id, "compute_flops": server.computeFLOPs, "created_at": iso8601(server.createdAt), "updated_at": iso8601(server.updatedAt)]
    }

    static func device(_ device: Device) -> [String: Any] {
        var object: [String: Any] = [
            "id": device.id, "model": device.modelName, "edge_server": device.edgeServerID, "batch_size": device.batchSize,
            "compute_flops": device.computeFLOPs, "allow_raw_upload": device.allowRawUpload, "webhook_enabled": device.webhookEnabled,
            "active": device.active, "created_at": iso8601(device.createdAt), "updated_at": iso8601(device.updatedAt),
        ]
        object["model_version"] = device.modelVersion ?? NSNull()
        object["callback_url"] = device.callbackURL ?? NSNull()
        object["memory_bytes"] = device.memoryBytes.map { NSNumber(value: $0) } ?? NSNull()
        return object
    }

    static func model(_ model: StoredModel) -> [String: Any] {
        ["name": model.name, "version": model.version, "layers": model.layerCount, "blocks": model.blockCount,
         "sha256": model.sha256, "created_at": iso8601(model.createdAt)]
    }

    static func plan(_ plan: StoredPlan) -> [String: Any] {
        var object: [String: Any] = [
            "id": plan.id, "device": plan.deviceID, "model": plan.modelName, "model_version": plan.modelVersion,
            "computed_at": iso8601(plan.computedAt), "algorithm": plan.algorithm, "reason": plan.reason,
            "device_layers": plan.deviceLayers, "cut_layers": plan.cutLayers, "predicted_delay_seconds": plan.predictedDelaySeconds,
            "transfer_bytes": plan.transferBytes, "solve_microseconds": plan.solveMicroseconds,
            "breakdown": (try? JSONSerialization.jsonObject(with: Data(plan.breakdownJSON.utf8))) ?? [:],
            "inputs": ["uplink_bps": plan.uplinkBitsPerSecond, "downlink_bps": plan.downlinkBitsPerSecond, "rtt_seconds": plan.rttSeconds,
                       "device_flops": plan.deviceFLOPs, "server_flops": plan.serverFLOPs, "batch_size": plan.batchSize],
        ]
        object["superseded_at"] = plan.supersededAt.map(iso8601) ?? NSNull()
        return object
    }
}
