import Crypto
import Foundation
import SplitSupport

/// One schema migration: `migrations/NNNN_name.sql`.
package struct Migration: Sendable, Equatable {
    package let version: Int
    package let name: String
    package let sql: String
    /// SHA-256 of the file's bytes, hex.
    package let checksum: String

    package init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
        self.checksum = Hex.encode(SHA256.hash(data: Data(sql.utf8)))
    }

    /// Loads every `NNNN_name.sql` in `directory`, ordered by version.
    package static func load(from directory: URL) throws -> [Migration] {
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw MigrationError("cannot read migrations directory \(directory.path): \(error.localizedDescription)")
        }
        var migrations: [Migration] = []
        for file in files.sorted() where file.hasSuffix(".sql") {
            let stem = file.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]),
                stem[..<underscore].count == 4, version > 0
            else {
                throw MigrationError("migration file '\(file)' is not named NNNN_name.sql")
            }
            if let clash = migrations.first(where: { $0.version == version }) {
                throw MigrationError("migrations '\(clash.name)' and '\(file)' share version \(version)")
            }
            let sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            migrations.append(Migration(version: version, name: String(stem[stem.index(after: underscore)...]), sql: sql))
        }
        guard !migrations.isEmpty else { throw MigrationError("no migrations found in \(directory.path)") }
        return migrations.sorted { $0.version < $1.version }
    }

    /// Where the migration files are: `SPLITD_MIGRATIONS_DIR`, else `share/splitd/migrations` next
    /// to the executable's prefix, else `./migrations`, else the source checkout this was built from.
    package static func defaultDirectory(configured: String? = nil) throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        var candidates: [URL] = []
        if let configured = configured ?? environment["SPLITD_MIGRATIONS_DIR"] { candidates.append(URL(fileURLWithPath: configured)) }
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
        candidates.append(executable.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("share/splitd/migrations"))
        candidates.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("migrations"))
        candidates.append(
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("migrations"))
        for candidate in candidates {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), isDirectory.boolValue { return candidate }
        }
        throw MigrationError(
            "migrations directory not found (looked in \(candidates.map(\.path).joined(separator: ", "))); set SPLITD_MIGRATIONS_DIR")
    }
}

/// Why migrating was refused.
package struct MigrationError: Error, CustomStringConvertible, Sendable {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// Applies migrations forward only, in order, each in its own transaction, under an advisory lock
/// so concurrent starters serialize (the second finds nothing to do).
package struct Migrator: Sendable {
    /// Advisory lock key: "splitd" + 1.
    static let lockKey: Int64 = 0x7370_6C69_7464_0001

    package let migrations: [Migration]

    package init(migrations: [Migration]) { self.migrations = migrations }

    /// What the database has applied compared with the files.
    package struct Status: Sendable, Equatable {
        package var applied: [Int]
        package var pending: [Int]
    }

    /// Applies pending migrations; returns the versions applied now.
    /// Throws when an applied migration's checksum differs from its file, or the database has a
    /// migration this binary does not know (it is ahead of the binary).
    @discardableResult
    package func migrate(_ connection: PostgresConnection) throws -> [Int] {
        try connection.query("SELECT pg_advisory_lock($1)", [Self.lockKey])
        defer { _ = try? connection.query("SELECT pg_advisory_unlock($1)", [Self.lockKey]) }
        try connection.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer     PRIMARY KEY,
                name       text        NOT NULL,
                checksum   text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
        let status = try verify(connection)
        var applied: [Int] = []
        for migration in migrations where status.pending.contains(migration.version) {
            do {
                try connection.transaction {
                    try connection.execute(migration.sql)
                    try connection.query(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                        [migration.version, migration.name, migration.checksum])
                }
            } catch let error as PostgresError {
                throw MigrationError(
                    "migration \(String(format: "%04d", migration.version))_\(migration.name).sql failed and was rolled back: \(error)")
            }
            applied.append(migration.version)
        }
        return applied
    }

    /// Compares the database with the files without changing anything.
    package func verify(_ connection: PostgresConnection) throws -> Status {
        let exists = try connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
        guard exists.bool(0, "present") == true else { return Status(applied: [], pending: migrations.map(\.version)) }
        let rows = try connection.query("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
        var applied: [Int] = []
        for row in rows.rows {
            let version: Int = try row.decode("version")
            let checksum: String = try row.decode("checksum")
            let name: String = row.decodeIfPresent("name") ?? "?"
            guard let migration = migrations.first(where: { $0.version == version }) else {
                throw MigrationError(
                    """
                    the database has migration \(String(format: "%04d", version))_\(name), which this splitd does not know: the database is ahead \
                    of the binary; upgrade splitd
                    """)
            }
            guard migration.checksum == checksum else {
                throw MigrationError(
                    """
                    migration \(String(format: "%04d", version))_\(migration.name).sql was changed after it was applied (checksum \
                    \(checksum.prefix(12))… in the database, \(migration.checksum.prefix(12))… on disk); restore the file and add a new migration \
                    instead
                    """)
            }
            applied.append(version)
        }
        let pending = migrations.map(\.version).filter { !applied.contains($0) }
        if let first = pending.first, let last = applied.last, first < last {
            throw MigrationError(
                """
                migration \(String(format: "%04d", first)) is older than applied migration \(String(format: "%04d", last)); migrations must be \
                added in order
                """)
        }
        return Status(applied: applied, pending: pending)
    }
}
