import Foundation
import SplitCore
import SplitIntegrationSupport
import Testing

@testable import SplitStore

/// Group commit at the store: several requests' batches in one transaction must leave exactly
/// what ingesting them one after the other leaves (rows, estimates, re-plan marks), each batch
/// all-or-nothing on its own.
@Suite("Telemetry group ingest")
struct TelemetryGroupTests {
    /// A fleet whose devices were all last evaluated at 10/20 Mbit/s, 10 ms, 1e11 FLOP/s, with no
    /// plan requested, so telemetry decides which get marked.
    static func evaluatedFleet(_ connection: PostgresConnection, devices: Int) throws -> [String] {
        let ids = try Fixtures.fleet(connection, devices: devices)
        try connection.execute(
            """
            UPDATE planning_state SET requested_reason = NULL, requested_at = NULL, evaluated_at = now(), evaluated_uplink_bps = 1e7,
                   evaluated_downlink_bps = 2e7, evaluated_rtt_seconds = 0.01, evaluated_compute_flops = 1e11
            """)
        return ids
    }

    /// Everything ingest writes, in a comparable form.
    struct Snapshot: Equatable {
        var rows: [String]
        var estimates: [LinkEstimate]
        var marks: [String]

        init(_ connection: PostgresConnection) throws {
            let rows = try connection.query(
                """
                SELECT device_id || ' ' || measured_at || ' ' || uplink_bps || ' ' || downlink_bps || ' ' || rtt_seconds || ' '
                       || coalesce(compute_flops::text, '-') AS row
                FROM telemetry ORDER BY 1
                """)
            self.rows = (0..<rows.rowCount).compactMap { rows.string($0, "row") }
            estimates = try TelemetryRepository.estimates(connection: connection).sorted { $0.deviceID < $1.deviceID }
            let marks = try connection.query(
                "SELECT device_id || ':' || coalesce(requested_reason, '-') AS mark FROM planning_state ORDER BY device_id")
            self.marks = (0..<marks.rowCount).compactMap { marks.string($0, "mark") }
        }
    }

    /// Random small requests over a few devices: rates that cross the thresholds and come back,
    /// samples older than the estimate, several samples per request, optional compute, and
    /// requests naming a ghost device or carrying a revoked token.
    static func randomBatches(seed: UInt64, devices: [String], count: Int, hash: (String) -> String?) -> [TelemetryBatch] {
        var random = SplitMix64(seed: seed)
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        return (0..<count).map { index in
            let device = devices[random.int(0...devices.count - 1)]
            let token: String? =
                switch random.int(0...5) {
                case 0: nil  // an operator's batch
                case 1: DeviceToken.hash("sdt_revoked")
                default: hash(device)
                }
            var samples = (0..<(1 + random.int(0...2))).map { _ in
                TelemetrySample(
                    deviceID: device, measuredAt: start.addingTimeInterval(Double(index) * 20 + (random.unit() - 0.3) * 120),
                    uplinkBitsPerSecond: 1e7 * pow(10, random.unit() * 2 - 1), downlinkBitsPerSecond: 2e7 * pow(10, random.unit() - 0.5),
                    rttSeconds: 0.01 + random.unit() * 0.01, computeFLOPs: random.int(0...3) == 0 ? 1e11 * (0.5 + random.unit()) : nil)
            }
            // An operator's batch naming an unknown device now and then.
            if token == nil, random.int(0...2) == 0 { samples[samples.count - 1].deviceID = "ghost" }
            return TelemetryBatch(samples: samples, tokenHash: token)
        }
    }

