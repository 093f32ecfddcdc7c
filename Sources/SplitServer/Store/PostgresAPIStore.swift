import Foundation
import SplitCore
import SplitStore

/// The API's storage on PostgreSQL: the repositories of SplitStore over the connection pool.
struct PostgresAPIStore: APIStore {
    let pool: ConnectionPool
    let cache: ModelCache
    let migrator: Migrator
    let secrets: SecretBox
    let estimator: LinkEstimator
    let thresholds: ReplanThresholds

    /// Runs store work; connection failures become `StoreUnavailable`.
    func run<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        do {
            return try await pool.withConnection(body)
        } catch let error as PostgresError where error.isConnectionFailure {
            throw StoreUnavailable()
        }
    }

    func registerModel(_ graph: ModelGraph) async throws -> (model: StoredModel, created: Bool) {
        try await run { try ModelRepository.store(graph, connection: $0) }
    }

    func latestModels() async throws -> [StoredModel] { try await run { try ModelRepository.latest(connection: $0) } }

    func model(name: String, version: Int?) async throws -> (model: StoredModel, versions: Int)? {
        try await run { connection in
            guard let model = try ModelRepository.find(name: name, version: version, connection: connection) else { return nil }
            return (model, try ModelRepository.versionCount(name: name, connection: connection))
        }
    }

    func preparedModel(name: String, version: Int?, allowRawUpload: Bool) async throws -> PreparedModel {
        let cache = self.cache
        return try await run { connection in
            guard let stored = try ModelRepository.find(name: name, version: version, connection: connection) else {
                throw StoreError(
                    .notFound, field: version == nil ? "model" : "model_version",
                    "model '\(name)'\(version.map { " version \($0)" } ?? "") does not exist")
            }
            return try cache.prepared(
                ModelCache.Key(model: stored.name, version: stored.version, allowRawUpload: allowRawUpload),
                connection: connection)
        }
    }

    func createEdgeServer(id: String, computeFLOPs: Double) async throws -> EdgeServer {
        try await run { try EdgeServerRepository.create(id: id, computeFLOPs: computeFLOPs, connection: $0) }
    }

    func updateEdgeServer(id: String, computeFLOPs: Double) async throws -> EdgeServer {
        try await run { try EdgeServerRepository.update(id: id, computeFLOPs: computeFLOPs, connection: $0) }
    }

    func edgeServer(id: String) async throws -> EdgeServer? { try await run { try EdgeServerRepository.find(id: id, connection: $0) } }

    func edgeServers() async throws -> [EdgeServer] { try await run { try EdgeServerRepository.all(connection: $0) } }

    func putServerProfile(edgeServerID: String, modelName: String, profileJSON: String) async throws {
        try await run {
            try ProfileRepository.putServerProfile(
                edgeServerID: edgeServerID, modelName: modelName, profileJSON: profileJSON,
                connection: $0)
        }
    }

    func registerDevice(id: String, settings: DeviceSettings, link: TelemetrySample?) async throws -> DeviceCredentials {
        let secrets = self.secrets, estimator = self.estimator, thresholds = self.thresholds
        return try await run { connection in
            try connection.transaction {
                let credentials = try DeviceRepository.register(id: id, settings: settings, secrets: secrets, connection: connection)
                if let link { try TelemetryRepository.ingest([link], estimator: estimator, thresholds: thresholds, connection: connection) }
                return credentials
            }
        }
    }

    func device(id: String) async throws -> Device? { try await run { try DeviceRepository.find(id: id, connection: $0) } }

    func devices(after: String?, limit: Int) async throws -> [Device] {
        try await run { try DeviceRepository.active(after: after, limit: limit, connection: $0) }
    }

    func updateDevice(id: String, settings: DeviceSettings) async throws -> Device {
        try await run { try DeviceRepository.update(id: id, settings: settings, connection: $0) }
    }

    func deactivateDevice(id: String) async throws -> Bool { try await run { try DeviceRepository.deactivate(id: id, connection: $0) } }

    func putDeviceProfile(deviceID: String, profileJSON: String) async throws {
        try await run { try ProfileRepository.putDeviceProfile(deviceID: deviceID, profileJSON: profileJSON, connection: $0) }
    }

    func rotateCredentials(deviceID: String, _ request: CredentialRotation, rotatedBy: String) async throws -> RotatedCredentials {
        let secrets = self.secrets
        return try await run { connection in
            try DeviceCredentialRepository.rotateCredentials(
                deviceID: deviceID, token: request.token, webhookSecret: request.webhookSecret, tokenGraceSeconds: request.tokenGraceSeconds,
                secretOverlapSeconds: request.secretOverlapSeconds, rotatedBy: rotatedBy, secrets: secrets, connection: connection)
        }
    }

    func deviceTokenGrants(tokenHashes: [String]) async throws -> [String: DeviceTokenGrant] {
        try await run { try DeviceCredentialRepository.tokenGrants(hashes: tokenHashes, connection: $0) }
    }

    func ingest(batches: [TelemetryBatch]) async throws -> [TelemetryBatchOutcome] {
        let estimator = self.estimator, thresholds = self.thresholds
        return try await run { try TelemetryRepository.ingest(batches: batches, estimator: estimator, thresholds: thresholds, connection: $0) }
    }

    func currentPlan(deviceID: String) async throws -> StoredPlan? {
        try await run { try PlanRepository.current(deviceID: deviceID, connection: $0) }
    }

    func infeasibility(deviceID: String) async throws -> (requiredBytes: Int64, limitBytes: Int64?)? {
        try await run { try PlanRepository.infeasibility(deviceID: deviceID, connection: $0) }
    }

    func planHistory(deviceID: String, limit: Int, before: Date?) async throws -> [StoredPlan] {
        try await run { try PlanRepository.history(deviceID: deviceID, limit: limit, before: before, connection: $0) }
    }

    func schemaStatus() async throws -> Migrator.Status {
        let migrator = self.migrator
        return try await run { try migrator.verify($0) }
    }
}
