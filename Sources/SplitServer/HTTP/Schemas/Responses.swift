import Foundation
import Hummingbird
import SplitCore
import SplitStore

/// Response bodies of the HTTP API (snake_case JSON, encoded by the request context's encoder).
enum Responses {
    struct EdgeServer: ResponseEncodable {
        var id: String
        var computeFLOPs: Double
        var createdAt: String
        var updatedAt: String

        enum CodingKeys: String, CodingKey {
            case id
            case computeFLOPs = "compute_flops"
            case createdAt = "created_at"
            case updatedAt = "updated_at"
        }

        init(_ server: SplitStore.EdgeServer) {
            id = server.id
            computeFLOPs = server.computeFLOPs
            createdAt = iso8601(server.createdAt)
            updatedAt = iso8601(server.updatedAt)
        }
    }

    struct EdgeServers: ResponseEncodable {
        var edgeServers: [EdgeServer]
        enum CodingKeys: String, CodingKey { case edgeServers = "edge_servers" }
    }

    struct Device: ResponseEncodable {
        var id: String
        var model: String
        var modelVersion: Int?
        var edgeServer: String
        var batchSize: Int
        var computeFLOPs: Double
        var memoryBytes: Int64?
        var allowRawUpload: Bool
        var callbackURL: String?
        var optimizer: Optimizer
        var push: PushMode
        var switching: SwitchingPolicy?
        var webhookEnabled: Bool
        var active: Bool
        var createdAt: String
        var updatedAt: String

        enum CodingKeys: String, CodingKey {
            case id, model, active, optimizer, push, switching
            case modelVersion = "model_version"
            case edgeServer = "edge_server"
            case batchSize = "batch_size"
            case computeFLOPs = "compute_flops"
            case memoryBytes = "memory_bytes"
            case allowRawUpload = "allow_raw_upload"
            case callbackURL = "callback_url"
            case webhookEnabled = "webhook_enabled"
            case createdAt = "created_at"
            case updatedAt = "updated_at"
        }

        init(_ device: SplitStore.Device) {
            id = device.id
            model = device.modelName
            modelVersion = device.modelVersion
            edgeServer = device.edgeServerID
            batchSize = device.batchSize
            computeFLOPs = device.computeFLOPs
            memoryBytes = device.memoryBytes
            allowRawUpload = device.allowRawUpload
            callbackURL = device.callbackURL
            optimizer = device.optimizer
            push = device.pushMode
            switching = device.switching
            webhookEnabled = device.webhookEnabled
            active = device.active
            createdAt = iso8601(device.createdAt)
            updatedAt = iso8601(device.updatedAt)
        }

