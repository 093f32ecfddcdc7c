import Foundation
import SplitCore

@testable import SplitServer
@testable import SplitStore

/// The API's storage in memory, for in-process route tests: the same refusals as the PostgreSQL
/// store (not found, conflict, invalid with the field), none of its durability.
actor InMemoryAPIStore: APIStore {
    private var models: [String: [StoredModel]] = [:]
    private var servers: [String: EdgeServer] = [:]
    private var deviceRecords: [String: Device] = [:]
    private var tokens: [String: String] = [:]
    private var plans: [String: [StoredPlan]] = [:]
    private var infeasible: [String: (requiredBytes: Int64, limitBytes: Int64?)] = [:]
    private(set) var samples: [TelemetrySample] = []
    private(set) var profiles: [String: String] = [:]
    private(set) var rotations: [(device: String, rotatedBy: String)] = []

    func registerModel(_ graph: ModelGraph) throws -> (model: StoredModel, created: Bool) {
        let json = String(decoding: graph.jsonData(), as: UTF8.self)
        if let same = models[graph.name]?.first(where: { $0.graphJSON == json }) { return (same, false) }
        let model = StoredModel(
            name: graph.name, version: (models[graph.name]?.count ?? 0) + 1, graphJSON: json, layerCount: graph.count,
            blockCount: graph.blockLabels.count, sha256: String(json.hashValue), createdAt: Date())
        models[graph.name, default: []].append(model)
        return (model, true)
    }

    func latestModels() -> [StoredModel] { models.values.compactMap(\.last).sorted { $0.name < $1.name } }

    func model(name: String, version: Int?) -> (model: StoredModel, versions: Int)? {
        guard let versions = models[name], let model = version.map({ v in versions.first { $0.version == v } }) ?? versions.last else { return nil }
        return (model, versions.count)
    }

    func preparedModel(name: String, version: Int?, allowRawUpload: Bool) throws -> PreparedModel {
        guard let (model, _) = model(name: name, version: version) else {
            throw StoreError(.notFound, field: version == nil ? "model" : "model_version", "model '\(name)' does not exist")
        }
        return try PreparedModel(graph: try ModelGraph(json: Data(model.graphJSON.utf8)), allowRawUpload: allowRawUpload)
    }

    func createEdgeServer(id: String, computeFLOPs: Double) throws -> EdgeServer {
        guard servers[id] == nil else { throw StoreError(.conflict, field: "id", "edge server '\(id)' already exists") }
        let server = EdgeServer(id: id, computeFLOPs: computeFLOPs, createdAt: Date(), updatedAt: Date())
        servers[id] = server
        return server
    }

    func updateEdgeServer(id: String, computeFLOPs: Double) throws -> EdgeServer {
        guard var server = servers[id] else { throw StoreError(.notFound, field: "id", "edge server '\(id)' does not exist") }
        server.computeFLOPs = computeFLOPs
        servers[id] = server
        return server
    }

    func edgeServer(id: String) -> EdgeServer? { servers[id] }
    func edgeServers() -> [EdgeServer] { servers.values.sorted { $0.id < $1.id } }

    func putServerProfile(edgeServerID: String, modelName: String, profileJSON: String) throws {
        guard servers[edgeServerID] != nil else { throw StoreError(.notFound, field: "id", "edge server '\(edgeServerID)' does not exist") }
        profiles["\(edgeServerID)/\(modelName)"] = profileJSON
    }

    func registerDevice(id: String, settings: DeviceSettings, link: TelemetrySample?) throws -> DeviceCredentials {
        guard deviceRecords[id] == nil else { throw StoreError(.conflict, field: "id", "device '\(id)' already exists") }
        guard servers[settings.edgeServerID] != nil else {
            throw StoreError(.invalid, field: "edge_server", "edge server '\(settings.edgeServerID)' does not exist")
        }
        deviceRecords[id] = Device(
            id: id, modelName: settings.modelName, modelVersion: settings.modelVersion, edgeServerID: settings.edgeServerID,
            batchSize: settings.batchSize, computeFLOPs: settings.computeFLOPs, memoryBytes: settings.memoryBytes,
            allowRawUpload: settings.allowRawUpload, callbackURL: settings.callbackURL, optimizer: settings.optimizer,
            pushMode: settings.pushMode, webhookEnabled: true, active: true,
            createdAt: Date(), updatedAt: Date())
        let credentials = DeviceCredentials(
            token: "sdt_" + UUID().uuidString,
            webhookSecret: "whsec_" + Data(UUID().uuidString.utf8).base64EncodedString())
        tokens[credentials.token] = id
        if let link { samples.append(link) }
        return credentials
    }

    func device(id: String) -> Device? { deviceRecords[id] }

    func devices(after: String?, limit: Int) -> [Device] {
        let listed = deviceRecords.values.filter { device in device.active && (after.map { device.id > $0 } ?? true) }
        return Array(listed.sorted { $0.id < $1.id }.prefix(limit))
    }

    func updateDevice(id: String, settings: DeviceSettings) throws -> Device {
        guard var device = deviceRecords[id], device.active else { throw StoreError(.notFound, field: "id", "device '\(id)' does not exist") }
        device.modelName = settings.modelName
        device.batchSize = settings.batchSize
        device.computeFLOPs = settings.computeFLOPs
        device.callbackURL = settings.callbackURL
        deviceRecords[id] = device
        return device
    }

    func deactivateDevice(id: String) -> Bool {
        guard deviceRecords[id]?.active == true else { return false }
        deviceRecords[id]?.active = false
        return true
    }

    func putDeviceProfile(deviceID: String, profileJSON: String) throws { profiles[deviceID] = profileJSON }

    func rotateCredentials(deviceID: String, _ request: CredentialRotation, rotatedBy: String) throws -> RotatedCredentials {
        guard deviceRecords[deviceID]?.active == true else { throw StoreError(.notFound, field: "id", "device '\(deviceID)' does not exist") }
        rotations.append((deviceID, rotatedBy))
        var token: String?
        if request.token {
            if request.tokenGraceSeconds == 0 { tokens = tokens.filter { $0.value != deviceID } }
            token = "sdt_" + UUID().uuidString
            tokens[token!] = deviceID
        }
        return RotatedCredentials(
            token: token,
            webhookSecret: request.webhookSecret ? "whsec_" + Data(UUID().uuidString.utf8).base64EncodedString() : nil,
            previousTokenValidUntil: nil, previousSecretValidUntil: nil)
    }

    func deviceTokenGrants(tokenHashes: [String]) -> [String: DeviceTokenGrant] {
        var grants: [String: DeviceTokenGrant] = [:]
        for (token, device) in tokens where deviceRecords[device]?.active == true {
            let hash = FleetRepository.tokenHash(token)
            if tokenHashes.contains(hash) { grants[hash] = DeviceTokenGrant(deviceID: device) }
        }
        return grants
    }

    /// Group transactions seen, and the batches each held (for group commit tests).
    private(set) var groupSizes: [Int] = []

    func ingest(batches: [TelemetryBatch]) throws -> [TelemetryBatchOutcome] {
        groupSizes.append(batches.count)
        return batches.map { batch in
            if let hash = batch.tokenHash,
                !batch.samples.allSatisfy({ sample in
                    deviceRecords[sample.deviceID]?.active == true
                        && tokens.contains { FleetRepository.tokenHash($0.key) == hash && $0.value == sample.deviceID }
                })
            {
                return .tokenRevoked
            }
            if let index = batch.samples.firstIndex(where: { deviceRecords[$0.deviceID]?.active != true }) {
                return .refused(
                    StoreError(
                        .invalid, field: "samples[\(index)].device",
                        "unknown or inactive device '\(batch.samples[index].deviceID)'; nothing from this batch was stored"))
            }
            samples += batch.samples
            return .stored(batch.samples.count)
        }
    }

    func currentPlan(deviceID: String) -> StoredPlan? { plans[deviceID]?.last }
    func infeasibility(deviceID: String) -> (requiredBytes: Int64, limitBytes: Int64?)? { infeasible[deviceID] }

    /// Test setup: a device no split fits.
    func markInfeasible(_ deviceID: String, requiredBytes: Int64, limitBytes: Int64?) { infeasible[deviceID] = (requiredBytes, limitBytes) }
    func planHistory(deviceID: String, limit: Int, before: Date?) -> [StoredPlan] { Array((plans[deviceID] ?? []).reversed().prefix(limit)) }
    func schemaStatus() -> Migrator.Status { Migrator.Status(applied: [1, 2, 3], pending: []) }

    /// Test setup: a plan in force for a device.
    func addPlan(_ plan: StoredPlan) { plans[plan.deviceID, default: []].append(plan) }
}
