import ArgumentParser
import Foundation
import Logging
import SplitBench
import SplitCore
import SplitServer
import SplitStore

/// `splitd`: the split-planning daemon.
@main
struct SplitD: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "splitd",
        abstract: "Split-learning planning service: HTTP API, fleet re-planning, signed webhook push.",
        version: SplitdVersion.current,
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
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)  // the command has said what it had to
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

/// The configuration flags: one per `ServerConfiguration.settings` entry (a flag wins over its
/// variable), parsed from that list so flags, variables and `--help` cannot drift apart.
struct ConfigurationOptions: ParsableArguments {
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("Settings as --flag VALUE (see below).", visibility: .hidden))
    var settingArguments: [String] = []

    /// The settings' flags, variables and defaults, for `--help`.
    static let settingsHelp: String = {
        var lines = ["SETTINGS (each flag overrides its environment variable):"]
        for setting in ServerConfiguration.settings {
            lines.append("  \(setting.flag) <value>")
            lines.append("        \(setting.variable); default \(setting.defaultValue): \(setting.help)")
        }
        return lines.joined(separator: "\n")
    }()

    /// The flag values given, keyed by variable; unknown flags are refused.
    func overrides() throws -> [String: String] {
        var overrides: [String: String] = [:]
        var index = 0
        while index < settingArguments.count {
            let argument = settingArguments[index]
            var flag = argument, value: String?
            if let equals = argument.firstIndex(of: "=") {
                flag = String(argument[..<equals])
                value = String(argument[argument.index(after: equals)...])
            }
            guard flag.hasPrefix("--"), let setting = ServerConfiguration.settings.first(where: { $0.flag == flag }) else {
                throw ValidationError("unknown option '\(flag)'; 'splitd serve --help' lists every setting")
            }
            if value == nil {
                index += 1
                guard index < settingArguments.count else { throw ValidationError("\(flag) needs a value") }
                value = settingArguments[index]
            }
            overrides[setting.variable] = value
            index += 1
        }
        return overrides
    }

    func load() throws -> ServerConfiguration {
        try ServerConfiguration.load(overrides: try overrides())
    }
}

/// Sets up swift-log once, to stderr at the configured level and format.
func makeLogger(_ configuration: ServerConfiguration) -> Logger {
    let level = configuration.logLevel
    switch configuration.logFormat {
    case .text:
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    case .json:
        LoggingSystem.bootstrap { JSONLogHandler(label: $0, level: level) }
    }
    var logger = Logger(label: "splitd")
    logger.logLevel = level
    return logger
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the daemon (the default).", discussion: ConfigurationOptions.settingsHelp)
    @OptionGroup var options: ConfigurationOptions

    func run() async throws {
        let configuration = try options.load()
        let logger = makeLogger(configuration)
        try await Daemon.run(configuration, logger: logger)
    }
}

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending database migrations and exit.", discussion: "Takes the same settings as 'splitd serve'.")
    @OptionGroup var options: ConfigurationOptions

    func run() throws {
        let configuration = try options.load()
        let logger = makeLogger(configuration)
        let (url, embedded) = try Daemon.database(configuration, logger: logger)
        defer { try? embedded?.stop() }
        let migrator = try Daemon.migrate(url: url, apply: true, directory: configuration.migrationsDirectory, logger: logger)
        let connection = try PostgresConnection(url: url)
        defer { connection.close() }
        let status = try migrator.verify(connection)
        print("schema at version \(status.applied.last ?? 0) (\(status.applied.count) migration(s) applied)")
    }
}

