import Foundation
import Hummingbird
import Logging
import SplitCore
import SplitPush
import SplitServer
import SplitStore

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Throughput benchmarks of the store and the services (`splitd bench ...`). Each sets up its own
/// data in a fresh database, measures wall time around the operation under test only, and prints
/// one JSON line per measurement.
package enum Benchmarks {
    /// A fresh, migrated database: a new database on `url`'s server, or an embedded cluster in a
    /// temporary state directory (durable settings, as the daemon runs it).
    package struct Scratch: Sendable {
        package let url: String
        let cluster: EmbeddedPostgres?
        let databaseName: String
        let adminURL: String

        package static func make(databaseURL: String?) throws -> Scratch {
            let name = "splitd_bench_\(getpid())"
            if let databaseURL {
                let admin = try PostgresConnection(url: databaseURL)
                defer { admin.close() }
                try admin.execute("DROP DATABASE IF EXISTS \(name)")
                try admin.execute("CREATE DATABASE \(name)")
                let url = databaseURL.replacingDatabase(with: name)
                try migrate(url)
                return Scratch(url: url, cluster: nil, databaseName: name, adminURL: databaseURL)
            }
            let directory = URL(fileURLWithPath: "/tmp/splitd-bench-\(getpid())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
            let cluster = EmbeddedPostgres(stateDirectory: directory)
            try cluster.start()
            try cluster.ensureDatabase(name)
            let url = cluster.url(database: name)
            try migrate(url)
            return Scratch(url: url, cluster: cluster, databaseName: name, adminURL: cluster.url(database: "postgres"))
        }

        static func migrate(_ url: String) throws {
            let connection = try PostgresConnection(url: url)
            defer { connection.close() }
            try Migrator(migrations: try Migration.load(from: try Migration.defaultDirectory())).migrate(connection)
        }

        package func cleanUp() {
            if let cluster {
                try? cluster.forceStop()
                try? FileManager.default.removeItem(at: cluster.stateDirectory)
            } else if let admin = try? PostgresConnection(url: adminURL) {
                _ = try? admin.execute("DROP DATABASE IF EXISTS \(databaseName) WITH (FORCE)")
                admin.close()
            }
        }
    }

    static let benchSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    /// Registers `model` (from a splitgraph file), an edge server and `count` devices with link
    /// estimates in bulk SQL (the set-up, not what is measured).
    static func seedFleet(_ connection: PostgresConnection, graph: ModelGraph, devices count: Int, callback: String?) throws {
        _ = try ModelRepository.store(graph, connection: connection)
        _ = try? EdgeServerRepository.create(id: "edge-bench", computeFLOPs: 2e13, connection: connection)
        try connection.transaction {
            try connection.query(
                """
                INSERT INTO devices (id, model_name, edge_server_id, batch_size, compute_flops, webhook_secret, token_hash, callback_url)
                SELECT 'bench-' || g, $1, 'edge-bench', 32, 1e11, $2, md5('bench-' || g), $4 FROM generate_series(1, $3) g
                """, [graph.name, benchSecret, count, callback])
            try connection.query(
                """
                INSERT INTO planning_state (device_id, requested_reason, requested_at)
                SELECT 'bench-' || g, 'new device', now() FROM generate_series(1, $1) g
                """, [count])
            // Links spread over 1 Mbit/s … 10 Gbit/s so plans differ between devices.
            try connection.query(
                """
                INSERT INTO link_estimates (device_id, uplink_bps, downlink_bps, rtt_seconds, samples, measured_at)
                SELECT 'bench-' || g, 1e6 * power(10, (g % 1000) / 250.0), 2e6 * power(10, (g % 1000) / 250.0), 0.01, 1, now()
                FROM generate_series(1, $1) g
                """, [count])
        }
        try connection.execute("ANALYZE")
    }

    /// Gives devices `bench-1` … `bench-<devices>` real device tokens (returned, in order; each
    /// fixed by its device's id) stored as registration stores them.
    static func seedDeviceTokens(_ connection: PostgresConnection, devices: Int) throws -> [String] {
        let ids = (1...devices).map { "bench-\($0)" }
        let tokens = ids.map { DeviceToken.prefix + DeviceToken.hash($0) }
        try connection.query(
            """
            UPDATE devices d SET token_hash = v.hash FROM unnest($1::text[], $2::text[]) AS v(id, hash) WHERE d.id = v.id
            """, [PostgresValue.textArray(ids), PostgresValue.textArray(tokens.map(DeviceToken.hash))])
        return tokens
    }

    /// Lets the previous phase's background work finish before a measurement: vacuum and analyze
    /// (autovacuum would otherwise start on the freshly loaded tables mid-run, on the same two
    /// cores) and a checkpoint (needs a superuser or pg_checkpoint; skipped when refused).
    static func settle(_ connection: PostgresConnection) {
        _ = try? connection.execute("VACUUM (ANALYZE)")
        _ = try? connection.execute("CHECKPOINT")
    }

    package static func line(_ fields: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    static func seconds(_ start: DispatchTime) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9 }

    /// COPY ingest rate, reading 100k link estimates, writing 100k plan rows.
    package static func store(scratch: Scratch, graph: ModelGraph, rows: Int, devices: Int, planBatch: Int, report: (String) -> Void) throws {
        let connection = try PostgresConnection(url: scratch.url)
        defer { connection.close() }
        try seedFleet(connection, graph: graph, devices: devices, callback: nil)
        // Telemetry through the ingest path (device check, partitions, COPY, EWMA update), 10k per batch as the API does.
        let now = Date()
        var samples: [TelemetrySample] = []
        samples.reserveCapacity(rows)
        for index in 0..<rows {
            samples.append(
                TelemetrySample(
                    deviceID: "bench-\(1 + index % min(devices, 10_000))",
                    measuredAt: now.addingTimeInterval(-Double(rows - index) * 0.01),
                    uplinkBitsPerSecond: 1e7 + Double(index % 977), downlinkBitsPerSecond: 2e7, rttSeconds: 0.01))
        }
        let batches = stride(from: 0, to: rows, by: 10_000).map { Array(samples[$0..<min(rows, $0 + 10_000)]) }
        // The storage path alone: partitions + COPY, 10k rows per statement.
        var started = DispatchTime.now()
        for batchSize in [10_000, 100_000] {
            try connection.execute("TRUNCATE telemetry")
            started = DispatchTime.now()
            for offset in stride(from: 0, to: rows, by: batchSize) {
                try TelemetryRepository.append(Array(samples[offset..<min(rows, offset + batchSize)]), connection: connection)
            }
            let copyOnly = seconds(started)
            report(
                line([
                    "benchmark": "telemetry_copy", "rows": rows, "rows_per_copy": batchSize, "seconds": copyOnly,
                    "rows_per_second": Double(rows) / copyOnly,
                ]))
        }
        // The full ingest path (device check, COPY, EWMA estimates, re-plan marks) with 1 and 2 writers.
        try connection.execute("TRUNCATE telemetry")
        for writers in [1, 2] {
            let pool = ConnectionPool(url: scratch.url, maximumConnections: writers)
            started = DispatchTime.now()
            try runConcurrently(batches.count, writers: writers) { index in
                _ = try pool.withConnectionBlocking { try TelemetryRepository.ingest(batches[index], connection: $0) }
            }
            let ingest = seconds(started)
            report(
                line([
                    "benchmark": "telemetry_ingest", "writers": writers, "rows": rows, "distinct_devices_per_batch": min(devices, 10_000),
                    "seconds": ingest, "rows_per_second": Double(rows) / ingest,
                ]))
        }
        started = DispatchTime.now()
        let estimates = try TelemetryRepository.estimates(connection: connection)
        let read = seconds(started)
        report(line(["benchmark": "read_link_estimates", "devices": estimates.count, "seconds": read]))

        let names = graph.layerNames
        let model = try PreparedModel(graph: graph)
        let planner = SplitPlanner(model: model)
        var plans: [NewPlan] = []
        for (index, estimate) in estimates.enumerated() {
            let conditions = PlanningConditions(
                batchSize: 32, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 2e13,
                uplinkBitsPerSecond: estimate.uplinkBitsPerSecond,
                downlinkBitsPerSecond: estimate.downlinkBitsPerSecond,
                rttSeconds: estimate.rttSeconds)
            let plan = try planner.plan(.block, conditions: conditions)
            plans.append(
                NewPlan(
                    deviceID: estimate.deviceID, modelName: graph.name, modelVersion: 1, algorithm: "block", conditions: conditions,
                    deviceLayers: plan.deviceLayers.map { names[$0] }, cutLayers: plan.cutLayers.map { names[$0] },
                    splitFingerprint: SplitFingerprint.of(modelName: graph.name, modelVersion: 1, onDevice: plan.onDevice),
                    predictedDelaySeconds: plan.delaySeconds, transferBytes: plan.transferBytes, breakdown: plan.breakdown,
                    solveMicroseconds: plan.solveMicroseconds, reason: index % 2 == 0 ? .newDevice : .telemetryChange, deliver: false))
        }
        let averageLayers = Double(plans.map(\.deviceLayers.count).reduce(0, +)) / Double(max(plans.count, 1))
        // As the planning workers store them: one transaction per batch of `planBatch` plans.
        let planBatches = stride(from: 0, to: plans.count, by: planBatch).map { Array(plans[$0..<min(plans.count, $0 + planBatch)]) }
        // New devices with one and two writers, then every device again (each plan supersedes one).
        for (writers, supersede) in [(1, false), (2, false), (2, true)] {
            if !supersede { try connection.execute("TRUNCATE plans, splits CASCADE") }
            settle(connection)
            let pool = ConnectionPool(url: scratch.url, maximumConnections: writers)
            started = DispatchTime.now()
            try runConcurrently(planBatches.count, writers: writers) { index in
                _ = try pool.withConnectionBlocking { connection in
                    try connection.transaction {
                        try PlanRepository.store(
                            planBatches[index],
                            connection: connection)
                    }
                }
            }
            let elapsed = seconds(started)
            let splits = try connection.query("SELECT count(*) AS n FROM splits").int(0, "n") ?? 0
            report(
                line([
                    "benchmark": "write_plans", "writers": writers, "plans": plans.count, "plans_per_transaction": planBatch, "seconds": elapsed,
                    "superseding": supersede, "mean_device_layers": averageLayers, "distinct_splits": splits,
                ]))
        }
    }

    /// Runs `work(0..<count)` on `writers` threads.
    static func runConcurrently(_ count: Int, writers: Int, _ work: @escaping @Sendable (Int) throws -> Void) throws {
        let next = NSLock()
        nonisolated(unsafe) var index = 0
        nonisolated(unsafe) var failure: Error?
        let group = DispatchGroup()
        for _ in 0..<writers {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                while true {
                    next.lock()
                    let mine = index
                    index += 1
                    let failed = failure != nil
                    next.unlock()
                    guard mine < count, !failed else { return }
                    do { try work(mine) } catch {
                        next.lock()
                        failure = failure ?? error
                        next.unlock()
                    }
                }
            }
        }
        group.wait()
        if let failure { throw failure }
    }

    /// One full planning cycle over `devices` new devices (read estimates, plan, write plans,
    /// enqueue deliveries), then a cycle after 10% of the links moved.
    package static func fleet(
        scratch: Scratch, graph: ModelGraph, devices: Int, workers: Int, planBatch: Int,
        report: (String) -> Void
    ) async throws {
        let connection = try PostgresConnection(url: scratch.url)
        try seedFleet(connection, graph: graph, devices: devices, callback: "https://bench.invalid/hook")
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        settle(connection)
        let pool = ConnectionPool(url: scratch.url, maximumConnections: workers + 2)
        let service = PlanningService(
            pool: pool,
            planner: FleetPlanner(
                cache: ModelCache(), tables: TableCache(), settings: ServerConfiguration().planningSettings,
                algorithm: .block, logger: logger),
            interval: 10, batchSize: planBatch, workers: workers, metrics: ServerMetrics.shared, logger: logger)
        var started = DispatchTime.now()
        let first = await service.runCycle()
        let cold = seconds(started)
        let deliveries = try connection.query("SELECT count(*) AS n FROM webhook_deliveries").int(0, "n") ?? 0
        report(
            line([
                "benchmark": "fleet_replan_cycle", "devices": first.planned, "plans_stored": first.stored, "deliveries_enqueued": deliveries,
                "seconds": cold, "workers": workers, "plan_batch": planBatch,
            ]))
        // 10% of the links jump 8x, through the real ingest path (which marks them for planning).
        let moved = try TelemetryRepository.estimates(connection: connection).prefix(devices / 10)
        let later = Date().addingTimeInterval(600)
        let samples = moved.map {
            TelemetrySample(
                deviceID: $0.deviceID, measuredAt: later, uplinkBitsPerSecond: $0.uplinkBitsPerSecond * 8,
                downlinkBitsPerSecond: $0.downlinkBitsPerSecond * 8, rttSeconds: $0.rttSeconds)
        }
        for offset in stride(from: 0, to: samples.count, by: 10_000) {
            try TelemetryRepository.ingest(Array(samples[offset..<min(samples.count, offset + 10_000)]), connection: connection)
        }
        started = DispatchTime.now()
        let second = await service.runCycle()
        report(
            line([
                "benchmark": "fleet_replan_cycle_10pct_moved", "devices": second.planned, "plans_stored": second.stored,
                "seconds": seconds(started), "workers": workers, "plan_batch": planBatch,
            ]))
        await pool.close()
        connection.close()
    }

    /// Enqueues `count` deliveries and measures the delivery service draining them into a local
    /// receiver (signing, libcurl, outcome bookkeeping included).
    package static func webhooks(scratch: Scratch, graph: ModelGraph, count: Int, workers: Int, batch: Int, report: (String) -> Void) async throws {
        let receiver = try await LocalReceiver.start()
        let connection = try PostgresConnection(url: scratch.url)
        try seedFleet(connection, graph: graph, devices: count, callback: "http://127.0.0.1:\(receiver.port)/hook")
        let ids = try connection.query("SELECT id FROM devices ORDER BY id")
        let plans = (0..<ids.rowCount).map { row in
            NewPlan(
                deviceID: ids.string(row, "id")!, modelName: graph.name, modelVersion: 1, algorithm: "block",
                conditions: PlanningConditions(
                    batchSize: 32, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 2e13,
                    uplinkBitsPerSecond: 1e8, downlinkBitsPerSecond: 2e8, rttSeconds: 0.01),
                deviceLayers: ["x", "conv1"], cutLayers: ["conv1"], splitFingerprint: "x-conv1", predictedDelaySeconds: 1, transferBytes: 1000,
                breakdown: DelayBreakdown(
                    deviceComputeSeconds: 0.5, serverComputeSeconds: 0.1, uplinkSeconds: 0.2, downlinkSeconds: 0.19,
                    rttSeconds: 0.01),
                solveMicroseconds: 1, reason: .newDevice, deliver: true)
        }
        try connection.transaction { _ = try PlanRepository.store(plans, connection: connection) }
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let pool = ConnectionPool(url: scratch.url, maximumConnections: workers + 4)
        let service = DeliveryService(
            pool: pool, secrets: try SecretBox(keyBytes: [UInt8](repeating: 7, count: 32)), client: WebhookClient(timeoutSeconds: 10),
            policy: try TargetPolicy(allowList: ["127.0.0.1"]), planning: ServerConfiguration().planningSettings, schedule: .standard,
            owner: "bench", batchSize: batch, workers: workers, leaseSeconds: 60, metrics: ServerMetrics.shared, logger: logger)
        let started = DispatchTime.now()
        let run = Task { try await service.run() }
        while try connection.query("SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'delivered'").int(0, "n")! < count {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        let elapsed = seconds(started)
        run.cancel()
        _ = try? await run.value
        report(
            line([
                "benchmark": "webhook_deliveries", "deliveries": count, "received": await receiver.count(), "seconds": elapsed,
                "deliveries_per_second": Double(count) / elapsed, "workers": workers, "batch": batch,
            ]))
        await receiver.stop()
        await pool.close()
        connection.close()
    }
}

/// A minimal in-process webhook receiver for the delivery benchmark (answers 204).
final class LocalReceiver: Sendable {
    private actor Counter {
        var value = 0
        func increment() { value += 1 }
    }
    private let counter: Counter
    private let task: Task<Void, Error>
    let port: Int

    private init(port: Int, task: Task<Void, Error>, counter: Counter) {
        self.port = port
        self.task = task
        self.counter = counter
    }

    static func start() async throws -> LocalReceiver {
        let counter = Counter()
        let router = Router()
        router.post("/hook") { request, _ -> Response in
            var request = request
            _ = try await request.collectBody(upTo: 1 << 20)
            await counter.increment()
            return Response(status: .noContent)
        }
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "bench-receiver")
        logger.logLevel = .critical
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        var iterator = stream.makeAsyncIterator()
        let port = await iterator.next() ?? 0
        return LocalReceiver(port: port, task: task, counter: counter)
    }

    func count() async -> Int { await counter.value }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }
}

