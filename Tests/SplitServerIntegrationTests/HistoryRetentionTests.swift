import Foundation
import Logging
import SplitBench
import SplitCore
import SplitIntegrationSupport
import SplitStore
import Testing

@testable import SplitServer

@Suite("History retention")
struct HistoryRetentionTests {
    /// `count` devices with two pushed plans each; the first plans' deliveries were delivered ten days ago.
    static func seed(_ connection: PostgresConnection, devices count: Int) throws {
        let graph = try ModelGraph(
            name: "tiny",
            layers: [
                Layer(name: "x", outputBytes: 1000), Layer(name: "a", inputs: ["x"], forwardFLOPs: 1e9, backwardFLOPs: 2e9, outputBytes: 10),
            ])
        _ = try ModelRepository.store(graph, connection: connection)
        _ = try EdgeServerRepository.create(id: "edge-1", computeFLOPs: 2e13, connection: connection)
        try connection.query(
            """
            INSERT INTO devices (id, model_name, edge_server_id, batch_size, compute_flops, webhook_secret, token_hash, callback_url)
            SELECT 'dev-' || g, 'tiny', 'edge-1', 32, 1e11, 's', md5('dev-' || g), 'http://127.0.0.1:9/hook' FROM generate_series(1, $1::int) g
            """, [count])
        for uplink in [1e7, 2e7] {
            let plans = (1...count).map { index in
                NewPlan(
                    deviceID: "dev-\(index)", modelName: "tiny", modelVersion: 1, algorithm: "block",
                    conditions: PlanningConditions(
                        batchSize: 32, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 2e13,
                        uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: 2e7, rttSeconds: 0.01),
                    deviceLayers: ["x"], cutLayers: ["x"], splitFingerprint: "tiny-x", predictedDelaySeconds: 1, transferBytes: 1000,
                    breakdown: DelayBreakdown(
                        deviceComputeSeconds: 0.5, serverComputeSeconds: 0.3, uplinkSeconds: 0.1, downlinkSeconds: 0.09,
                        rttSeconds: 0.01),
                    solveMicroseconds: 1, reason: .newDevice, deliver: true)
            }
            try connection.transaction { _ = try PlanRepository.store(plans, connection: connection) }
        }
        try connection.query(
            """
            UPDATE webhook_deliveries w SET status = 'delivered', created_at = now() - interval '10 days',
                   next_attempt_at = now() - interval '10 days', delivered_at = now() - interval '10 days'
            FROM plans p WHERE p.id = w.plan_id AND p.superseded_at IS NOT NULL
            """)
    }

    @Test("only the maintenance lease holder trims the outbox: a replica whose lease changed hands deletes nothing")
    func onlyTheLeaseHolderTrims() async throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        try Self.seed(connection, devices: 5)
        let count = { try connection.query("SELECT count(*) AS n FROM webhook_deliveries").int(0, "n") }
        let pool = ConnectionPool(url: database.url, maximumConnections: 2)
        let logger = Logger(label: "test")
        let first = MaintenanceService(pool: pool, owner: "a", retentionDays: 30, interval: 60, logger: logger, trimBatchSize: 2)
        let second = MaintenanceService(pool: pool, owner: "b", retentionDays: 30, interval: 60, logger: logger, trimBatchSize: 2)
        let leaseOfFirst = try #require(
            try LeaseRepository.acquire(
                name: MaintenanceService.leaseName, owner: "a", ttlSeconds: 3600,
                connection: connection))
        // The first replica stalls past its lease; the second takes over with a new fencing token.
        // (Leases of an hour: a loaded test machine can take minutes over this test.)
        try connection.query("UPDATE leases SET expires_at = now() - interval '1 second'")
        let leaseOfSecond = try #require(
            try LeaseRepository.acquire(
                name: MaintenanceService.leaseName, owner: "b", ttlSeconds: 3600,
                connection: connection))
        #expect(leaseOfSecond.fencingToken > leaseOfFirst.fencingToken)
        #expect(try await first.trimDeliveries(leaseOfFirst) == 0)
        #expect(try count() == 10)
        // The holder deletes the five old ones, two per transaction; the current plans' stay.
        #expect(try await second.trimDeliveries(leaseOfSecond) == 5)
        #expect(try count() == 5)
        #expect(try connection.query("SELECT count(*) AS n FROM split_history WHERE pushed").int(0, "n") == 10)
        await pool.close()
    }

    @Test("SPLITD_DELIVERY_RETENTION takes durations in days or hours; anything else stops splitd with exit 2 naming it")
    func retentionSetting() throws {
        #expect(try ServerConfiguration.load(environment: [:]).deliveryRetentionSeconds == 7 * 86_400)
        #expect(try ServerConfiguration.load(environment: ["SPLITD_DELIVERY_RETENTION": "36h"]).deliveryRetentionSeconds == 36 * 3600)
        #expect(try ServerConfiguration.load(environment: ["SPLITD_DELIVERY_RETENTION": "90d"]).deliveryRetentionSeconds == 90 * 86_400)
        for bad in ["7x", "ten days", "-1d", "0", "30s", "101000d"] {
            #expect(throws: ConfigurationError.self) { try ServerConfiguration.load(environment: ["SPLITD_DELIVERY_RETENTION": bad]) }
        }
        let output = try runSplitd(
            ["serve"], expectStatus: 2,
            environment: [
                "SPLITD_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "SPLITD_DELIVERY_RETENTION": "a week",
            ])
        #expect(output.contains("SPLITD_DELIVERY_RETENTION") && output.contains("a week"), "\(output)")
    }
}
