import Foundation
import SplitStore
import SplitTestSupport

/// One private PostgreSQL cluster per test process (under a temporary directory), and a fresh
/// database per test, so tests are isolated and the suite can run twice in a row.
package enum TestCluster {
    /// The cluster, started on first use, or why it could not be started.
    private static let started: Result<EmbeddedPostgres, TestRequirementError> = {
        let directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("splitd-test-\(getpid())")
        let cluster = EmbeddedPostgres(stateDirectory: directory, durable: false)
        do {
            try cluster.start()
        } catch {
            return .failure(
                TestRequirementError(
                    """
                    this test needs a PostgreSQL server (initdb and pg_ctl; `ops/install-deps` installs the postgresql package), and starting one \
                    failed: \(error)
                    """))
        }
        atexit {
            guard let cluster = try? TestCluster.shared() else { return }
            try? cluster.forceStop()
            try? FileManager.default.removeItem(at: cluster.stateDirectory)
        }
        return .success(cluster)
    }()

    /// The cluster; throws a clear requirement error when PostgreSQL cannot be started.
    package static func shared() throws -> EmbeddedPostgres { try started.get() }

    package static let migrations: [Migration] = {
        let directory = packageRoot.appendingPathComponent("migrations")
        return try! Migration.load(from: directory)
    }()
}

/// A database of its own for one test; dropped by `drop()`.
package struct TestDatabase: Sendable {
    package let name: String
    package let url: String

    /// A database that exists already (e.g. in a cluster a test runs itself).
    package init(name: String, url: String) {
        self.name = name
        self.url = url
    }

    /// Creates an empty database (optionally migrated).
    package static func make(migrated: Bool = true, function: String = #function) throws -> TestDatabase {
        let cluster = try TestCluster.shared()
        let name = "t_" + function.prefix(20).filter { $0.isLetter || $0.isNumber }.lowercased() + "_" + UUID().uuidString.prefix(8).lowercased()
        try cluster.ensureDatabase(name)
        let database = TestDatabase(name: name, url: cluster.url(database: name))
        if migrated {
            let connection = try PostgresConnection(url: database.url)
            defer { connection.close() }
            try Migrator(migrations: TestCluster.migrations).migrate(connection)
        }
        return database
    }

    package func connect() throws -> PostgresConnection { try PostgresConnection(url: url) }

    package func drop() { try? TestCluster.shared().dropDatabase(name) }
}

/// A test cannot run because something it needs is missing; the message says what and how to get it.
package struct TestRequirementError: Error, CustomStringConvertible, Sendable {
    package let description: String
    package init(_ description: String) { self.description = description }
}