extension Benchmarks {
    /// Telemetry over HTTP: the real API router in this process, `concurrency` clients posting
    /// pre-encoded 10,000-sample batches for `devices` devices with the admin token.
    package static func telemetryHTTP(
        scratch: Scratch, graph: ModelGraph, devices: Int, requests: Int, concurrency: Int,
        report: (String) -> Void
    ) async throws {
        let connection = try PostgresConnection(url: scratch.url)
        try seedFleet(connection, graph: graph, devices: devices, callback: nil)
        connection.close()
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let pool = ConnectionPool(url: scratch.url, maximumConnections: concurrency + 2)
        let token = "bench-admin-token-0123456789"
        let migrator = Migrator(migrations: try Migration.load(from: try Migration.defaultDirectory()))
        let api = try Daemon.api(
            ServerConfiguration(), pool: pool, migrator: migrator,
            secrets: try SecretBox(
                keyBytes: [UInt8](
                    repeating: 7,
                    count: 32)),
            adminTokens: [token], metrics: ServerMetrics.shared, logger: logger)
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: APIRoutes.router(api), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        let server = Task { try await app.runService(gracefulShutdownSignals: []) }
        var iterator = stream.makeAsyncIterator()
        let port = await iterator.next() ?? 0
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let start = Date().addingTimeInterval(-3600)
        let bodies: [Data] = try (0..<requests).map { request in
            let samples = (0..<10_000).map { index -> [String: Any] in
                [
                    "device": "bench-\(1 + (request * 10_000 + index) % devices)",
                    "measured_at": formatter.string(from: start.addingTimeInterval(Double(request * 10_000 + index) * 0.0001)),
                    "uplink_bps": 1e7 + Double(index % 1000), "downlink_bps": 2e7, "rtt_seconds": 0.01,
                ]
            }
            return try JSONSerialization.data(withJSONObject: ["samples": samples])
        }
        let url = URL(string: "http://127.0.0.1:\(port)/v1/telemetry")!
        let started = DispatchTime.now()
        let accepted = try await withThrowingTaskGroup(of: Int.self) { group in
            let next = RequestCounter()
            for _ in 0..<concurrency {
                group.addTask {
                    var total = 0
                    while let index = await next.take(below: bodies.count) {
                        var request = URLRequest(url: url)
                        request.httpMethod = "POST"
                        request.httpBody = bodies[index]
                        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
                        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                        let (_, response) = try await URLSession.shared.data(for: request)
                        guard (response as? HTTPURLResponse)?.statusCode == 202 else { throw MigrationError("telemetry request failed: \(response)") }
                        total += 10_000
                    }
                    return total
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = seconds(started)
        report(
            line([
                "benchmark": "telemetry_http", "samples": accepted, "requests": requests, "concurrency": concurrency,
                "seconds": elapsed, "samples_per_second": Double(accepted) / elapsed,
            ]))
        server.cancel()
        _ = try? await server.value
        await pool.close()
    }

    private actor RequestCounter {
        var next = 0
        func take(below limit: Int) -> Int? {
            guard next < limit else { return nil }
            defer { next += 1 }
            return next
        }
    }
}

extension String {
    /// The URL with its database path replaced (`postgres://h/db` → `postgres://h/name`).
    func replacingDatabase(with name: String) -> String {
        guard var components = URLComponents(string: self) else { return self + " dbname=\(name)" }
        components.path = "/" + name
        return components.string ?? self
    }
}
