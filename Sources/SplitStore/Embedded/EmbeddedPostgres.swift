import Foundation

/// A private PostgreSQL cluster under a state directory, for when no database URL is configured.
///
/// Layout: `<state>/postgres/data` (the cluster), `<state>/postgres/run` (its unix socket),
/// `<state>/postgres/server.log`. The cluster listens on its unix socket and on 127.0.0.1 only,
/// with trust authentication (nothing outside this machine can reach it) and superuser `splitd`.
/// It is created on first start with `initdb`, reused afterwards, and stopped by `stop()` only if
/// this process started it. PostgreSQL refuses to run as root, so under root the cluster belongs
/// to the `postgres` system user and commands run through `runuser`.
package final class EmbeddedPostgres: @unchecked Sendable {
    /// The state directory the cluster lives under.
    package let stateDirectory: URL
    /// Whether to keep full durability (fsync); tests turn it off for speed.
    package let durable: Bool
    /// Directory of `initdb` and `pg_ctl`; nil finds them (`SPLITD_PG_BIN`, Debian's layout, PATH).
    package let binDirectory: String?
    private let lock = NSLock()
    private var startedByUs = false

    package var clusterDirectory: URL { stateDirectory.appendingPathComponent("postgres") }
    package var dataDirectory: URL { clusterDirectory.appendingPathComponent("data") }
    package var socketDirectory: URL { clusterDirectory.appendingPathComponent("run") }
    package var logFile: URL { clusterDirectory.appendingPathComponent("server.log") }

    /// The database splitd uses inside the cluster.
    package static let databaseName = "splitd"
    package static let superuser = "splitd"

    package init(stateDirectory: URL, durable: Bool = true, binDirectory: String? = nil) {
        self.stateDirectory = stateDirectory.standardizedFileURL
        self.durable = durable
        self.binDirectory = binDirectory
    }

    /// The TCP port the cluster listens on (chosen at creation, stored in its configuration).
    package var port: Int? {
        guard let text = try? String(contentsOf: dataDirectory.appendingPathComponent("postgresql.auto.conf"), encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("port = ") {
            return Int(line.dropFirst("port = ".count).trimmingCharacters(in: CharacterSet(charactersIn: "' ")))
        }
        return nil
    }

    /// Connection URL of `database` over the unix socket.
    package func url(database: String = EmbeddedPostgres.databaseName) -> String {
        "postgresql://\(Self.superuser)@/\(database)?host=\(socketDirectory.path)&port=\(port ?? 5432)"
    }

    /// Creates the cluster if needed, starts it if it is not running, makes sure the `splitd`
    /// database exists, and returns its URL.
    ///
    /// With `adopt`, a cluster that is already running (left behind by a crashed daemon, say) is
    /// treated as started by this process: `stop()` stops it. The daemon adopts; `splitd db start`
    /// and tests do not.
    @discardableResult
    package func start(adopt: Bool = false) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        let binaries = try PostgresBinaries.locate(configured: binDirectory)
        let runAs = try Self.unprivilegedUser()
        try FileManager.default.createDirectory(at: clusterDirectory, withIntermediateDirectories: true)
        // The socket path must fit in sockaddr_un (107 bytes).
        guard socketDirectory.path.utf8.count + 20 < 107 else {
            throw EmbeddedPostgresError(
                "state directory path is too long for a unix socket: \(socketDirectory.path) (use a shorter SPLITD_STATE_DIR)")
        }
        try FileManager.default.createDirectory(at: socketDirectory, withIntermediateDirectories: true)
        if let user = runAs {
            try run("/bin/chown", ["-R", "\(user):\(user)", clusterDirectory.path], as: nil)
            do {
                try run("/usr/bin/test", ["-x", clusterDirectory.path], as: user)
            } catch {
                throw EmbeddedPostgresError(
                    """
                    running as root, the embedded PostgreSQL runs as '\(user)', which cannot reach \(clusterDirectory.path); choose a \
                    SPLITD_STATE_DIR that user can traverse (e.g. /var/lib/splitd)
                    """)
            }
        }
        if !FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path) {
            try initialize(binaries: binaries, runAs: runAs)
        }
        if !isRunning(binaries: binaries, runAs: runAs) {
            do {
                try run(binaries.pgCtl, ["-D", dataDirectory.path, "-l", logFile.path, "-w", "-t", "60", "start"], as: runAs)
            } catch {
                let tail = (try? String(contentsOf: logFile, encoding: .utf8))?.split(separator: "\n").suffix(5).joined(separator: "\n") ?? ""
                throw EmbeddedPostgresError("PostgreSQL did not start (\(error)); last log lines:\n\(tail)")
            }
            startedByUs = true
        } else if adopt {
            startedByUs = true
        }
        try ensureDatabase(Self.databaseName)
        return url()
    }

    /// Stops the cluster if this process started it (fast shutdown: running statements are cancelled).
    package func stop() throws {
        lock.lock()
        defer { lock.unlock() }
        guard startedByUs else { return }
        try forceStop()
    }

    /// Stops the cluster whoever started it.
    package func forceStop() throws {
        let binaries = try PostgresBinaries.locate(configured: binDirectory)
        let runAs = try Self.unprivilegedUser()
        if isRunning(binaries: binaries, runAs: runAs) {
            try run(binaries.pgCtl, ["-D", dataDirectory.path, "-m", "fast", "-w", "stop"], as: runAs)
        }
        startedByUs = false
    }

    /// Restarts the server (fast mode), as an operator would; existing connections are terminated.
    package func restart() throws {
        let binaries = try PostgresBinaries.locate(configured: binDirectory)
        try run(binaries.pgCtl, ["-D", dataDirectory.path, "-l", logFile.path, "-m", "fast", "-w", "restart"], as: try Self.unprivilegedUser())
    }

    /// Whether the cluster has been created (by `initdb`) in the state directory.
    package var exists: Bool { FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path) }

    /// Whether the server answers.
    package var running: Bool {
        guard let binaries = try? PostgresBinaries.locate(configured: binDirectory), let runAs = try? Self.unprivilegedUser() else { return false }
        return isRunning(binaries: binaries, runAs: runAs)
    }

    /// Creates `name` if it does not exist.
    package func ensureDatabase(_ name: String) throws {
        let connection = try PostgresConnection(url: url(database: "postgres"))
        defer { connection.close() }
        let exists = try connection.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]).rowCount > 0
        if !exists {
            do {
                try connection.execute("CREATE DATABASE \(Self.quoteIdentifier(name))")
            } catch let error as PostgresError where error.sqlState == PostgresError.State.duplicateDatabase {
                // Created concurrently by someone else: fine.
            }
        }
    }

    /// Drops `name` (if it exists), terminating its sessions.
    package func dropDatabase(_ name: String) throws {
        let connection = try PostgresConnection(url: url(database: "postgres"))
        defer { connection.close() }
        try connection.execute("DROP DATABASE IF EXISTS \(Self.quoteIdentifier(name)) WITH (FORCE)")
    }

    static func quoteIdentifier(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    // MARK: - Internals

    private func initialize(binaries: PostgresBinaries, runAs: String?) throws {
        try? FileManager.default.removeItem(at: dataDirectory)
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        if let user = runAs { try run("/bin/chown", ["\(user):\(user)", dataDirectory.path], as: nil) }
        try run(
            binaries.initdb,
            [
                "-D", dataDirectory.path, "-U", Self.superuser, "--auth=trust", "-E", "UTF8",
                "--locale=C", "--no-instructions",
            ], as: runAs)
        let port = try Self.freeLoopbackPort()
        var settings = [
            "port = \(port)",
            "listen_addresses = '127.0.0.1'",
            "unix_socket_directories = '\(socketDirectory.path)'",
            "max_connections = 200",
            "shared_buffers = '128MB'",
            "max_wal_size = '1GB'",
            "log_min_messages = 'warning'",
        ]
        if !durable { settings += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"] }
        let auto = dataDirectory.appendingPathComponent("postgresql.auto.conf")
        try (settings.joined(separator: "\n") + "\n").write(to: auto, atomically: true, encoding: .utf8)
        // Only the unix socket and loopback, both without passwords; nothing else is accepted.
        let hba = """
            local all all trust
            host all all 127.0.0.1/32 trust
            """
        try (hba + "\n").write(to: dataDirectory.appendingPathComponent("pg_hba.conf"), atomically: true, encoding: .utf8)
        if let user = runAs { try run("/bin/chown", ["-R", "\(user):\(user)", dataDirectory.path], as: nil) }
    }

    private func isRunning(binaries: PostgresBinaries, runAs: String?) -> Bool {
        guard FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent("postmaster.pid").path) else { return false }
        return (try? run(binaries.pgCtl, ["-D", dataDirectory.path, "status"], as: runAs)) != nil
    }

    /// Under root, the system user that owns the cluster (PostgreSQL will not run as root).
    static func unprivilegedUser() throws -> String? {
        guard geteuid() == 0 else { return nil }
        guard getpwnam("postgres") != nil else {
            throw EmbeddedPostgresError(
                """
                running as root, the embedded PostgreSQL needs a 'postgres' system user (install the postgresql package) or run splitd as another \
                user
                """)
        }
        return "postgres"
    }

    static func freeLoopbackPort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw EmbeddedPostgresError("cannot open a socket to pick a port") }
        defer { _ = Foundation.close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) } }
        guard bound == 0 else { throw EmbeddedPostgresError("cannot bind a loopback port") }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getsockname(
                    descriptor, $0,
                    &length)
            }
        }
        guard named == 0 else { throw EmbeddedPostgresError("cannot read the chosen port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Runs a command (as `user` through runuser when given) and throws with its output on failure.
    @discardableResult
    func run(_ executable: String, _ arguments: [String], as user: String?) throws -> String {
        let (program, programArguments) = user.map { ("/usr/sbin/runuser", ["-u", $0, "--", executable] + arguments) } ?? (executable, arguments)
        let result = try ChildProcess.run(program, programArguments)
        guard result.status == 0 else {
            throw EmbeddedPostgresError(
                """
                \((executable as NSString).lastPathComponent) \(arguments.last ?? "") failed (\(result.status)): \
                \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))
                """)
        }
        return result.output
    }
}

/// Where the installed PostgreSQL server programs are.
struct PostgresBinaries {
    let initdb: String
    let pgCtl: String

    /// `configured`, else `SPLITD_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin` (Debian), else PATH.
    static func locate(configured: String? = nil) throws -> PostgresBinaries {
        var candidates: [String] = []
        if let configured = configured ?? ProcessInfo.processInfo.environment["SPLITD_PG_BIN"] { candidates.append(configured) }
        let debian = "/usr/lib/postgresql"
        if let versions = try? FileManager.default.contentsOfDirectory(atPath: debian) {
            for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) { candidates.append("\(debian)/\(version)/bin") }
        }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") { candidates.append(String(directory)) }
        for directory in candidates {
            let initdb = "\(directory)/initdb", pgCtl = "\(directory)/pg_ctl"
            if FileManager.default.isExecutableFile(atPath: initdb) && FileManager.default.isExecutableFile(atPath: pgCtl) {
                return PostgresBinaries(initdb: initdb, pgCtl: pgCtl)
            }
        }
        throw EmbeddedPostgresError(
            "PostgreSQL server programs (initdb, pg_ctl) not found; install the 'postgresql' package (ops/install-deps) or set SPLITD_PG_BIN")
    }
}

/// Why the embedded cluster could not be managed.
package struct EmbeddedPostgresError: Error, CustomStringConvertible, Sendable {
    package let description: String
    init(_ description: String) { self.description = description }
}