    @Test("a group leaves the same rows, estimates and re-plan marks as ingesting its batches one by one, on random batches")
    func groupEqualsSequential() throws {
        for seed: UInt64 in [1, 2, 3, 4, 5, 6] {
            let grouped = try TestDatabase.make(), sequential = try TestDatabase.make()
            defer { grouped.drop(); sequential.drop() }
            let groupConnection = try grouped.connect(), sequentialConnection = try sequential.connect()
            defer { groupConnection.close(); sequentialConnection.close() }
            let devices = try Self.evaluatedFleet(groupConnection, devices: 6)
            _ = try Self.evaluatedFleet(sequentialConnection, devices: 6)
            // Each database issued its own tokens: the same batches, each carrying that database's hashes.
            func batches(_ connection: PostgresConnection) throws -> [TelemetryBatch] {
                let result = try connection.query("SELECT id, token_hash FROM devices")
                let hashes = Dictionary(
                    uniqueKeysWithValues: (0..<result.rowCount).map {
                        (
                            result.string($0, "id") ?? "",
                            result.string(
                                $0,
                                "token_hash")
                        )
                    })
                return Self.randomBatches(seed: seed, devices: devices, count: 80) { hashes[$0] ?? nil }
            }
            let groupBatches = try batches(groupConnection), sequentialBatches = try batches(sequentialConnection)

            var outcomes: [TelemetryBatchOutcome] = []
            for offset in stride(from: 0, to: groupBatches.count, by: 16) {
                outcomes += try TelemetryRepository.ingest(
                    batches: Array(groupBatches[offset..<min(groupBatches.count, offset + 16)]),
                    connection: groupConnection)
            }
            var expected: [TelemetryBatchOutcome] = []
            for batch in sequentialBatches { expected += try TelemetryRepository.ingest(batches: [batch], connection: sequentialConnection) }
            #expect(outcomes == expected, "seed \(seed)")
            #expect(
                outcomes.contains { if case .refused = $0 { true } else { false } } && outcomes.contains(.tokenRevoked),
                "seed \(seed) exercises refusals")
            let groupState = try Snapshot(groupConnection), sequentialState = try Snapshot(sequentialConnection)
            #expect(groupState.rows == sequentialState.rows, "seed \(seed): rows")
            #expect(groupState.estimates == sequentialState.estimates, "seed \(seed): estimates")
            #expect(groupState.marks == sequentialState.marks, "seed \(seed): marks")
            #expect(groupState.marks.contains { $0.hasSuffix(":telemetry change") }, "seed \(seed) marks devices: \(groupState.marks)")
            // Refused and revoked batches left nothing behind: the rows are exactly the stored batches' samples.
            let storedSamples = outcomes.reduce(0) { total, outcome in if case .stored(let count) = outcome { total + count } else { total } }
            #expect(groupState.rows.count == storedSamples && storedSamples > 0)
        }
    }

    @Test("a device is marked when its estimate after any batch of the group moved, even if a later batch moved it back")
    func marksFromIntermediateEstimates() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        defer { connection.close() }
        let devices = try Self.evaluatedFleet(connection, devices: 2)
        let start = Date()
        // Ten minutes apart (τ = 30 s), each sample all but replaces the estimate: 1 Gbit/s, then back to 10 Mbit/s.
        let away = TelemetryBatch(samples: [
            TelemetrySample(
                deviceID: devices[0], measuredAt: start.addingTimeInterval(-600),
                uplinkBitsPerSecond: 1e9, downlinkBitsPerSecond: 2e7, rttSeconds: 0.01)
        ])
        let back = TelemetryBatch(samples: [
            TelemetrySample(
                deviceID: devices[0], measuredAt: start, uplinkBitsPerSecond: 1e7,
                downlinkBitsPerSecond: 2e7, rttSeconds: 0.01)
        ])
        let steady = TelemetryBatch(samples: [
            TelemetrySample(
                deviceID: devices[1], measuredAt: start, uplinkBitsPerSecond: 1.05e7,
                downlinkBitsPerSecond: 2e7, rttSeconds: 0.01)
        ])
        #expect(try TelemetryRepository.ingest(batches: [away, back, steady], connection: connection) == [.stored(1), .stored(1), .stored(1)])
        let estimate = try #require(try TelemetryRepository.estimates(deviceIDs: [devices[0]], connection: connection).first)
        #expect(abs(estimate.uplinkBitsPerSecond / 1e7 - 1) < 0.01, "the final estimate is back near 10 Mbit/s")
        let marks = try connection.query("SELECT device_id, requested_reason FROM planning_state ORDER BY device_id")
        #expect(marks.string(0, "requested_reason") == PlanReason.telemetryChange.rawValue)
        #expect(marks.string(1, "requested_reason") == nil, "a 5% move stays under the 10% threshold")
    }

    @Test(
        """
        a batch with an unknown device, or whose token was rotated away or whose device was deactivated, stores nothing while its neighbours are \
        stored
        """)
    func refusalsAreIsolated() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        defer { connection.close() }
        let devices = try Fixtures.fleet(connection, devices: 4)
        func hash(_ device: String) throws -> String {
            try #require(
                connection.query(
                    "SELECT token_hash FROM devices WHERE id = $1",
                    [device]
                ).string(0, "token_hash"))
        }
        let oldHash = try hash(devices[1])
        // devices[1]: rotated with a grace period (the old token still works); devices[2]: rotated without; devices[3]: deactivated.
        _ = try DeviceCredentialRepository.rotateCredentials(
            deviceID: devices[1], token: true, webhookSecret: false, tokenGraceSeconds: 3600,
            secretOverlapSeconds: 0,
            rotatedBy: "test", secrets: Fixtures.secrets, connection: connection)
        let revokedHash = try hash(devices[2])
        _ = try DeviceCredentialRepository.rotateCredentials(
            deviceID: devices[2], token: true, webhookSecret: false, tokenGraceSeconds: 0,
            secretOverlapSeconds: 0,
            rotatedBy: "test", secrets: Fixtures.secrets, connection: connection)
        let deactivatedHash = try hash(devices[3])
        #expect(try DeviceRepository.deactivate(id: devices[3], connection: connection))
        func sample(_ device: String) -> TelemetrySample {
            TelemetrySample(deviceID: device, measuredAt: Date(), uplinkBitsPerSecond: 1e7, downlinkBitsPerSecond: 2e7, rttSeconds: 0.01)
        }
        let outcomes = try TelemetryRepository.ingest(
            batches: [
                TelemetryBatch(samples: [sample(devices[0])], tokenHash: try hash(devices[0])),
                TelemetryBatch(samples: [sample(devices[0]), sample("ghost")]),
                TelemetryBatch(samples: [sample(devices[1])], tokenHash: oldHash),
                TelemetryBatch(samples: [sample(devices[2])], tokenHash: revokedHash),
                TelemetryBatch(samples: [sample(devices[3])], tokenHash: deactivatedHash),
                TelemetryBatch(samples: [sample(devices[0])], tokenHash: try hash(devices[1])),
            ], connection: connection)
        #expect(outcomes[0] == .stored(1) && outcomes[2] == .stored(1))
        #expect(
            outcomes[1]
                == .refused(
                    StoreError(
                        .invalid, field: "samples[1].device",
                        "unknown or inactive device 'ghost'; nothing from this batch was stored")))
        #expect(outcomes[3] == .tokenRevoked, "a token rotated away without grace stores nothing")
        #expect(outcomes[4] == .tokenRevoked, "a deactivated device's token stores nothing")
        #expect(outcomes[5] == .tokenRevoked, "another device's token stores nothing")
        let stored = try connection.query("SELECT device_id FROM telemetry ORDER BY device_id")
        #expect((0..<stored.rowCount).compactMap { stored.string($0, "device_id") } == [devices[0], devices[1]])
    }
}
