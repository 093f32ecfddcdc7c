import Foundation
import SplitIntegrationSupport
import Testing

@testable import SplitStore

@Suite("Migrations")
struct MigrationTests {
    @Test("a fresh database migrates, and running again is a no-op")
    func freshAndRerun() throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let connection = try database.connect()
        let migrator = Migrator(migrations: TestCluster.migrations)
        #expect(try migrator.migrate(connection) == TestCluster.migrations.map(\.version))
        #expect(try migrator.migrate(connection).isEmpty)
        let rows = try connection.query("SELECT version, checksum FROM schema_migrations ORDER BY version")
        #expect(rows.rowCount == TestCluster.migrations.count)
        #expect(rows.string(0, "checksum") == TestCluster.migrations[0].checksum)
        for table in ["models", "edge_servers", "devices", "telemetry", "link_estimates", "split_plans", "webhook_deliveries", "split_history"] {
            #expect(try connection.query("SELECT to_regclass($1) IS NOT NULL AS present", [table]).bool(0, "present") == true, "\(table)")
        }
    }

    @Test("a migration changed after it was applied is refused, naming the file")
    func tamperedChecksum() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        var tampered = TestCluster.migrations
        tampered[0] = Migration(version: tampered[0].version, name: tampered[0].name, sql: tampered[0].sql + "\n-- edited\n")
        do {
            try Migrator(migrations: tampered).migrate(connection)
            Issue.record("tampered migration accepted")
        } catch let error as MigrationError {
            #expect(error.description.contains("0001_initial.sql was changed after it was applied"))
        }
    }

    @Test("a database ahead of the binary is refused")
    func databaseAhead() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        try connection.query("INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')")
        #expect(throws: MigrationError.self) { try Migrator(migrations: TestCluster.migrations).migrate(connection) }
        do { _ = try Migrator(migrations: TestCluster.migrations).verify(connection) } catch {
            #expect("\(error)".contains("ahead of the binary"))
        }
    }

    @Test("two concurrent migrators apply each migration exactly once")
    func concurrentMigrators() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let url = database.url
        let results = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    let connection = try PostgresConnection(url: url)
                    defer { connection.close() }
                    return try Migrator(migrations: TestCluster.migrations).migrate(connection)
                }
            }
            return try await group.reduce(into: [[Int]]()) { $0.append($1) }
        }
        #expect(results.flatMap { $0 }.sorted() == TestCluster.migrations.map(\.version))
        let connection = try database.connect()
        #expect(try connection.query("SELECT count(*) AS n FROM schema_migrations").int(0, "n") == TestCluster.migrations.count)
    }

    @Test("0002 moves every stored plan's layer lists into shared splits; split_plans reads the same before and after")
    func sharedSplitsMigration() throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let connection = try database.connect()
        let first = try #require(TestCluster.migrations.first { $0.version == 1 })
        try Migrator(migrations: [first]).migrate(connection)
        try connection.execute(
            """
            INSERT INTO models (name, version, graph, layer_count, block_count, sha256) VALUES ('m', 1, '{}', 3, 0, 'h1'), ('m', 2, '{}', 3, 0, 'h2');
            INSERT INTO edge_servers (id, compute_flops) VALUES ('e', 1e13);
            INSERT INTO devices (id, model_name, edge_server_id, batch_size, compute_flops, webhook_secret, token_hash)
            SELECT 'd' || i, 'm', 'e', 32, 1e11, 's', 't' || i FROM generate_series(1, 4) i;
            INSERT INTO split_plans (device_id, model_name, model_version, algorithm, uplink_bps, downlink_bps, rtt_seconds, device_flops,
                                     server_flops, batch_size, device_layers, cut_layers, predicted_delay_seconds, transfer_bytes, breakdown,
                                     solve_microseconds, superseded_at, reason)
            SELECT 'd' || (1 + i % 4), 'm', 1 + i / 6, 'dag', i, 2, 0, 1, 1, 32,
                   CASE WHEN i % 3 = 0 THEN ARRAY['x'] WHEN i % 3 = 1 THEN ARRAY['x', 'a'] ELSE ARRAY['x', 'a', 'b''"{,}'] END,
                   CASE WHEN i % 3 = 0 THEN ARRAY['x'] ELSE ARRAY['a'] END, i, 10,
                   '{"device_compute_seconds": 0.25, "downlink_seconds": 1e-7, "rtt_seconds": 0,
                     "server_compute_seconds": 0.1, "uplink_seconds": 1}'::jsonb
                   || jsonb_build_object('device_compute_seconds', (i / 4.0)::float8), 1,
                   CASE WHEN i < 8 THEN now() END, 'requested'
            FROM generate_series(0, 11) i;
            INSERT INTO webhook_deliveries (id, plan_id, device_id) SELECT 'msg_' || id, id, device_id FROM split_plans;
            """)
        let snapshot = """
            SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s', id, device_id, model_name, model_version, device_layers, cut_layers, breakdown), \
            E'\\n' ORDER BY id) AS rows FROM split_plans
            """
        let before = try #require(try connection.query(snapshot).string(0, "rows"))
        try Migrator(migrations: TestCluster.migrations).migrate(connection)
        #expect(try connection.query(snapshot).string(0, "rows") == before)
        // Three splits per model version, two versions.
        #expect(try connection.query("SELECT count(*) AS n FROM splits").int(0, "n") == 6)
        #expect(try connection.query("SELECT count(*) AS n FROM split_history").int(0, "n") == 12)
        #expect(try connection.query("SELECT count(*) AS n FROM webhook_deliveries w JOIN plans p ON p.id = w.plan_id").int(0, "n") == 12)
        // New plans continue the old id sequence.
        let next = try connection.query("SELECT nextval('plans_id_seq') AS id").int(0, "id")
        #expect(next == 13)
    }

    @Test("a failing migration is rolled back entirely")
    func failingMigrationRollsBack() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        let broken =
            TestCluster.migrations + [
                Migration(
                    version: 9000, name: "broken",
                    sql: "CREATE TABLE half_done (x int); SELECT no_such_function();")
            ]
        #expect(throws: MigrationError.self) { try Migrator(migrations: broken).migrate(connection) }
        #expect(try connection.query("SELECT to_regclass('half_done') IS NULL AS absent").bool(0, "absent") == true)
        #expect(try connection.query("SELECT count(*) AS n FROM schema_migrations WHERE version = 9000").int(0, "n") == 0)
    }
}
