import Foundation
import SplitCore
import SplitIntegrationSupport
import Testing

@testable import SplitStore

@Suite("Delivery retention and history")
struct DeliveryRetentionTests {
    /// One crafted outbox row: the state it is put in, and whether trimming may delete it.
    struct Case {
        var status: String
        /// Last activity ten days ago (past a week's retention), else an hour ago.
        var old: Bool
        /// A lease that is still live (an attempt in flight), an expired one, or none.
        var lease: String?
        /// The delivery of the plan in force (kept whatever its age).
        var current = false

        var deletable: Bool {
            ["delivered", "dead", "superseded"].contains(status) && old && lease != "live" && !current
        }
    }

    /// Every status, old and recent, leased or not, of superseded plans; and old finished
    /// deliveries of plans in force.
    static let cases: [Case] = {
        var cases: [Case] = []
        for status in ["pending", "failed", "delivering", "delivered", "dead", "superseded"] {
            for old in [true, false] {
                for lease in [nil, "live", "expired"] as [String?] where lease == nil || ["delivering", "superseded"].contains(status) {
                    cases.append(Case(status: status, old: old, lease: lease))
                }
            }
        }
        for status in ["delivered", "dead", "superseded"] { cases.append(Case(status: status, old: true, current: true)) }
        return cases
    }()

    /// A device per case with two plans (the first superseded), each pushed; one device's second
    /// plan is not pushed. Puts each case's delivery in its state; returns (case, delivery id, plan id).
    static func populate(_ connection: PostgresConnection) throws -> [(Case, String, Int64)] {
        let devices = try Fixtures.fleet(connection, devices: cases.count + 1)
        let first = try connection.transaction { try PlanRepository.store(devices.map { Fixtures.plan(for: $0) }, connection: connection) }
        var second = devices.map { Fixtures.plan(for: $0, uplink: 5e7) }
        second[cases.count].deliver = false
        let current = try connection.transaction { try PlanRepository.store(second, connection: connection) }
        return try cases.enumerated().map { index, item in
            let plan = item.current ? current[index] : first[index]
            let id = try #require(try connection.query("SELECT id FROM webhook_deliveries WHERE plan_id = $1", [plan]).string(0, "id"))
            // Created ten days ago; the last activity (next attempt or delivery) is old or recent.
            let last = item.old ? "now() - interval '10 days'" : "now() - interval '1 hour'"
            let lease = item.lease == "live" ? "now() + interval '1 minute'" : item.lease == "expired" ? "now() - interval '1 minute'" : "NULL"
            try connection.query(
                """
                UPDATE webhook_deliveries SET status = $2, created_at = now() - interval '10 days', next_attempt_at = \(last),
                       delivered_at = CASE WHEN $2 = 'delivered' THEN \(last) END,
                       lease_owner = CASE WHEN (\(lease))::timestamptz IS NOT NULL THEN 'someone' END, lease_expires_at = \(lease)
                WHERE id = $1
                """, [id, item.status])
            return (item, id, plan)
        }
    }

    static let historyColumns = """
        device, plan_id, valid_from, valid_until, reason, model, model_version, algorithm, cut_layers, device_layer_count,
        predicted_delay_seconds, transfer_bytes, uplink_bps, downlink_bps, rtt_seconds, device_flops, server_flops, batch_size,
        breakdown, edge_server, split_id, table_id, memory_limit_bytes, device_memory_bytes, memory_bound, pushed
        """

    /// split_history as text, one line per plan: every column but the delivery's, then the delivery's.
    static func history(_ connection: PostgresConnection) throws -> [Int64: (plan: String, delivery: String)] {
        let result = try connection.query(
            """
            SELECT plan_id, row(\(historyColumns))::text AS plan, row(delivery_status, delivery_attempts, delivered_at)::text AS delivery
            FROM split_history
            """)
        var rows: [Int64: (String, String)] = [:]
        for row in 0..<result.rowCount {
            rows[Int64(try result.require(row, "plan_id", result.int))] = (
                try result.require(row, "plan", result.string),
                try result.require(row, "delivery", result.string)
            )
        }
        return rows
    }

    @Test("trimming deletes exactly the old delivered, superseded and dead deliveries, in batches, and keeps in-flight, waiting and current ones")
    func trimsExactlyTheOldFinishedDeliveries() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        let rows = try Self.populate(connection)
        let expected = Set(rows.filter { $0.0.deletable }.map(\.1))
        #expect(expected.count == 4 && rows.count - expected.count == 19, "the cases cover both sides")
        let total = try connection.query("SELECT count(*) AS n FROM webhook_deliveries").int(0, "n") ?? 0
        let before = try Self.history(connection)

