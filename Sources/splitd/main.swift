import ArgumentParser
import Foundation
import Logging
import SplitCore
import SplitServer
import SplitStore

/// `splitd`: the split-planning daemon.
@main
struct SplitD: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "splitd",
        abstract: "Split-learning planning service: HTTP API, fleet re-planning, signed webhook push.",
        subcommands: [Serve.self, Migrate.self, Database.self, Bench.self],
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

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Throughput benchmarks on a fresh database (embedded cluster in /tmp unless --database-url).",
        discussion: """
            store:     telemetry ingest through COPY, reading 100k link estimates, writing 100k plans
            fleet:     one re-planning cycle of --devices new devices, then one after 10% of links moved
            telemetry: telemetry over HTTP (the API in this process, concurrent clients)
            webhooks:  draining --devices enqueued deliveries into a local receiver
            Prints one JSON line per measurement.
            """)

    @Argument(help: "store | fleet | telemetry | webhooks")
    var what: String
    @Option(name: .customLong("database-url"), help: "A PostgreSQL server to create the scratch database on.")
    var databaseURL: String?
    @Option(help: "Model graph for plans.")
    var model: String = "ops/models/resnet50.json"
    @Option(help: "Devices in the fleet.")
    var devices: Int = 100_000
    @Option(help: "Telemetry rows (store), or 10k-sample requests (telemetry).")
    var rows: Int = 1_000_000
    @Option(help: "Concurrent workers or clients.")
    var workers: Int = 2
    @Option(name: .customLong("plan-batch"), help: "Plans per transaction when writing plans (store), as SPLITD_PLAN_BATCH.")
    var planBatch: Int = 1000

    func run() async throws {
        _ = makeLogger(.warning)  // bootstraps logging for the services under test
        guard planBatch >= 1, workers >= 1, devices >= 1, rows >= 1 else { throw ValidationError("--plan-batch, --workers, --devices and --rows must be at least 1") }
        guard let data = FileManager.default.contents(atPath: model) else { throw ValidationError("cannot read model '\(model)'") }
        let graph = try SplitCore.ModelGraph(json: data)
        let scratch = try Benchmarks.Scratch.make(databaseURL: databaseURL)
        defer { scratch.cleanUp() }
        let report: (String) -> Void = { print($0) }
        switch what {
        case "store": try Benchmarks.store(scratch: scratch, graph: graph, rows: rows, devices: devices, planBatch: planBatch, report: report)
        case "fleet": try await Benchmarks.fleet(scratch: scratch, graph: graph, devices: devices, workers: workers, report: report)
        case "telemetry":
            try await Benchmarks.telemetryHTTP(scratch: scratch, graph: graph, devices: min(devices, 10_000), requests: max(1, rows / 10_000),
                                               concurrency: workers, report: report)
        case "webhooks": try await Benchmarks.webhooks(scratch: scratch, graph: graph, count: devices, workers: workers, batch: 256, report: report)
        default: throw ValidationError("unknown benchmark '\(what)'; expected store, fleet, telemetry or webhooks")
        }
    }
}
