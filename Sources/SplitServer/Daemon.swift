import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import SplitCore
import SplitPush
import SplitStore
import SplitSupport

/// The splitd daemon: HTTP API, fleet planning, webhook delivery and maintenance as one service
/// group with graceful shutdown on SIGTERM/SIGINT.
package enum Daemon {
    /// Resolves the database: the configured URL, or the embedded cluster under the state directory
    /// (started now; returned so it can be stopped on shutdown).
    package static func database(_ configuration: ServerConfiguration, logger: Logger) throws -> (url: String, embedded: EmbeddedPostgres?) {
        if let url = configuration.databaseURL { return (url, nil) }
        try FileManager.default.createDirectory(
            at: configuration.stateDirectory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o711])
        let embedded = EmbeddedPostgres(stateDirectory: configuration.stateDirectory, binDirectory: configuration.postgresBinDirectory)
        let url = try embedded.start(adopt: true)
        logger.info("using the embedded PostgreSQL cluster", metadata: ["data": "\(embedded.dataDirectory.path)", "url": "\(url)"])
        return (url, embedded)
    }

    /// Applies (or, with auto-migrate off, checks) migrations; throws with a clear message on drift.
    package static func migrate(url: String, apply: Bool, directory: String?, logger: Logger) throws -> Migrator {
        let migrator = Migrator(migrations: try Migration.load(from: try Migration.defaultDirectory(configured: directory)))
        let connection = try PostgresConnection(url: url)
        defer { connection.close() }
        if apply {
            let applied = try migrator.migrate(connection)
            if !applied.isEmpty { logger.info("migrations applied", metadata: ["versions": "\(applied)"]) }
        } else {
            let status = try migrator.verify(connection)
            guard status.pending.isEmpty else {
                throw MigrationError("migrations \(status.pending) are not applied and SPLITD_AUTO_MIGRATE is off; run 'splitd migrate'")
            }
        }
        return migrator
    }

    /// The admin tokens: configured, or (loopback-only listeners) one generated once and kept in
    /// the state directory with mode 0600.
    package static func adminTokens(_ configuration: ServerConfiguration, logger: Logger) throws -> [String] {
        if !configuration.adminTokens.isEmpty { return configuration.adminTokens }
        return [try generatedAdminToken(configuration, logger: logger)]
    }

    static func generatedAdminToken(_ configuration: ServerConfiguration, logger: Logger) throws -> String {
        let file = configuration.adminTokenFile
        if let existing = try? String(contentsOf: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), existing.count >= 16 {
            logger.info("admin token read from the state directory", metadata: ["file": "\(file.path)"])
            return existing
        }
        try FileManager.default.createDirectory(at: configuration.stateDirectory, withIntermediateDirectories: true)
        let token = "sda_" + Hex.encode(SecureRandom.bytes(32))
        _ = FileManager.default.createFile(atPath: file.path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
        logger.notice("generated an admin token (loopback-only listener)", metadata: ["file": "\(file.path)"])
        return token
    }

    /// The box that encrypts stored webhook secrets: its key from `SPLITD_SECRET_KEY`, or one
    /// generated once into the state directory (mode 0600). Replicas sharing a database need the
    /// same key; the database remembers a digest of it and refuses another.
    package static func secretBox(_ configuration: ServerConfiguration, logger: Logger) throws -> SecretBox {
        if let key = configuration.secretKey { return try SecretBox(base64Key: key) }
        let file = configuration.stateDirectory.appendingPathComponent("secret-key")
        if let existing = try? String(contentsOf: file, encoding: .utf8) { return try SecretBox(base64Key: existing) }
        try FileManager.default.createDirectory(at: configuration.stateDirectory, withIntermediateDirectories: true)
        let key = Data(SecureRandom.bytes(32)).base64EncodedString()
        guard FileManager.default.createFile(atPath: file.path, contents: Data((key + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ConfigurationError("SPLITD_SECRET_KEY", "is unset and \(file.path) cannot be written; set it (head -c 32 /dev/urandom | base64)")
        }
        logger.notice("generated the key that encrypts stored webhook secrets", metadata: ["file": "\(file.path)"])
        return try SecretBox(base64Key: key)
    }

    /// The HTTP API's dependencies on PostgreSQL as `configuration` sets them up (the daemon's,
    /// and the service benchmarks').
    package static func api(
        _ configuration: ServerConfiguration, pool: ConnectionPool, migrator: Migrator, secrets: SecretBox, adminTokens: [String],
        metrics: ServerMetrics, logger: Logger
    ) throws -> APIDependencies {
        let cache = ModelCache()
        let store = PostgresAPIStore(
            pool: pool, cache: cache, migrator: migrator, secrets: secrets, estimator: configuration.estimator,
            thresholds: configuration.replanThresholds)
        return APIDependencies(
            store: store,
            auth: Authenticator(
                adminTokens: adminTokens, store: store,
                tokens: DeviceTokenCache(ttlSeconds: configuration.tokenCacheSeconds)),
            telemetry: TelemetryCommitter(store: store), metrics: metrics,
            policy: try TargetPolicy(allowList: configuration.webhookAllowList), maximumBodyBytes: configuration.maximumBodyBytes,
            telemetryRetentionDays: configuration.telemetryRetentionDays, logger: logger, modelCache: cache)
    }

    /// Runs until SIGTERM/SIGINT: starts everything, serves, then drains and stops.
    package static func run(_ configuration: ServerConfiguration, logger: Logger) async throws {
        let listener = try HTTPListener.resolve(configuration, logger: logger)  // before anything starts a process
        let (url, embedded) = try database(configuration, logger: logger)
        defer {
            if let embedded {
                do { try embedded.stop() } catch { logger.error("stopping the embedded PostgreSQL failed", metadata: ["error": "\(error)"]) }
            }
        }
        let migrator = try migrate(url: url, apply: configuration.autoMigrate, directory: configuration.migrationsDirectory, logger: logger)
        let tokens = try adminTokens(configuration, logger: logger)
        let secrets = try secretBox(configuration, logger: logger)
        let pool = ConnectionPool(url: url, maximumConnections: configuration.poolSize)
        try await pool.withConnection { connection in
            try SettingsRepository.verifySecretKey(secrets, connection: connection)
            let sealed = try DeviceCredentialRepository.sealPlaintextSecrets(secrets, connection: connection)
            if sealed > 0 { logger.notice("encrypted webhook secrets stored in clear by an earlier version", metadata: ["devices": "\(sealed)"]) }
        }
        let metrics = ServerMetrics.shared
        let api = try Self.api(configuration, pool: pool, migrator: migrator, secrets: secrets, adminTokens: tokens, metrics: metrics, logger: logger)
        let policy = api.policy
        let planner = FleetPlanner(
            cache: api.modelCache, tables: TableCache(), settings: configuration.planningSettings,
            algorithm: configuration.algorithm, logger: logger, metrics: metrics)
        let planning = PlanningService(
            pool: pool, planner: planner, interval: configuration.planInterval, batchSize: configuration.planBatchSize,
            workers: configuration.planWorkers, metrics: metrics, logger: logger)
        let delivery = DeliveryService(
            pool: pool, secrets: secrets, client: WebhookClient(timeoutSeconds: configuration.webhookTimeout), policy: policy,
            planning: configuration.planningSettings,
            schedule: configuration.retrySchedule, owner: configuration.instanceID, batchSize: configuration.deliveryBatchSize,
            workers: configuration.deliveryWorkers, leaseSeconds: configuration.deliveryLeaseSeconds, metrics: metrics, logger: logger)
        let maintenance = MaintenanceService(
            pool: pool, owner: configuration.instanceID, retentionDays: configuration.telemetryRetentionDays,
            interval: 60, logger: logger, deliveryRetentionSeconds: configuration.deliveryRetentionSeconds)
        let host = configuration.listenHost, instance = configuration.instanceID
        let app = HTTPServerService(
            responder: APIRoutes.router(api).buildResponder(), listener: listener, serverName: "splitd",
            drain: DrainPolicy(graceSeconds: configuration.drainGraceSeconds, timeoutSeconds: configuration.drainTimeoutSeconds),
            logger: logger,
            onServerRunning: { channel in
                logger.notice("splitd listening", metadata: ["address": "\(channel.localAddress?.description ?? host)", "instance": "\(instance)"])
                SystemdNotifier.notify("READY=1\nSTATUS=serving on \(channel.localAddress?.description ?? host)")
            })
        var services: [any Service] = [app, planning, delivery, maintenance]
        if let interval = SystemdNotifier.watchdogInterval { services.append(WatchdogService(interval: interval)) }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        do {
            try await group.run()
        } catch {
            SystemdNotifier.notify("STOPPING=1")
            await pool.close()
            if let io = error as? IOError, io.errnoCode == EADDRINUSE {
                throw ConfigurationError(
                    "SPLITD_LISTEN",
                    "cannot listen on \(host):\(configuration.listenPort): the address is already in use (another splitd?)")
            }
            logger.error("service group failed", metadata: ["error": "\(error)"])
            throw error
        }
        SystemdNotifier.notify("STOPPING=1")
        await pool.close()
        logger.notice("splitd stopped")
    }
}

/// Pings the systemd watchdog while the process is healthy.
struct WatchdogService: Service {
    let interval: TimeInterval
    func run() async throws {
        while keepRunning {
            SystemdNotifier.notify("WATCHDOG=1")
            await sleepUnlessShuttingDown(interval)
        }
    }
}