        func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(model, forKey: .model)
            try container.encode(modelVersion, forKey: .modelVersion)  // null: follows the latest
            try container.encode(edgeServer, forKey: .edgeServer)
            try container.encode(batchSize, forKey: .batchSize)
            try container.encode(computeFLOPs, forKey: .computeFLOPs)
            try container.encode(memoryBytes, forKey: .memoryBytes)
            try container.encode(allowRawUpload, forKey: .allowRawUpload)
            try container.encode(callbackURL, forKey: .callbackURL)
            try container.encode(optimizer, forKey: .optimizer)
            try container.encode(push, forKey: .push)
            try container.encode(switching, forKey: .switching)  // null: the daemon's rule
            try container.encode(webhookEnabled, forKey: .webhookEnabled)
            try container.encode(active, forKey: .active)
            try container.encode(createdAt, forKey: .createdAt)
            try container.encode(updatedAt, forKey: .updatedAt)
        }
    }

    struct Devices: ResponseEncodable {
        var devices: [Device]
    }

    /// Credentials, shown once: at registration and after a rotation.
    struct Credentials: ResponseEncodable {
        var id: String
        var token: String?
        var webhookSecret: String?
        /// Until when the previous token keeps working (null: it stopped at once).
        var previousTokenValidUntil: String?
        /// Until when the previous secret keeps signing beside the new one.
        var previousSecretValidUntil: String?

        enum CodingKeys: String, CodingKey {
            case id, token
            case webhookSecret = "webhook_secret"
            case previousTokenValidUntil = "previous_token_valid_until"
            case previousSecretValidUntil = "previous_secret_valid_until"
        }
    }

    struct RegisteredModel: ResponseEncodable {
        var name: String
        var version: Int
        var layers: Int
        var blocks: Int
        var created: Bool
    }

    struct Model: ResponseEncodable {
        var name: String
        var version: Int
        var layers: Int
        var blocks: Int
        var sha256: String
        var createdAt: String
        var versions: Int?
        var graph: ModelGraph?

        enum CodingKeys: String, CodingKey {
            case name, version, layers, blocks, sha256, versions, graph
            case createdAt = "created_at"
        }

        init(_ model: StoredModel, versions: Int? = nil, graph: ModelGraph? = nil) {
            name = model.name
            version = model.version
            layers = model.layerCount
            blocks = model.blockCount
            sha256 = model.sha256
            createdAt = iso8601(model.createdAt)
            self.versions = versions
            self.graph = graph
        }
    }

    struct Models: ResponseEncodable {
        var models: [Model]
    }

    /// A stored plan: the shape of `GET /v1/devices/{id}/plan`, of each history entry, and of
    /// the `data` of a `split_plan.updated` webhook.
    struct Plan: ResponseEncodable {
        var id: Int64
        var device: String
        var model: String
        var modelVersion: Int
        var computedAt: String
        var algorithm: String
        var reason: String
        var deviceLayers: [String]
        var cutLayers: [String]
        /// The torch module of each cut layer (null for a layer at the model's top level); absent
        /// when the graph names no modules.
        var cutModules: [String?]?
        var predictedDelaySeconds: Double
        var transferBytes: Double
        var solveMicroseconds: Double
        var breakdown: DelayBreakdown
        /// The conditions it was planned for (optimizer and memory limit included).
        var inputs: PlanningConditions
        var supersededAt: String?
        /// The device memory its split needs, and whether the limit made it slower than the optimum.
        var deviceMemoryBytes: Int64?
        var memoryBound: Bool
        /// The plan table it came from (omitted in histories).
        var table: PlanTableReport?

        enum CodingKeys: String, CodingKey {
            case id, device, model, algorithm, reason, breakdown, inputs
            case modelVersion = "model_version"
            case computedAt = "computed_at"
            case deviceLayers = "device_layers"
            case cutLayers = "cut_layers"
            case cutModules = "cut_modules"
            case predictedDelaySeconds = "predicted_delay_seconds"
            case transferBytes = "transfer_bytes"
            case solveMicroseconds = "solve_microseconds"
            case supersededAt = "superseded_at"
            case deviceMemoryBytes = "device_memory_bytes"
            case memoryBound = "memory_bound"
            case table
        }

        init(_ plan: StoredPlan) {
            id = plan.id
            device = plan.deviceID
            model = plan.modelName
            modelVersion = plan.modelVersion
            computedAt = iso8601(plan.computedAt)
            algorithm = plan.algorithm
            reason = plan.reason
            deviceLayers = plan.deviceLayers
            cutLayers = plan.cutLayers
            cutModules = plan.cutModules.flatMap { modules in
                modules.allSatisfy(\.isEmpty) ? nil : modules.map { $0.isEmpty ? nil : $0 }
            }
            predictedDelaySeconds = plan.predictedDelaySeconds
            transferBytes = plan.transferBytes
            solveMicroseconds = plan.solveMicroseconds
            breakdown = plan.breakdown
            inputs = PlanningConditions(
                batchSize: plan.batchSize, deviceFLOPsPerSecond: plan.deviceFLOPs, serverFLOPsPerSecond: plan.serverFLOPs,
                uplinkBitsPerSecond: plan.uplinkBitsPerSecond, downlinkBitsPerSecond: plan.downlinkBitsPerSecond, rttSeconds: plan.rttSeconds,
                optimizer: plan.optimizer ?? .adam, deviceMemoryLimitBytes: plan.memoryLimitBytes)
            supersededAt = plan.supersededAt.map(iso8601)
            deviceMemoryBytes = plan.deviceMemoryBytes
            memoryBound = plan.memoryBound
            table = plan.tableJSON.flatMap { try? JSONDecoder().decode(PlanTableReport.self, from: Data($0.utf8)) }
        }

        func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(device, forKey: .device)
            try container.encode(model, forKey: .model)
            try container.encode(modelVersion, forKey: .modelVersion)
            try container.encode(computedAt, forKey: .computedAt)
            try container.encode(algorithm, forKey: .algorithm)
            try container.encode(reason, forKey: .reason)
            try container.encode(deviceLayers, forKey: .deviceLayers)
            try container.encode(cutLayers, forKey: .cutLayers)
            try container.encodeIfPresent(cutModules, forKey: .cutModules)
            try container.encode(predictedDelaySeconds, forKey: .predictedDelaySeconds)
            try container.encode(transferBytes, forKey: .transferBytes)
            try container.encode(solveMicroseconds, forKey: .solveMicroseconds)
            try container.encode(breakdown, forKey: .breakdown)
            try container.encode(inputs, forKey: .inputs)
            try container.encode(supersededAt, forKey: .supersededAt)  // null while in force
            try container.encodeIfPresent(deviceMemoryBytes, forKey: .deviceMemoryBytes)
            try container.encode(memoryBound, forKey: .memoryBound)
            try container.encodeIfPresent(table, forKey: .table)
        }
    }

    /// `GET /v1/devices/{id}/plan` of a device no split fits (409).
    /// `error` as every API error has it; `status` and `reason` as `splitctl plan --format json`
    /// and the `split_plan.infeasible` webhook say it.
    struct Infeasible: Encodable {
        var error = "infeasible"
        var status = "infeasible"
        var reason = "device_memory"
        var detail: String
        var requiredDeviceMemoryBytes: Int64
        var deviceMemoryLimitBytes: Int64?
        enum CodingKeys: String, CodingKey {
            case error, status, reason, detail
            case requiredDeviceMemoryBytes = "required_device_memory_bytes"
            case deviceMemoryLimitBytes = "device_memory_limit_bytes"
        }
    }

    struct PlanHistory: ResponseEncodable {
        var plans: [Plan]
        /// Pass as `before` to get the next page; absent on the last page.
        var nextBefore: String?
        enum CodingKeys: String, CodingKey {
            case plans
            case nextBefore = "next_before"
        }
    }

    struct ProfileStored: ResponseEncodable {
        var device: String?
        var edgeServer: String?
        var model: String?
        var layers: Int
        enum CodingKeys: String, CodingKey {
            case device, model, layers
            case edgeServer = "edge_server"
        }
    }

    struct Health: ResponseEncodable {
        var status: String
        var version: String
    }

    struct Readiness: ResponseEncodable {
        var status: String
        var schemaVersion: Int?
        var pending: [Int]?
        var detail: String?
        enum CodingKeys: String, CodingKey {
            case status, pending, detail
            case schemaVersion = "schema_version"
        }
    }
}

extension PlanReport: ResponseEncodable {}
