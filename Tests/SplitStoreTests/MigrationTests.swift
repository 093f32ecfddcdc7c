import Foundation
import Testing
@testable import SplitStore
import SplitTestSupport

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

    @Test("a failing migration is rolled back entirely")
    func failingMigrationRollsBack() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        let broken = TestCluster.migrations + [Migration(version: 9000, name: "broken", sql: "CREATE TABLE half_done (x int); SELECT no_such_function();")]
        #expect(throws: MigrationError.self) { try Migrator(migrations: broken).migrate(connection) }
        #expect(try connection.query("SELECT to_regclass('half_done') IS NULL AS absent").bool(0, "absent") == true)
        #expect(try connection.query("SELECT count(*) AS n FROM schema_migrations WHERE version = 9000").int(0, "n") == 0)
    }
}
