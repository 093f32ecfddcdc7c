import Foundation
import SplitCore
import SplitIntegrationSupport
import SplitTestSupport
import Testing

@testable import SplitStore

@Suite("Repositories")
struct RepositoryTests {
    /// The active device a bearer token belongs to, as the API's authentication finds it.
    static func device(ofToken token: String, _ connection: PostgresConnection) throws -> String? {
        let hash = DeviceToken.hash(token)
        return try DeviceCredentialRepository.tokenGrants(hashes: [hash], connection: connection)[hash]?.deviceID
    }

    @Test("models: same graph twice is the same version; a changed graph is a new version")
    func models() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        let first = try ModelRepository.store(try Fixtures.graph(name: Fixtures.hostileName), connection: connection)
        #expect(first.created && first.model.version == 1)
        #expect(first.model.name == Fixtures.hostileName)
        #expect(first.model.layerCount == 3 && first.model.blockCount == 1)
        let again = try ModelRepository.store(try Fixtures.graph(name: Fixtures.hostileName), connection: connection)
        #expect(!again.created && again.model.version == 1 && again.model.sha256 == first.model.sha256)
        var layers = try Fixtures.graph().layers
        layers[2].forwardFLOPs = 5e9
        let changed = try ModelRepository.store(try ModelGraph(name: Fixtures.hostileName, layers: layers), connection: connection)
        #expect(changed.created && changed.model.version == 2)
        let stored = try #require(try ModelRepository.find(name: Fixtures.hostileName, connection: connection))
        #expect(stored.version == 2)
        let reloaded = try ModelGraph(json: Data(stored.graphJSON.utf8))
        #expect(reloaded.layers[2].forwardFLOPs == 5e9)
        #expect(try ModelRepository.find(name: Fixtures.hostileName, version: 1, connection: connection)?.sha256 == first.model.sha256)
        #expect(try ModelRepository.latest(connection: connection).map(\.version) == [2])
    }

    @Test("edge servers, devices, tokens and profiles round-trip; names are stored verbatim")
    func fleet() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        _ = try ModelRepository.store(try Fixtures.graph(), connection: connection)
        let server = try EdgeServerRepository.create(id: Fixtures.hostileName, computeFLOPs: 2e13, connection: connection)
        #expect(server.id == Fixtures.hostileName)
        #expect(throws: StoreError.self) { try EdgeServerRepository.create(id: Fixtures.hostileName, computeFLOPs: 1, connection: connection) }
        let settings = DeviceSettings(
            modelName: "tiny", edgeServerID: Fixtures.hostileName, batchSize: 16, computeFLOPs: 3e10,
            memoryBytes: 8 << 30, allowRawUpload: true, callbackURL: "https://example.test/h")
        let credentials = try DeviceRepository.register(
            id: Fixtures.hostileName, settings: settings, secrets: Fixtures.secrets,
            connection: connection)
        #expect(credentials.token.hasPrefix("sdt_") && credentials.webhookSecret.hasPrefix("whsec_"))
        let device = try #require(try DeviceRepository.find(id: Fixtures.hostileName, connection: connection))
        #expect(device.batchSize == 16 && device.memoryBytes == 8 << 30 && device.allowRawUpload && device.active)
        // Only the token's hash is stored.
        let stored = try connection.query("SELECT token_hash FROM devices WHERE id = $1", [Fixtures.hostileName]).string(0, "token_hash")
        #expect(stored == DeviceToken.hash(credentials.token) && stored != credentials.token)
        #expect(try Self.device(ofToken: credentials.token, connection) == Fixtures.hostileName)
        #expect(try Self.device(ofToken: "sdt_wrong", connection) == nil)
        // Unknown references are refused.
        var bad = settings
        bad.modelName = "nope"
        #expect(throws: StoreError.self) {
            try DeviceRepository.register(
                id: "d2", settings: bad, secrets: Fixtures.secrets,
                connection: connection)
        }
        bad = settings
        bad.modelVersion = 7
        #expect(throws: StoreError.self) {
            try DeviceRepository.register(
                id: "d2", settings: bad, secrets: Fixtures.secrets,
                connection: connection)
        }
        // Update and deactivate.
        var changed = settings
        changed.batchSize = 64
        #expect(try DeviceRepository.update(id: Fixtures.hostileName, settings: changed, connection: connection).batchSize == 64)
        let reason = try connection.query("SELECT requested_reason FROM planning_state WHERE device_id = $1", [Fixtures.hostileName]).string(
            0,
            "requested_reason")
        #expect(reason == "device changed")
        try ProfileRepository.putDeviceProfile(
            deviceID: Fixtures.hostileName,
            profileJSON: #"{"format": "splitprofile/1", "batch_size": 1, "layers": {}}"#, connection: connection)
        #expect(try ProfileRepository.deviceProfile(deviceID: Fixtures.hostileName, connection: connection)?.contains("splitprofile/1") == true)
        try ProfileRepository.putServerProfile(
            edgeServerID: Fixtures.hostileName, modelName: "tiny", profileJSON: "{\"format\": \"splitprofile/1\"}",
            connection: connection)
        #expect(try ProfileRepository.serverProfile(edgeServerID: Fixtures.hostileName, modelName: "tiny", connection: connection) != nil)
        #expect(try DeviceRepository.deactivate(id: Fixtures.hostileName, connection: connection))
        #expect(try Self.device(ofToken: credentials.token, connection) == nil)
        #expect(try DeviceRepository.find(id: Fixtures.hostileName, connection: connection)?.active == false)
        // The devices table survived its hostile name.
        #expect(try connection.query("SELECT count(*) AS n FROM devices").int(0, "n") == 1)
    }

    @Test("credentials: a second rotation with a grace while the first one's runs is refused; a grace of 0 revokes every earlier token")
    func rotationGraces() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        defer { connection.close() }
        let device = try Fixtures.fleet(connection, devices: 1)[0]
        func rotate(grace: Double) throws -> RotatedCredentials {
            try DeviceCredentialRepository.rotateCredentials(
                deviceID: device, token: true, webhookSecret: false, tokenGraceSeconds: grace, secretOverlapSeconds: 0, rotatedBy: "test",
                secrets: Fixtures.secrets, connection: connection)
        }
        func hashes() throws -> [String?] {
            let row = try connection.query("SELECT token_hash, previous_token_hash FROM devices WHERE id = $1", [device])
            return [row.string(0, "token_hash"), row.string(0, "previous_token_hash")]
        }
        let original = try hashes()[0]
        let first = try rotate(grace: 60)
        let afterFirst = try hashes()
        #expect(first.previousTokenValidUntil != nil && afterFirst[1] == original)
        // The second would push the original token out while the first reply promised it 60 s.
        #expect {
            _ = try rotate(grace: 60)
        } throws: { error in
            (error as? StoreError)?.kind == .conflict && "\(error)".contains("grace runs until")
        }
        let afterRefusal = try hashes()
        #expect(afterRefusal[1] == original && afterRefusal[0] == first.token.map(DeviceToken.hash))
        // A grace of 0 is always allowed: it revokes the original and the first rotation's token at once.
        let revoking = try rotate(grace: 0)
        let afterRevoking = try hashes()
        #expect(afterRevoking == [revoking.token.map(DeviceToken.hash), nil])
    }

    @Test("telemetry: a batch with an unknown device stores nothing; estimates follow the EWMA")
    func telemetry() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        let devices = try Fixtures.fleet(connection, devices: 2)
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        let good = (0..<10).map {
            TelemetrySample(
                deviceID: devices[$0 % 2], measuredAt: start.addingTimeInterval(Double($0 * 10)),
                uplinkBitsPerSecond: 1e7, downlinkBitsPerSecond: 2e7, rttSeconds: 0.02)
        }
        #expect(throws: StoreError.self) {
            try TelemetryRepository.ingest(
                good + [
                    TelemetrySample(
                        deviceID: "ghost", measuredAt: start, uplinkBitsPerSecond: 1,
                        downlinkBitsPerSecond: 1, rttSeconds: 0)
                ], connection: connection)
        }
        #expect(try connection.query("SELECT count(*) AS n FROM telemetry").int(0, "n") == 0)
        #expect(try TelemetryRepository.ingest(good, connection: connection) == 10)
        let estimates = try TelemetryRepository.estimates(connection: connection)
        #expect(estimates.count == 2)
        #expect(estimates.allSatisfy { abs($0.uplinkBitsPerSecond - 1e7) < 1e-3 && $0.samples == 5 })
        // A jump to 1e8 after 30 s moves the (arithmetic, τ = 10 s) estimate by 1 - e^-3 of the way.
        try TelemetryRepository.ingest(
            [
                TelemetrySample(
                    deviceID: devices[0], measuredAt: start.addingTimeInterval(110), uplinkBitsPerSecond: 1e8,
                    downlinkBitsPerSecond: 2e7, rttSeconds: 0.02)
            ], connection: connection)
        let moved = try #require(try TelemetryRepository.estimates(deviceIDs: [devices[0]], connection: connection).first)
        let expected = 1e7 + (1 - exp(-30.0 / 10)) * (1e8 - 1e7)
        #expect(abs(moved.uplinkBitsPerSecond - expected) / expected < 1e-9)
        // An older sample is stored but does not move the estimate.
        try TelemetryRepository.ingest(
            [
                TelemetrySample(
                    deviceID: devices[0], measuredAt: start, uplinkBitsPerSecond: 1, downlinkBitsPerSecond: 1,
                    rttSeconds: 1)
            ], connection: connection)
        #expect(
            try TelemetryRepository.estimates(
                deviceIDs: [devices[0]],
                connection: connection
            ).first?.uplinkBitsPerSecond == moved.uplinkBitsPerSecond)
    }

    @Test("COPY of 100,000 telemetry rows across day boundaries creates the partitions; retention drops old ones")
    func bulkTelemetryAndPartitions() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        let devices = try Fixtures.fleet(connection, devices: 50)
        let now = Date()
        // 100,000 samples spread over the last 4 days (so 4-5 daily partitions).
        var samples: [TelemetrySample] = []
        for index in 0..<100_000 {
            let compute: Double? = index % 2 == 0 ? nil : 1e11
            let offset = -Double(index) * 3.4
            samples.append(
                TelemetrySample(
                    deviceID: devices[index % devices.count], measuredAt: now.addingTimeInterval(offset),
                    uplinkBitsPerSecond: 1e6 + Double(index), downlinkBitsPerSecond: 2e6, rttSeconds: 0.01,
                    computeFLOPs: compute))
        }
        #expect(try TelemetryRepository.ingest(samples, connection: connection) == 100_000)
        #expect(try connection.query("SELECT count(*) AS n FROM telemetry").int(0, "n") == 100_000)
        let partitions = try TelemetryRepository.partitions(connection: connection)
        #expect(partitions.count >= 4)
        // Every row sits in the partition of its UTC day.
        let misplaced = try connection.query(
            """
            SELECT count(*) AS n FROM telemetry WHERE tableoid::regclass::text <> 'telemetry_' || to_char(measured_at AT TIME ZONE 'UTC', 'YYYYMMDD')
            """
        ).int(0, "n")
        #expect(misplaced == 0)
        #expect(try connection.query("SELECT count(*) AS n FROM telemetry WHERE compute_flops IS NULL").int(0, "n") == 50_000)
        // Keep the last day only: partitions that ended over a day ago go.
        let dropped = try TelemetryRepository.dropPartitions(keepDays: 1, connection: connection)
        #expect(!dropped.isEmpty)
        let remaining = try TelemetryRepository.partitions(connection: connection)
        #expect(Set(remaining).isDisjoint(with: dropped))
        #expect(try connection.query("SELECT min(measured_at) AS oldest FROM telemetry").date(0, "oldest")! > now.addingTimeInterval(-3 * 86_400))
        // Creating ahead is idempotent.
        #expect(try TelemetryRepository.ensurePartitions(from: now, to: now.addingTimeInterval(2 * 86_400), connection: connection) == 2)
        #expect(try TelemetryRepository.ensurePartitions(from: now, to: now.addingTimeInterval(2 * 86_400), connection: connection) == 0)
    }

    @Test("plans: storing supersedes the current plan, drops its pending delivery, keeps one current plan, and shows in split_history")
    func plansAndHistory() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        let devices = try Fixtures.fleet(connection, devices: 3)
        let firstIDs = try connection.transaction { try PlanRepository.store(devices.map { Fixtures.plan(for: $0) }, connection: connection) }
        #expect(firstIDs.count == 3)
        let firstDelivery = try connection.query("SELECT id FROM webhook_deliveries WHERE plan_id = $1", [firstIDs[0]]).string(0, "id")!
        #expect(firstDelivery.hasPrefix("msg_"))
        var second = Fixtures.plan(for: devices[0], uplink: 5e7)
        second.reason = .telemetryChange
        second.deviceLayers = ["x", "a", "b\"quoted, odd"]
        second.splitFingerprint = "tiny-x-a-b"
        let secondIDs = try connection.transaction { try PlanRepository.store([second], connection: connection) }
        let current = try #require(try PlanRepository.current(deviceID: devices[0], connection: connection))
        #expect(current.id == secondIDs[0])
        #expect(current.deviceLayers == ["x", "a", "b\"quoted, odd"])
        #expect(current.reason == "telemetry change")
        #expect(try DeliveryRepository.status(id: firstDelivery, connection: connection)?.status == "superseded")
        let history = try PlanRepository.history(deviceID: devices[0], limit: 10, connection: connection)
        #expect(history.map(\.id) == [secondIDs[0], firstIDs[0]])
        #expect(history[1].supersededAt != nil)
        let view = try connection.query(
            "SELECT plan_id, valid_until, reason, delivery_status FROM split_history WHERE device = $1 ORDER BY valid_from", [devices[0]])
        #expect(view.rowCount == 2)
        #expect(view.string(0, "delivery_status") == "superseded" && view.date(0, "valid_until") != nil)
        #expect(view.string(1, "delivery_status") == "pending" && view.string(1, "valid_until") == nil)
        // The unique index forbids two current plans even if someone tries by hand.
        #expect(throws: PostgresError.self) {
            try connection.query("UPDATE plans SET superseded_at = NULL WHERE device_id = $1", [devices[0]])
        }
    }

    @Test("plans share their splits: one splits row per distinct split, found again by later batches")
    func plansShareSplits() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        let devices = try Fixtures.fleet(connection, devices: 7)
        var odd = Fixtures.plan(for: devices[5])
        odd.deviceLayers = ["x", "a", Fixtures.hostileName]
        odd.cutLayers = [Fixtures.hostileName]
        odd.splitFingerprint = "tiny-x-a-hostile"
        var serverOnly = Fixtures.plan(for: devices[6])  // raw upload allowed: nothing on the device
        serverOnly.deviceLayers = []
        serverOnly.cutLayers = []
        serverOnly.splitFingerprint = "tiny-none"
        let first = try connection.transaction {
            try PlanRepository.store([serverOnly] + devices.prefix(5).map { Fixtures.plan(for: $0) } + [odd], connection: connection)
        }
        #expect(first.count == 7)
        #expect(try connection.query("SELECT count(*) AS n FROM splits").int(0, "n") == 3)
        #expect(try connection.query("SELECT count(DISTINCT split_id) AS n FROM plans").int(0, "n") == 3)
        // A later batch with a known split reuses its row.
        _ = try connection.transaction { try PlanRepository.store([Fixtures.plan(for: devices[0], uplink: 3e7)], connection: connection) }
        #expect(try connection.query("SELECT count(*) AS n FROM splits").int(0, "n") == 3)
        let empty = try #require(try PlanRepository.current(deviceID: devices[6], connection: connection))
        #expect(empty.deviceLayers.isEmpty && empty.cutLayers.isEmpty)
        // The view gives every plan its layer lists back, names verbatim.
        let stored = try #require(try PlanRepository.current(deviceID: devices[5], connection: connection))
        #expect(stored.deviceLayers == ["x", "a", Fixtures.hostileName] && stored.cutLayers == [Fixtures.hostileName])
        #expect(try PlanRepository.current(deviceID: devices[0], connection: connection)?.deviceLayers == ["x", "a"])
        let digest = try connection.query("SELECT bool_and(digest = splitd_split_digest(device_layers)) AS ok FROM splits").bool(0, "ok")
        #expect(digest == true)
    }

    @Test("two writers adding the same new splits in opposite order both succeed and share the rows")
    func concurrentNewSplits() async throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let setup = try database.connect()
        let devices = try Fixtures.fleet(setup, devices: 4)
        func plan(_ device: String, second: Bool) -> NewPlan {
            var plan = Fixtures.plan(for: device)
            if second {
                plan.deviceLayers = ["x"]
                plan.cutLayers = ["x"]
                plan.splitFingerprint = "tiny-x"
            }
            return plan
        }
        let url = database.url
        let batches = [
            [plan(devices[0], second: false), plan(devices[1], second: true)],
            [plan(devices[2], second: true), plan(devices[3], second: false)],
        ]
        let stored = StoredWriters()
        let overlapped = StoredWriters()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (writer, batch) in batches.enumerated() {
                group.addTask {
                    try await onThread {
                        let connection = try PostgresConnection(url: url)
                        let monitor = try PostgresConnection(url: url)
                        defer { connection.close(); monitor.close() }
                        let backend = try connection.query("SELECT pg_backend_pid() AS pid").int(0, "pid") ?? 0
                        try connection.transaction {
                            _ = try PlanRepository.store(batch, connection: connection)
                            stored.insert(writer)
                            // Hold the new splits uncommitted until the other writer has stored its own
                            // or is waiting for ours: the two transactions overlap.
                            let arrived = eventuallyBlocking {
                                stored.count == 2
                                    || (try? monitor.query(
                                        """
                                        SELECT count(*) AS n FROM pg_stat_activity
                                        WHERE wait_event_type = 'Lock' AND datname = current_database() AND pid <> $1
                                        """,
                                        [backend]
                                    ).int(0, "n")) == 1
                            }
                            if arrived { overlapped.insert(writer) }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(overlapped.count == 2, "each writer held its transaction open until the other arrived")
        #expect(try setup.query("SELECT count(*) AS n FROM splits").int(0, "n") == 2)
        #expect(try setup.query("SELECT count(*) AS n FROM split_plans").int(0, "n") == 4)
        let shared = try setup.query(
            "SELECT count(DISTINCT split_id) AS n FROM plans WHERE device_id = ANY($1::text[])",
            [PostgresValue.textArray([devices[1], devices[2]])])
        #expect(shared.int(0, "n") == 1)
    }

    @Test("plan references are enforced per statement: unknown devices or splits, deleting used rows, rewriting history")
    func planReferences() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        let devices = try Fixtures.fleet(connection, devices: 2)
        let ids = try connection.transaction { try PlanRepository.store(devices.map { Fixtures.plan(for: $0) }, connection: connection) }
        func violation(_ sql: String, _ parameters: [any PostgresEncodable] = []) -> PostgresError? {
            do {
                try connection.query(sql, parameters)
                return nil
            } catch { return error as? PostgresError }
        }
        let insert = """
            INSERT INTO plans (device_id, split_id, algorithm, uplink_bps, downlink_bps, rtt_seconds, device_flops, server_flops,
                               batch_size, predicted_delay_seconds, transfer_bytes, device_compute_seconds, server_compute_seconds,
                               uplink_seconds, downlink_seconds, solve_microseconds, superseded_at, reason)
            SELECT $1, $2, 'block', 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, now(), 'requested'
            """
        let splitID = try #require(try connection.query("SELECT min(id) AS id FROM splits").int(0, "id"))
        let unknownDevice = violation(insert, ["no-such-device", splitID])
        #expect(unknownDevice?.sqlState == "23503" && unknownDevice?.message.contains("no-such-device") == true)
        let unknownSplit = violation(insert, [devices[0], splitID + 1000])
        #expect(unknownSplit?.sqlState == "23503" && unknownSplit?.message.contains("unknown split") == true)
        #expect(try connection.query("SELECT count(*) AS n FROM plans").int(0, "n") == 2, "nothing stored")
        // A bad row in a COPY batch rejects the whole batch.
        var stray = Fixtures.plan(for: "ghost")
        stray.splitFingerprint = Fixtures.plan(for: devices[0]).splitFingerprint
        #expect(throws: PostgresError.self) {
            try connection.transaction { try PlanRepository.store([Fixtures.plan(for: devices[1], uplink: 9e7), stray], connection: connection) }
        }
        #expect(try connection.query("SELECT count(*) AS n FROM plans").int(0, "n") == 2)
        #expect(violation("DELETE FROM devices WHERE id = $1", [devices[0]])?.sqlState == "23503")
        #expect(violation("DELETE FROM splits")?.sqlState == "23503")
        #expect(violation("UPDATE plans SET device_id = $1 WHERE id = $2", [devices[1], ids[0]])?.sqlState == "23000")
        #expect(violation("UPDATE plans SET superseded_at = now() WHERE id = $1", [ids[0]]) == nil, "superseding stays allowed")
        #expect(violation("UPDATE devices SET active = false WHERE id = $1", [devices[0]]) == nil, "deactivating stays allowed")
        // The outbox's references, checked per statement since 0006.
        let quiet = try connection.transaction {
            try PlanRepository.store([Fixtures.plan(for: devices[0], uplink: 5e7, deliver: false)], connection: connection)
        }
        let otherDevice = violation("INSERT INTO webhook_deliveries (id, plan_id, device_id) VALUES ('msg_x', $1, $2)", [quiet[0], devices[1]])
        #expect(otherDevice?.sqlState == "23503" && otherDevice?.message.contains("not for a plan of its device") == true)
        #expect(
            violation(
                "INSERT INTO webhook_deliveries (id, plan_id, device_id) VALUES ('msg_y', $1, $2)",
                [
                    ids[0] + 1000,
                    devices[0],
                ])?.sqlState == "23503")
        let delivered = violation("DELETE FROM plans WHERE id = $1", [ids[0]])
        #expect(delivered?.sqlState == "23503" && delivered?.message.contains("delete the delivery first") == true)
        #expect(violation("UPDATE webhook_deliveries SET device_id = $1 WHERE plan_id = $2", [devices[1], ids[0]])?.sqlState == "23000")
        #expect(try connection.query("SELECT count(*) AS n FROM webhook_deliveries").int(0, "n") == 2, "nothing added")
        #expect(
            violation(
                """
                WITH gone AS (DELETE FROM webhook_deliveries WHERE plan_id = $1) DELETE FROM plans WHERE id = $1
                """, [ids[1]]) == nil, "a plan goes with its delivery in one statement")
    }

    @Test("planning candidates are claimed with SKIP LOCKED: concurrent claimers get disjoint devices")
    func claimsAreDisjoint() async throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let setup = try database.connect()
        let devices = try Fixtures.fleet(setup, devices: 40)
        try TelemetryRepository.ingest(
            devices.map {
                TelemetrySample(
                    deviceID: $0, measuredAt: Date(), uplinkBitsPerSecond: 1e7,
                    downlinkBitsPerSecond: 2e7, rttSeconds: 0.01)
            }, connection: setup)
        let url = database.url
        // Two claimers hold their claims at the same time.
        let first = try database.connect(), second = try database.connect()
        try first.execute("BEGIN")
        try second.execute("BEGIN")
        let a = try PlanRepository.claimCandidates(limit: 25, connection: first)
        let b = try PlanRepository.claimCandidates(limit: 25, connection: second)
        #expect(a.count == 25 && b.count == 15)
        #expect(Set(a.map(\.deviceID)).isDisjoint(with: Set(b.map(\.deviceID))))
        #expect(Set(a.map(\.deviceID)).union(b.map(\.deviceID)) == Set(devices))
        #expect(a.allSatisfy { $0.requestedReason == .newDevice && $0.current == nil && $0.modelVersion == 1 })
        // The claim itself recorded the evaluation (what was planned for).
        let evaluated = try first.query(
            """
            SELECT count(*) AS n FROM planning_state
            WHERE device_id = ANY($1) AND requested_reason IS NULL AND evaluated_at IS NOT NULL
              AND evaluated_uplink_bps = 1e7 AND evaluated_model_version = 1
            """, [a.map(\.deviceID)])
        #expect(evaluated.int(0, "n") == 25)
        try first.execute("COMMIT")
        try second.execute("ROLLBACK")
        // Evaluated devices are not claimed again until something changes; the rolled-back ones are.
        let third = try PostgresConnection(url: url)
        let again = try third.transaction { try PlanRepository.claimCandidates(limit: 100, connection: third) }
        #expect(Set(again.map(\.deviceID)) == Set(b.map(\.deviceID)))
        // A link that moves beyond the threshold brings a device back.
        try TelemetryRepository.ingest(
            [
                TelemetrySample(
                    deviceID: a[0].deviceID, measuredAt: Date().addingTimeInterval(600), uplinkBitsPerSecond: 1e9,
                    downlinkBitsPerSecond: 2e7, rttSeconds: 0.01)
            ], connection: third)
        let moved = try third.transaction { try PlanRepository.claimCandidates(limit: 100, connection: third) }
        #expect(moved.contains { $0.deviceID == a[0].deviceID && $0.requestedReason == .telemetryChange })
    }

    @Test("deliveries: leases, fencing by owner, expired leases are reclaimed, dead after give-up")
    func deliveries() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        let devices = try Fixtures.fleet(connection, devices: 2)
        try connection.transaction { _ = try PlanRepository.store(devices.map { Fixtures.plan(for: $0) }, connection: connection) }
        let claimed = try DeliveryRepository.claim(owner: "a", limit: 10, leaseSeconds: 30, secrets: Fixtures.secrets, connection: connection)
        #expect(claimed.count == 2)
        #expect(
            claimed.allSatisfy {
                $0.attempt == 1 && $0.callbackURL == "http://127.0.0.1:9/hook" && $0.webhookSecrets.count == 1
                    && $0.webhookSecrets[0].hasPrefix("whsec_")
            })
        #expect(try DeliveryRepository.claim(owner: "b", limit: 10, leaseSeconds: 30, secrets: Fixtures.secrets, connection: connection).isEmpty)
        // Someone else cannot finish a delivery it does not hold.
        #expect(try !DeliveryRepository.markDelivered(id: claimed[0].id, owner: "b", statusCode: 200, connection: connection))
        #expect(try DeliveryRepository.markDelivered(id: claimed[0].id, owner: "a", statusCode: 204, connection: connection))
        // A crashed owner's lease expires and the delivery is claimed again, same id, next attempt.
        try connection.query("UPDATE webhook_deliveries SET lease_expires_at = now() - interval '1 second' WHERE id = $1", [claimed[1].id])
        let reclaimed = try DeliveryRepository.claim(owner: "b", limit: 10, leaseSeconds: 30, secrets: Fixtures.secrets, connection: connection)
        #expect(reclaimed.map(\.id) == [claimed[1].id])
        #expect(reclaimed[0].attempt == 2)
        #expect(
            try !DeliveryRepository.markFailed(
                id: claimed[1].id, owner: "a", statusCode: 500, error: "late", retryAt: Date(),
                connection: connection))
        #expect(
            try DeliveryRepository.markFailed(
                id: claimed[1].id, owner: "b", statusCode: 500, error: "server error",
                retryAt: Date().addingTimeInterval(3600), connection: connection))
        #expect(try DeliveryRepository.claim(owner: "c", limit: 10, leaseSeconds: 30, secrets: Fixtures.secrets, connection: connection).isEmpty)
        try connection.query("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = $1", [claimed[1].id])
        let third = try DeliveryRepository.claim(owner: "c", limit: 10, leaseSeconds: 30, secrets: Fixtures.secrets, connection: connection)
        #expect(
            try DeliveryRepository.markFailed(
                id: third[0].id, owner: "c", statusCode: 500, error: "gave up", retryAt: nil,
                connection: connection))
        #expect(try DeliveryRepository.status(id: third[0].id, connection: connection)?.status == "dead")
        // Releasing leases on shutdown makes them due again without costing an attempt.
        try connection.transaction { _ = try PlanRepository.store([Fixtures.plan(for: devices[0], uplink: 3e7)], connection: connection) }
        let held = try DeliveryRepository.claim(owner: "d", limit: 10, leaseSeconds: 300, secrets: Fixtures.secrets, connection: connection)
        #expect(try DeliveryRepository.releaseLeases(owner: "d", connection: connection) == 1)
        let back = try DeliveryRepository.claim(owner: "e", limit: 10, leaseSeconds: 300, secrets: Fixtures.secrets, connection: connection)
        #expect(back.map(\.id) == held.map(\.id) && back[0].attempt == 1)
        // Deliveries of a deactivated device die instead of being sent.
        try connection.query("UPDATE webhook_deliveries SET status = 'pending', lease_owner = NULL WHERE id = $1", [back[0].id])
        _ = try DeviceRepository.deactivate(id: devices[0], connection: connection)
        #expect(try DeliveryRepository.claim(owner: "f", limit: 10, leaseSeconds: 30, secrets: Fixtures.secrets, connection: connection).isEmpty)
    }

    @Test("leases: one owner at a time; the fencing token grows when the lease changes hands")
    func leases() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        let a = try #require(try LeaseRepository.acquire(name: "maintenance", owner: "a", ttlSeconds: 30, connection: connection))
        #expect(try LeaseRepository.acquire(name: "maintenance", owner: "b", ttlSeconds: 30, connection: connection) == nil)
        let renewed = try #require(try LeaseRepository.acquire(name: "maintenance", owner: "a", ttlSeconds: 30, connection: connection))
        #expect(renewed.fencingToken == a.fencingToken)
        try connection.query("UPDATE leases SET expires_at = now() - interval '1 second'")
        let b = try #require(try LeaseRepository.acquire(name: "maintenance", owner: "b", ttlSeconds: 30, connection: connection))
        #expect(b.fencingToken == a.fencingToken + 1)
        #expect(try connection.transaction { try !LeaseRepository.verify(a, connection: connection) })
        #expect(try connection.transaction { try LeaseRepository.verify(b, connection: connection) })
        try LeaseRepository.release(b, connection: connection)
        #expect(
            try LeaseRepository.acquire(
                name: "maintenance", owner: "c", ttlSeconds: 30,
                connection: connection)?.fencingToken == b.fencingToken + 1)
    }
}

/// Which concurrent writers have reached a point (shared between threads).
final class StoredWriters: @unchecked Sendable {
    private let lock = NSLock()
    private var writers = Set<Int>()

    func insert(_ writer: Int) { lock.withLock { _ = writers.insert(writer) } }
    var count: Int { lock.withLock { writers.count } }
}
