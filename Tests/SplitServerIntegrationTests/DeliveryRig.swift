import Foundation
import Logging
import SplitCore
import SplitIntegrationSupport
import SplitPush
import SplitStore

@testable import SplitServer

/// A `DeliveryService` in this process on a real test database, with devices registered and
/// plans stored through the repositories (no planning loop: a test decides when plans appear),
/// for tests that time deliveries to real HTTP receivers.
final class DeliveryRig: @unchecked Sendable {
    static let secrets = try! SecretBox(keyBytes: Array(0..<32))

    let database: TestDatabase
    let connection: PostgresConnection
    let pool: ConnectionPool
    let service: DeliveryService
    private var task: Task<Void, Error>?

    init(
        timeoutSeconds: Double, retryDelays: [Double] = Array(repeating: 0.3, count: 40), leaseSeconds: Double? = nil,
        function: String = #function
    ) throws {
        database = try TestDatabase.make(function: function)
        connection = try database.connect()
        pool = ConnectionPool(url: database.url, maximumConnections: 8)
        var logger = Logger(label: "delivery-test")
        logger.logLevel = .critical
        service = DeliveryService(
            pool: pool, secrets: Self.secrets, client: WebhookClient(timeoutSeconds: timeoutSeconds),
            policy: try TargetPolicy(allowList: ["127.0.0.1", "::1"]), planning: .recommended,
            schedule: RetrySchedule(delays: retryDelays, jitter: 0), owner: "rig", batchSize: 256, workers: 2,
            leaseSeconds: leaseSeconds ?? timeoutSeconds + ServerConfiguration.leaseMarginSeconds, metrics: ServerMetrics.shared,
            logger: logger)
        _ = try ModelRepository.store(try Self.graph(), connection: connection)
        _ = try EdgeServerRepository.create(id: "edge-1", computeFLOPs: 2e13, connection: connection)
    }

    static func graph() throws -> ModelGraph {
        try ModelGraph(
            name: "tiny",
            layers: [
                Layer(name: "x", outputBytes: 1000),
                Layer(name: "a", inputs: ["x"], forwardFLOPs: 1e9, backwardFLOPs: 2e9, outputBytes: 500),
                Layer(name: "b", inputs: ["a"], forwardFLOPs: 4e9, backwardFLOPs: 4e9, outputBytes: 10),
            ])
    }

    /// Registers a device whose webhooks go to `callback`.
    func register(_ id: String, callback: String) throws {
        _ = try DeviceRepository.register(
            id: id,
            settings: DeviceSettings(modelName: "tiny", edgeServerID: "edge-1", batchSize: 32, computeFLOPs: 1e11, callbackURL: callback),
            secrets: Self.secrets, connection: connection)
    }

    /// Stores a new plan (and so a delivery) for each device, in one transaction.
    func storePlans(for devices: [String], uplink: Double = 1e7, predictedDelaySeconds: Double = 1.5) throws {
        let plans = devices.map { device in
            NewPlan(
                deviceID: device, modelName: "tiny", modelVersion: 1, algorithm: "block",
                conditions: PlanningConditions(
                    batchSize: 32, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 2e13,
                    uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: 2 * uplink, rttSeconds: 0.01),
                deviceLayers: ["x", "a"], cutLayers: ["a"], splitFingerprint: "tiny-x-a", predictedDelaySeconds: predictedDelaySeconds,
                transferBytes: 16000,
                breakdown: DelayBreakdown(
                    deviceComputeSeconds: 1, serverComputeSeconds: 0.1, uplinkSeconds: 0.2, downlinkSeconds: 0.19, rttSeconds: 0.01),
                solveMicroseconds: 2.5, reason: .newDevice, deliver: true)
        }
        try connection.transaction { _ = try PlanRepository.store(plans, connection: connection) }
    }

    /// When each delivery was enqueued (its plan stored), by message id.
    func enqueuedAt() throws -> [String: Date] {
        let rows = try connection.query("SELECT id, extract(epoch FROM created_at)::float8 AS at FROM webhook_deliveries")
        var times: [String: Date] = [:]
        for row in 0..<rows.rowCount {
            if let id = rows.string(row, "id"), let at = rows.double(row, "at") { times[id] = Date(timeIntervalSince1970: at) }
        }
        return times
    }

    /// Status, attempts and last error of the newest delivery of `device`.
    func delivery(of device: String) throws -> (status: String, attempts: Int, error: String?)? {
        let rows = try connection.query(
            "SELECT status, attempts, last_error FROM webhook_deliveries WHERE device_id = $1 ORDER BY plan_id DESC LIMIT 1", [device])
        guard rows.rowCount == 1, let status = rows.string(0, "status"), let attempts = rows.int(0, "attempts") else { return nil }
        return (status, attempts, rows.string(0, "last_error"))
    }

    func start() {
        let service = self.service
        task = Task { try await service.run() }
    }

    /// Stops the workers (requests in flight finish or time out), closes the pool, drops the database.
    func stop() async {
        task?.cancel()
        _ = try? await task?.value
        await pool.close()
        connection.close()
        database.drop()
    }
}

extension Array where Element == Double {
    /// The `fraction` quantile (nearest rank) of the values.
    func quantile(_ fraction: Double) -> Double {
        guard !isEmpty else { return .nan }
        let sorted = self.sorted()
        return sorted[Swift.min(sorted.count - 1, Swift.max(0, Int((fraction * Double(sorted.count)).rounded(.up)) - 1))]
    }
}
