import ArgumentParser
import Foundation
import Logging
import SplitServer
import SplitStore

/// `splitd`: the split-planning daemon.
@main
struct SplitD: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "splitd",
        abstract: "Split-learning planning service: HTTP API, fleet re-planning, signed webhook push.",
        subcommands: [Serve.self, Migrate.self, Database.self],
        defaultSubcommand: Serve.self)

    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("splitd: configuration error: \(error)\n".utf8))
            Foundation.exit(2)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let usage = code == .validationFailure || code.rawValue == 64
            let message = usage ? fullMessage(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)" : "\(error)"
            FileHandle.standardError.write(Data("splitd: error: \(message)\n".utf8))
            Foundation.exit(usage ? 2 : 1)
        }
    }
}

/// Flags that mirror the `SPLITD_*` variables (a flag wins over the variable).
struct ConfigurationOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "PostgreSQL URL (SPLITD_DATABASE_URL); unset: embedded cluster in the state directory.")
    var databaseURL: String?
    @Option(name: .customLong("state-dir"), help: "State directory (SPLITD_STATE_DIR, default ./.splitd).")
    var stateDirectory: String?
    @Option(help: "HOST:PORT to listen on (SPLITD_LISTEN, default 127.0.0.1:8080).")
    var listen: String?
    @Option(name: .customLong("admin-token"), help: "Operator bearer token (SPLITD_ADMIN_TOKEN).")
    var adminToken: String?
    @Option(name: .customLong("plan-interval"), help: "Re-planning period (SPLITD_PLAN_INTERVAL, default 10s).")
    var planInterval: String?
    @Option(name: .customLong("min-gain"), help: "Relative gain for a new split (SPLITD_MIN_GAIN, default 0.05).")
    var minimumGain: String?
    @Option(name: .customLong("webhook-allow"), help: "Hosts/CIDRs exempt from the SSRF guard (SPLITD_WEBHOOK_ALLOW).")
    var webhookAllow: String?
    @Option(name: .customLong("log-level"), help: "trace|debug|info|notice|warning|error|critical (SPLITD_LOG_LEVEL).")
    var logLevel: String?

    func load() throws -> ServerConfiguration {
        var overrides: [String: String] = [:]
        overrides["SPLITD_DATABASE_URL"] = databaseURL
        overrides["SPLITD_STATE_DIR"] = stateDirectory
        overrides["SPLITD_LISTEN"] = listen
        overrides["SPLITD_ADMIN_TOKEN"] = adminToken
        overrides["SPLITD_PLAN_INTERVAL"] = planInterval
        overrides["SPLITD_MIN_GAIN"] = minimumGain
        overrides["SPLITD_WEBHOOK_ALLOW"] = webhookAllow
        overrides["SPLITD_LOG_LEVEL"] = logLevel
        return try ServerConfiguration.load(overrides: overrides)
    }
}

/// Sets up swift-log once, to stderr at the configured level.
func makeLogger(_ level: Logger.Level) -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
    var logger = Logger(label: "splitd")
    logger.logLevel = level
    return logger
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the daemon (the default).")
    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let configuration = try options.load()
        let logger = makeLogger(configuration.logLevel)
        try await Daemon.run(configuration, logger: logger)
    }
}

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations and exit.")
    @OptionGroup var options: ConfigurationOptions

    func run() throws {
        let configuration = try options.load()
        let logger = makeLogger(configuration.logLevel)
        let (url, embedded) = try Daemon.database(configuration, logger: logger)
        defer { try? embedded?.stop() }
        let migrator = try Daemon.migrate(url: url, apply: true, logger: logger)
        let connection = try PostgresConnection(url: url)
        defer { connection.close() }
        let status = try migrator.verify(connection)
        print("schema at version \(status.applied.last ?? 0) (\(status.applied.count) migration(s) applied)")
    }
}

struct Database: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "Manage the embedded PostgreSQL cluster in the state directory: start, stop, status, url.")
    @Argument(help: "start | stop | status | url")
    var action: String
    @Option(name: .customLong("state-dir"), help: "State directory (SPLITD_STATE_DIR, default ./.splitd).")
    var stateDirectory: String?

    func run() throws {
        let directory = stateDirectory ?? ProcessInfo.processInfo.environment["SPLITD_STATE_DIR"] ?? ".splitd"
        let cluster = EmbeddedPostgres(stateDirectory: URL(fileURLWithPath: directory, isDirectory: true))
        switch action {
        case "start": print(try cluster.start())
        case "stop": try cluster.forceStop()
        case "status":
            print(cluster.running ? "running: \(cluster.url())" : "stopped (\(cluster.dataDirectory.path))")
            if !cluster.running { throw ExitCode(3) }
        case "url": print(cluster.url())
        default: throw ValidationError("unknown action '\(action)'; expected start, stop, status or url")
        }
    }
}