        var position: TrimPosition?
        var deleted = 0, batches = 0, scanned = 0
        while batches < 100 {
            let batch = try connection.transaction {
                try DeliveryRepository.trimFinished(before: Date().addingTimeInterval(-7 * 86_400), after: position, limit: 2, connection: connection)
            }
            #expect(batch.scanned <= 2 && batch.deleted <= batch.scanned)
            deleted += batch.deleted
            scanned += batch.scanned
            batches += 1
            position = batch.position
            if batch.scanned < 2 { break }
        }
        #expect(deleted == expected.count)
        #expect(batches >= expected.count / 2, "two at a time")
        // Each old finished row was looked at once, deleted or kept (current, or leased).
        #expect(scanned == rows.filter { ["delivered", "dead", "superseded"].contains($0.0.status) && $0.0.old }.count)
        let left = try connection.query("SELECT id FROM webhook_deliveries")
        let remaining = Set((0..<left.rowCount).compactMap { left.string($0, "id") })
        #expect(remaining.count == total - expected.count)
        #expect(remaining.isDisjoint(with: expected))
        for (item, id, _) in rows where !item.deletable { #expect(remaining.contains(id), "\(item) was deleted") }

        // The history answers the same: every plan still there, still pushed (or not); the delivery
        // columns of the trimmed plans read NULL, the others are unchanged.
        let after = try Self.history(connection)
        #expect(after.count == before.count)
        let trimmedPlans = Set(rows.filter { $0.0.deletable }.map(\.2))
        for (plan, row) in before {
            #expect(after[plan]?.plan == row.plan, "plan \(plan)")
            #expect(after[plan]?.delivery == (trimmedPlans.contains(plan) ? "(,,)" : row.delivery), "plan \(plan)")
        }
        let pushed = try connection.query("SELECT count(*) FILTER (WHERE pushed) AS yes, count(*) FILTER (WHERE NOT pushed) AS no FROM split_history")
        #expect(pushed.int(0, "yes") == 2 * Self.cases.count + 1 && pushed.int(0, "no") == 1)
        // Nothing left to trim: a second pass deletes nothing.
        #expect(
            try DeliveryRepository.trimFinished(
                before: Date().addingTimeInterval(-7 * 86_400), after: nil, limit: 100,
                connection: connection
            ).deleted == 0)
    }

    @Test("a trimming batch holds no lock that storing plans or claiming deliveries needs")
    func trimmingNeverBlocksDelivery() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let trimmer = try database.connect(), worker = try database.connect()
        let rows = try Self.populate(trimmer)
        try trimmer.execute("BEGIN")
        let batch = try DeliveryRepository.trimFinished(before: Date().addingTimeInterval(-7 * 86_400), after: nil, limit: 100, connection: trimmer)
        #expect(batch.deleted == rows.filter { $0.0.deletable }.count)
        // While that transaction is open, any wait for a lock fails at once instead of waiting.
        try worker.execute("SET lock_timeout = '1ms'")
        let device = try #require(
            try worker.query(
                "SELECT device_id FROM webhook_deliveries WHERE id = $1",
                [rows.first { $0.0.deletable }!.1]
            ).string(0, "device_id"))
        try worker.transaction { _ = try PlanRepository.store([Fixtures.plan(for: device, uplink: 9e7)], connection: worker) }
        let claimed = try DeliveryRepository.claim(owner: "w", limit: 100, leaseSeconds: 30, secrets: Fixtures.secrets, connection: worker)
        #expect(claimed.contains { $0.deviceID == device })
        try trimmer.execute("COMMIT")
    }

    /// docs/sql.md's statement for deleting old history by hand (plans are kept forever otherwise).
    static let deleteOldPlans = """
        WITH old AS (
            SELECT id FROM plans WHERE superseded_at < now() - interval '365 days' ORDER BY id LIMIT 10000
        ), deliveries AS (
            DELETE FROM webhook_deliveries w USING old WHERE w.plan_id = old.id
        )
        DELETE FROM plans p USING old WHERE p.id = old.id
        """

    @Test("docs/sql.md's SQL for deleting old superseded plans removes exactly those and their deliveries, a batch at a time")
    func deletingOldPlansBySQL() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        let devices = try Fixtures.fleet(connection, devices: 4)
        for uplink in [1e7, 2e7, 3e7] {
            try connection.transaction {
                _ = try PlanRepository.store(
                    devices.map { Fixtures.plan(for: $0, uplink: uplink) },
                    connection: connection)
            }
        }
        // The first round was superseded two years ago, the second yesterday; the third is in force.
        try connection.execute(
            """
            UPDATE plans SET superseded_at = now() - interval '730 days' WHERE id IN (SELECT id FROM plans ORDER BY id LIMIT 4);
            UPDATE plans SET superseded_at = now() - interval '1 day' WHERE superseded_at IS NOT NULL AND superseded_at > now() - interval '1 day';
            """)
        let old = try connection.query("SELECT id FROM plans ORDER BY id LIMIT 4")
        let oldIDs = try (0..<old.rowCount).map { Int64(try old.require($0, "id", old.int)) }
        #expect(try connection.query(Self.deleteOldPlans).affectedRows == 4)
        #expect(try connection.query(Self.deleteOldPlans).affectedRows == 0)
        #expect(try connection.query("SELECT count(*) AS n FROM plans WHERE id = ANY($1::int8[])", [PostgresValue.intArray(oldIDs)]).int(0, "n") == 0)
        #expect(
            try connection.query(
                "SELECT count(*) AS n FROM webhook_deliveries WHERE plan_id = ANY($1::int8[])",
                [PostgresValue.intArray(oldIDs)]
            ).int(0, "n") == 0)
        #expect(try connection.query("SELECT count(*) AS n FROM split_history").int(0, "n") == 8)
        #expect(try connection.query("SELECT count(*) AS n FROM split_history WHERE valid_until IS NULL").int(0, "n") == 4)
        #expect(try connection.query("SELECT count(*) AS n FROM webhook_deliveries").int(0, "n") == 8)
    }

    @Test("0005 backfills pushed from the outbox, keeps one delivery per plan, and split_history answers as before")
    func migrationKeepsHistory() throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let connection = try database.connect()
        try Migrator(migrations: TestCluster.migrations.filter { $0.version <= 4 }).migrate(connection)
        // What 0005, 0006, 0008, 0010 and 0013 add, so today's registration and store paths run on 0004.
        try connection.execute("ALTER TABLE devices ADD COLUMN switching jsonb")
        let devices = try Fixtures.fleet(connection, devices: 3)
        try connection.execute(
            """
            ALTER TABLE plans ADD COLUMN pushed boolean; ALTER TABLE splits ADD COLUMN fingerprint text;
            ALTER TABLE webhook_deliveries ADD COLUMN notice jsonb; ALTER TABLE splits ADD COLUMN cut_modules text[]
            """
        )
        for uplink in [1e7, 2e7, 3e7] {
            var plans = devices.map { Fixtures.plan(for: $0, uplink: uplink) }
            plans[1].deliver = uplink != 2e7
            try connection.transaction { _ = try PlanRepository.store(plans, connection: connection) }
        }
        try connection.execute(
            """
            ALTER TABLE plans DROP COLUMN pushed; ALTER TABLE splits DROP COLUMN fingerprint;
            ALTER TABLE webhook_deliveries DROP COLUMN notice; ALTER TABLE splits DROP COLUMN cut_modules;
            ALTER TABLE devices DROP COLUMN switching
            """
        )
        // A second, newer delivery of one plan, made by hand: the view showed the newer one.
        try connection.execute(
            """
            INSERT INTO webhook_deliveries (id, plan_id, device_id, status, created_at)
            SELECT 'msg_by_hand', plan_id, device_id, 'dead', created_at + interval '1 second' FROM webhook_deliveries ORDER BY plan_id LIMIT 1
            """)
        let snapshot = "SELECT string_agg(row(h.*)::text, E'\\n' ORDER BY plan_id) AS rows FROM split_history h"
        let before = try #require(try connection.query(snapshot).string(0, "rows"))
        try Migrator(migrations: TestCluster.migrations).migrate(connection)
        #expect(try connection.query(snapshot).string(0, "rows") == before)
        #expect(try connection.query("SELECT count(*) AS n FROM plans WHERE pushed").int(0, "n") == 8)
        #expect(try connection.query("SELECT count(*) AS n FROM webhook_deliveries").int(0, "n") == 8)
        #expect(throws: PostgresError.self) {
            try connection.query(
                "INSERT INTO webhook_deliveries (id, plan_id, device_id) SELECT 'msg_again', plan_id, device_id FROM webhook_deliveries LIMIT 1")
        }
    }
}
