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
            pushMode: settings.pushMode, switching: settings.switching, webhookEnabled: true, active: true,
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
            let hash = DeviceToken.hash(token)
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
                        && tokens.contains { DeviceToken.hash($0.key) == hash && $0.value == sample.deviceID }
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

    // MARK: Dashboard

    private var deliveryRecords: [DeliveryRecord] = []
    private var refused: [String: [RefusedMove]] = [:]

    /// Test setup: a webhook delivery in the outbox.
    func addDelivery(_ delivery: DeliveryRecord) { deliveryRecords.append(delivery) }
    /// Test setup: a refused move.
    func addRefusedMove(_ move: RefusedMove) { refused[move.deviceID, default: []].append(move) }

    func fleetOverview() -> FleetOverview {
        var overview = FleetOverview()
        let statuses = deviceStatuses(DeviceFilter(limit: Int.max))
        overview.activeDevices = statuses.count
        overview.plannedDevices = statuses.filter { $0.planID != nil }.count
        overview.infeasibleDevices = statuses.filter { $0.infeasibleRequiredBytes != nil }.count
        overview.failingDevices = statuses.filter { $0.planningFailures > 0 }.count
        overview.webhookFailingDevices = statuses.filter(\.webhookFailing).count
        overview.models = Dictionary(grouping: statuses, by: \.modelName).map { FleetOverview.ModelCount(model: $0.key, devices: $0.value.count) }
            .sorted { ($0.devices, $1.model) > ($1.devices, $0.model) }
        let current = statuses.compactMap { status in plans[status.id]?.last.map { (status, $0) } }
        overview.splits = Dictionary(grouping: current) { "\($0.1.modelName)/\($0.1.cutLayers)" }.values.map { group in
            let plan = group[0].1
            return FleetOverview.SplitInForce(
                model: plan.modelName, modelVersion: plan.modelVersion, cutLayers: plan.cutLayers, devices: group.count,
                meanPredictedDelaySeconds: group.map(\.1.predictedDelaySeconds).reduce(0, +) / Double(group.count),
                examplePlanID: group.map(\.1.id).max() ?? plan.id)
        }
        .sorted { $0.devices > $1.devices }
        return overview
    }

    func deviceStatuses(_ filter: DeviceFilter) -> [DeviceStatus] {
        let candidates = deviceRecords.values.filter { device in
            (device.active || filter.id != nil) && (filter.id.map { device.id == $0 } ?? true) && (filter.after.map { device.id > $0 } ?? true)
                && (filter.model.map { device.modelName == $0 } ?? true) && (filter.idPrefix.map { device.id.hasPrefix($0) } ?? true)
        }
        let statuses = candidates.sorted { $0.id < $1.id }.map { device -> DeviceStatus in
            var status = DeviceStatus(
                id: device.id, modelName: device.modelName, modelVersion: device.modelVersion, edgeServerID: device.edgeServerID,
                pushMode: device.pushMode, active: device.active, callbackURL: device.callbackURL, webhookEnabled: device.webhookEnabled)
            if let plan = plans[device.id]?.last {
                status.planID = plan.id
                status.planComputedAt = plan.computedAt
                status.planReason = plan.reason
                status.cutLayers = plan.cutLayers
                status.predictedDelaySeconds = plan.predictedDelaySeconds
                if let delivery = deliveryRecords.last(where: { $0.planID == plan.id }) {
                    status.deliveryStatus = delivery.status
                    status.deliveryAttempts = delivery.attempts
                    status.deliveryError = delivery.lastError
                }
            }
            if let last = samples.last(where: { $0.deviceID == device.id }) {
                status.uplinkBitsPerSecond = last.uplinkBitsPerSecond
                status.downlinkBitsPerSecond = last.downlinkBitsPerSecond
                status.rttSeconds = last.rttSeconds
                status.linkMeasuredAt = last.measuredAt
                status.linkSamples = samples.filter { $0.deviceID == device.id }.count
            }
            if let (required, limit) = infeasible[device.id] {
                status.infeasibleRequiredBytes = required
                status.memoryLimitBytes = limit
            }
            status.noticeFailing = deliveryRecords.contains { $0.deviceID == device.id && $0.planID == nil && $0.status == "failed" }
            return status
        }
        return Array(statuses.filter { status in filter.state.map { status.states.contains($0) } ?? true }.prefix(filter.limit))
    }

    func linkSeries(deviceID: String, since: Date, maximumPoints: Int) -> [LinkPoint] {
        let points = samples.filter { $0.deviceID == deviceID && $0.measuredAt >= since }.sorted { $0.measuredAt < $1.measuredAt }.map {
            LinkPoint(
                measuredAt: $0.measuredAt, uplinkBitsPerSecond: $0.uplinkBitsPerSecond, downlinkBitsPerSecond: $0.downlinkBitsPerSecond,
                rttSeconds: $0.rttSeconds, samples: 1)
        }
        return Array(points.prefix(maximumPoints))
    }

    func deliveries(deviceID: String, limit: Int) -> [DeliveryRecord] {
        Array(deliveryRecords.filter { $0.deviceID == deviceID }.sorted { $0.createdAt > $1.createdAt }.prefix(limit))
    }

    func deliveryHealth(failureLimit: Int) -> DeliveryHealth {
        var health = DeliveryHealth()
        for delivery in deliveryRecords { health.countsByStatus[delivery.status, default: 0] += 1 }
        let unfinished = deliveryRecords.filter { $0.status == "pending" || $0.status == "failed" }
        health.oldestUnfinishedAt = unfinished.map(\.createdAt).min()
        health.due = unfinished.filter { $0.nextAttemptAt <= Date() }.count
        health.disabledReceivers = deviceRecords.values.filter { $0.active && !$0.webhookEnabled }.count
        let failures = deliveryRecords.filter { $0.status == "failed" || $0.status == "dead" }.sorted { $0.nextAttemptAt > $1.nextAttemptAt }
        health.recentFailures = Array(failures.prefix(failureLimit))
        let byHost = Dictionary(grouping: failures) { delivery in
            deviceRecords[delivery.deviceID]?.callbackURL.flatMap { URL(string: $0)?.host } ?? "(none)"
        }
        health.failingHosts = byHost.map { host, deliveries in
            DeliveryHealth.FailingHost(
                host: host, deliveries: deliveries.count, devices: Set(deliveries.map(\.deviceID)).count,
                lastError: deliveries.compactMap(\.lastError).first)
        }
        .sorted { $0.deliveries > $1.deliveries }
        return health
    }

    func refusedMoves(deviceID: String, limit: Int) -> [RefusedMove] {
        return Array((refused[deviceID] ?? []).sorted { $0.recordedAt > $1.recordedAt }.prefix(limit))
    }

    func plan(id: Int64) -> StoredPlan? { plans.values.joined().first { $0.id == id } }
}