struct Database: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "Manage the embedded PostgreSQL cluster in the state directory: start, stop, status, url.",
        discussion: "Takes the settings of 'splitd serve' (--state-dir, --pg-bin); status exits 3 when the cluster is stopped.")
    @Argument(help: "start | stop | status | url")
    var action: String
    @OptionGroup var options: ConfigurationOptions

    func run() throws {
        let configuration = try ServerConfiguration.load(overrides: try options.overrides())
        let cluster = EmbeddedPostgres(stateDirectory: configuration.stateDirectory, binDirectory: configuration.postgresBinDirectory)
        switch action {
        case "start": print(try cluster.start())
        case "stop": try cluster.forceStop()
        case "status":
            guard cluster.running else {
                print("stopped (\(cluster.dataDirectory.path))")
                throw ExitCode(3)
            }
            print("running: \(cluster.url())")
        case "url":
            guard cluster.exists else {
                throw ValidationError("no embedded cluster in \(configuration.stateDirectory.path) yet; start splitd (or 'splitd db start') first")
            }
            print(cluster.url())
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
            telemetry: telemetry over HTTP (the API in this process, concurrent clients) from a collector
                       (10k-sample requests, admin token); with --per-device, as devices send it: one
                       sample per request with each device's own token over --connections connections
            webhooks:  draining --devices enqueued deliveries into a local receiver
            history:   --plans plans of --devices devices and a delivery each, then every docs/sql.md query and one
                       device's history timed (median, p99), then the outbox trimmed and timed again
            restart:   a splitd process (this binary) restarted under --rate one-sample telemetry POSTs a second
                       from --devices devices over at most --connections keep-alive connections, --seconds
                       long; --mode activation (SIGTERM, next process on the same inherited socket), plain
                       (SIGTERM, next process binds the port) or kill-9; counts requests not answered 2xx
            outbox:    the outbox in a steady state for --seconds (--devices with a delivery each, --rate new
                       deliveries/s claimed, delivered and trimmed after 60 s): rows and size on disk over time;
                       --outbox-autovacuum default runs it with PostgreSQL's autovacuum settings instead of 0009's
            Prints one JSON line per measurement.
            """)

    @Argument(help: "store | fleet | telemetry | webhooks | history | restart | outbox")
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
    @Option(
        name: .customLong("plan-batch"),
        help: "Devices per planning transaction (fleet; default: the daemon's SPLITD_PLAN_BATCH) or plans per transaction (store; default 1000).")
    var planBatch: Int?
    @Flag(name: .customLong("per-device"), help: "telemetry: one sample per request, each device with its own token.")
    var perDevice = false
    @Option(help: "telemetry --per-device: concurrent keep-alive HTTP connections; restart: the most the client opens at once.")
    var connections: Int = 200
    @Option(
        help:
            """
            telemetry --per-device: seconds measured (after a warm-up of a quarter of that, at least 2 s); restart: seconds of load; \
            outbox: seconds of churn.
            """
    )
    var seconds: Double = 20
    @OptionGroup var restart: RestartBenchOptions
    @OptionGroup var history: HistoryBenchOptions
    @Option(help: "outbox: new deliveries per second (default 150); restart: requests started per second, open loop (default 400).")
    var rate: Double?
    @Option(name: .customLong("outbox-autovacuum"), help: "outbox: 'outbox' (migration 0009's settings) or 'default' (PostgreSQL's).")
    var outboxAutovacuum: String = "outbox"

    func run() async throws {
        var logging = ServerConfiguration()
        logging.logLevel = .warning
        _ = makeLogger(logging)  // bootstraps logging for the services under test
        guard planBatch ?? 1 >= 1, workers >= 1, devices >= 1,
            rows >= 1
        else { throw ValidationError("--plan-batch, --workers, --devices and --rows must be at least 1") }
        guard let data = FileManager.default.contents(atPath: model) else { throw ValidationError("cannot read model '\(model)'") }
        let graph = try SplitCore.ModelGraph(json: data)
        let historyOptions = what == "history" ? try history.options(devices: devices) : nil
        let scratch = try Benchmarks.Scratch.make(databaseURL: databaseURL)
        defer { history.keepDatabase ? FileHandle.standardError.write(Data("scratch database kept: \(scratch.url)\n".utf8)) : scratch.cleanUp() }
        let report: (String) -> Void = { print($0) }
        switch what {
        case "store": try Benchmarks.store(scratch: scratch, graph: graph, rows: rows, devices: devices, planBatch: planBatch ?? 1000, report: report)
        case "fleet":
            try await Benchmarks.fleet(
                scratch: scratch, graph: graph, devices: devices, workers: workers,
                planBatch: planBatch ?? ServerConfiguration().planBatchSize, report: report)
        case "telemetry" where perDevice:
            guard connections >= 1, seconds > 0 else { throw ValidationError("--connections must be at least 1 and --seconds positive") }
            try await Benchmarks.telemetryPerDevice(
                scratch: scratch, graph: graph, devices: devices, connections: connections, seconds: seconds,
                warmUpSeconds: max(2, seconds / 4), configuration: ServerConfiguration(), report: report)
        case "telemetry":
            try await Benchmarks.telemetryHTTP(
                scratch: scratch, graph: graph, devices: min(devices, 10_000), requests: max(1, rows / 10_000),
                concurrency: workers, report: report)
        case "webhooks": try await Benchmarks.webhooks(scratch: scratch, graph: graph, count: devices, workers: workers, batch: 256, report: report)
        case "outbox":
            let rate = self.rate ?? 150
            guard rate > 0, ["outbox", "default"].contains(outboxAutovacuum) else {
                throw ValidationError("--rate must be positive and --outbox-autovacuum 'outbox' or 'default'")
            }
            var options = Benchmarks.OutboxChurnOptions()
            (options.devices, options.deliveriesPerSecond, options.seconds) = (devices, rate, seconds)
            options.outboxAutovacuum = outboxAutovacuum == "outbox"
            try Benchmarks.outboxChurn(scratch: scratch, graph: graph, options: options, report: report)
        case "history":
            try Benchmarks.history(
                scratch: scratch, graph: graph, options: historyOptions ?? Benchmarks.HistoryOptions(),
                progress: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }, report: report)
        case "restart":
            try await restartBenchmark(scratch: scratch, graph: graph, report: report)
        default: throw ValidationError("unknown benchmark '\(what)'; expected store, fleet, telemetry, webhooks, history, restart or outbox")
        }
    }
}

extension Bench {
    /// `splitd bench restart`: one restart of a real splitd under load, as one JSON line.
    func restartBenchmark(scratch: Benchmarks.Scratch, graph: SplitCore.ModelGraph, report: (String) -> Void) async throws {
        guard let mode = Benchmarks.RestartMode(rawValue: restart.mode) else {
            throw ValidationError("--mode must be activation, plain or kill-9, got '\(restart.mode)'")
        }
        guard let reuse = RateLoadClient.Reuse(rawValue: restart.pool) else { throw ValidationError("--pool must be lifo or fifo") }
        let rate = self.rate ?? 400
        guard rate > 0, seconds >= 3, connections >= 1 else { throw ValidationError("--rate must be positive, --seconds at least 3") }
        let tokens = try Benchmarks.seedTelemetryDevices(url: scratch.url, graph: graph, devices: devices)
        var options = Benchmarks.RestartOptions()
        options.mode = mode
        options.rate = rate
        options.seconds = seconds
        options.maximumConnections = connections
        options.reuse = reuse
        let state = URL(fileURLWithPath: "/tmp/splitd-bench-restart-\(getpid())")
        defer { try? FileManager.default.removeItem(at: state) }
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SPLITD_") && !$0.key.hasPrefix("LISTEN_") }
        environment.merge([
            "SPLITD_DATABASE_URL": scratch.url, "SPLITD_ADMIN_TOKEN": "bench-admin-token-0123456789",
            "SPLITD_SECRET_KEY": Data(repeating: 7, count: 32).base64EncodedString(), "SPLITD_STATE_DIR": state.path,
            "SPLITD_MIGRATIONS_DIR": try Migration.defaultDirectory().path, "SPLITD_LOG_LEVEL": "info",
        ]) { _, new in new }
        let binary = URL(fileURLWithPath: restart.binary ?? "/proc/self/exe").resolvingSymlinksInPath()
        let result = try await Benchmarks.restartUnderLoad(
            binary: binary, environment: environment, tokens: tokens, options: options,
            logDirectory: FileManager.default.temporaryDirectory, progress: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
        let connection = try PostgresConnection(url: scratch.url)
        defer { connection.close() }
        let stored = try connection.query("SELECT count(*) AS n FROM telemetry").int(0, "n") ?? -1
        let outcome = result.outcome
        report(
            Benchmarks.line([
                "benchmark": "restart", "mode": mode.rawValue, "pool": reuse.rawValue, "rate": options.rate, "seconds": options.seconds,
                "max_connections": options.maximumConnections, "devices": devices, "sent": outcome.sent, "succeeded": outcome.succeeded,
                "failed": outcome.failed, "failures": outcome.failures,
                "statuses": Dictionary(uniqueKeysWithValues: outcome.statusCounts.map { ("\($0.key)", $0.value) }),
                "connections_opened": outcome.connectionsOpened, "p50_ms": outcome.quantileMilliseconds(0.5),
                "p99_ms": outcome.quantileMilliseconds(0.99), "max_ms": outcome.quantileMilliseconds(1),
                "stop_seconds": result.stopSeconds, "start_seconds": result.startSeconds, "old_exit": result.oldExitStatus,
                "new_exit": result.newExitStatus ?? -1, "rows_stored": stored,
                "drain": result.oldLog.split(separator: "\n").last { $0.contains("HTTP drain finished") }.map(String.init) ?? "",
            ]))
    }
}

/// The options of `splitd bench restart` (the others ignore them).
struct RestartBenchOptions: ParsableArguments {
    @Option(help: "restart: activation | plain | kill-9.")
    var mode: String = "activation"
    @Option(help: "restart: the splitd binary restarted (default: this one; e.g. an older build, to compare).")
    var binary: String?
    @Option(help: "restart: which idle connection the client reuses: lifo (most recent, as client libraries do) or fifo (in turn).")
    var pool: String = "lifo"
}

/// The options of `splitd bench history` (the others ignore them).
struct HistoryBenchOptions: ParsableArguments {
    @Option(help: "history: plans stored, spread evenly over --devices (one a day each), with one delivery per plan.")
    var plans: Int = 10_000_000
    @Option(help: "history: timed runs per query, after one warm-up (one device's history: ten times as many).")
    var runs: Int = 20
    @Option(
        name: .customLong("delivery-retention"),
        help: "history: then trim deliveries past this retention (e.g. 7d; 'none' skips it) and time the queries again.")
    var deliveryRetention: String = "7d"
    @Flag(help: "history: print each query's EXPLAIN (ANALYZE, BUFFERS) to stderr.")
    var explain = false
    @Flag(name: .customLong("keep-database"), help: "Leave the scratch database (and its cluster) in place and print its URL on stderr.")
    var keepDatabase = false

    /// The history benchmark's settings, checked.
    func options(devices: Int) throws -> Benchmarks.HistoryOptions {
        guard plans >= devices, runs >= 1 else { throw ValidationError("--plans must be at least --devices, and --runs at least 1") }
        var options = Benchmarks.HistoryOptions()
        options.plans = plans
        options.devices = devices
        options.runs = runs
        options.explain = explain
        if deliveryRetention == "none" {
            options.trimRetentionSeconds = nil
        } else {
            do {
                options.trimRetentionSeconds = try Benchmarks.parseRetention(deliveryRetention)
            } catch {
                throw ValidationError("--delivery-retention: \(error)")
            }
        }
        return options
    }
}
