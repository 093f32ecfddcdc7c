import Foundation
import SplitCore
import SplitStore

/// Everything the HTTP API needs from storage, as one seam: `PostgresAPIStore` in the daemon,
/// an in-memory implementation in the route tests. Refusals are `StoreError`s (not found,
/// conflict, invalid with the field); an unreachable database is `StoreUnavailable`.
protocol APIStore: Sendable {
    // MARK: Models
    /// Stores a new version of `graph`'s model unless the same graph is stored; whether it was new.
    func registerModel(_ graph: ModelGraph) async throws -> (model: StoredModel, created: Bool)
    /// The latest version of every model.
    func latestModels() async throws -> [StoredModel]
    /// A model version (the latest when `version` is nil), and how many versions the model has.
    func model(name: String, version: Int?) async throws -> (model: StoredModel, versions: Int)?
    /// The model ready for planning under a raw-upload rule (throws `PlanningError` when it
    /// cannot be split under that rule, `StoreError.notFound` when it does not exist).
    func preparedModel(name: String, version: Int?, allowRawUpload: Bool) async throws -> PreparedModel

    // MARK: Edge servers
    func createEdgeServer(id: String, computeFLOPs: Double) async throws -> EdgeServer
    func updateEdgeServer(id: String, computeFLOPs: Double) async throws -> EdgeServer
    func edgeServer(id: String) async throws -> EdgeServer?
    func edgeServers() async throws -> [EdgeServer]
    func putServerProfile(edgeServerID: String, modelName: String, profileJSON: String) async throws

    // MARK: Devices
    /// Registers a device (and its first link, if given); its credentials, returned once.
    func registerDevice(id: String, settings: DeviceSettings, link: TelemetrySample?) async throws -> DeviceCredentials
    func device(id: String) async throws -> Device?
    func devices(after: String?, limit: Int) async throws -> [Device]
    func updateDevice(id: String, settings: DeviceSettings) async throws -> Device
    /// Deactivates a device; false when it did not exist or was already inactive.
    func deactivateDevice(id: String) async throws -> Bool
    func putDeviceProfile(deviceID: String, profileJSON: String) async throws
    /// New credentials for a device (see `DeviceCredentialRepository.rotateCredentials`).
    func rotateCredentials(deviceID: String, _ request: CredentialRotation, rotatedBy: String) async throws -> RotatedCredentials
    /// The active devices device tokens belong to, by the tokens' SHA-256 (hex), with how long
    /// a previous token has left; unknown or revoked ones are absent.
    func deviceTokenGrants(tokenHashes: [String]) async throws -> [String: DeviceTokenGrant]

    // MARK: Telemetry and plans
    /// Stores telemetry batches in one transaction, each all-or-nothing on its own (see
    /// `TelemetryRepository.ingest(batches:)`); one outcome per batch, in order.
    func ingest(batches: [TelemetryBatch]) async throws -> [TelemetryBatchOutcome]
    func currentPlan(deviceID: String) async throws -> StoredPlan?
    /// When no split fits the device's memory: the least memory any valid split needs, and its limit.
    func infeasibility(deviceID: String) async throws -> (requiredBytes: Int64, limitBytes: Int64?)?
    func planHistory(deviceID: String, limit: Int, before: Date?) async throws -> [StoredPlan]

    // MARK: Dashboard (read-only; see DashboardRepository)
    /// Devices by model, the splits in force and the devices in each state, from aggregates.
    func fleetOverview() async throws -> FleetOverview
    /// A page of the fleet table.
    func deviceStatuses(_ filter: DeviceFilter) async throws -> [DeviceStatus]
    /// A device's reported link since `since`, in at most `maximumPoints` averaged intervals.
    func linkSeries(deviceID: String, since: Date, maximumPoints: Int) async throws -> [LinkPoint]
    /// A device's latest deliveries (plans pushed and infeasible notices), newest first.
    func deliveries(deviceID: String, limit: Int) async throws -> [DeliveryRecord]
    /// The webhook outbox's health.
    func deliveryHealth(failureLimit: Int) async throws -> DeliveryHealth
    /// A device's refused moves (better splits the switching rule did not take), newest first.
    func refusedMoves(deviceID: String, limit: Int) async throws -> [RefusedMove]
    /// One plan of the history by id, with its table document.
    func plan(id: Int64) async throws -> StoredPlan?

    // MARK: Operations
    /// Migrations applied and pending (throws when the database is unreachable).
    func schemaStatus() async throws -> Migrator.Status
}

/// What a credential rotation asks for.
struct CredentialRotation: Sendable, Equatable {
    var token: Bool
    var webhookSecret: Bool
    /// How long the old token keeps working (0: it stops at once).
    var tokenGraceSeconds: Double
    /// How long the old secret keeps signing beside the new one (0: it stops at once).
    var secretOverlapSeconds: Double
}

/// The database cannot be reached; the API answers 503.
struct StoreUnavailable: Error, CustomStringConvertible {
    var description: String { "the database is not reachable" }
}
