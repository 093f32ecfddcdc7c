import Foundation
import SplitCore
import SplitStore

extension Benchmarks {
    /// What `splitd bench outbox` runs: the outbox in a steady state, as many deliveries finished
    /// and trimmed as are enqueued, and how its size on disk moves while its row count stays flat.
    package struct OutboxChurnOptions: Sendable {
        /// Devices, each with one delivery in force.
        package var devices = 1_000_000
        /// New plans (and deliveries) per second.
        package var deliveriesPerSecond = 150.0
        /// How long the steady state runs.
        package var seconds = 900.0
        /// Finished deliveries are trimmed this long after they finished (the daemon's minimum).
        package var retentionSeconds = 60.0
        /// Keep the outbox's autovacuum settings (migration 0009), or reset them to PostgreSQL's defaults.
        package var outboxAutovacuum = true
        /// Seconds between size samples.
        package var sampleSeconds = 15.0

        package init() {}
    }

    /// Seeds `devices` devices with a delivered plan each, then for `seconds`: stores new plans
    /// for devices in turn (superseding their previous plan, enqueueing a delivery), claims and
    /// delivers them as the delivery workers do, and trims finished deliveries past the retention
    /// every minute as the maintenance leader does. Reports the outbox's rows, dead rows and size
    /// on disk every `sampleSeconds`, then a summary.
    package static func outboxChurn(scratch: Scratch, graph: ModelGraph, options: OutboxChurnOptions, report: (String) -> Void) throws {
        let connection = try PostgresConnection(url: scratch.url)
        defer { connection.close() }
        try seedFleet(connection, graph: graph, devices: options.devices, callback: "http://127.0.0.1:9/hook")
        let devices = (1...options.devices).map { "bench-\($0)" }
        for start in stride(from: 0, to: devices.count, by: 10_000) {
            let slice = Array(devices[start..<min(devices.count, start + 10_000)])
            try connection.transaction {
                _ = try PlanRepository.store(slice.map { churnPlan(device: $0, graph: graph, uplink: 1e8) }, connection: connection)
            }
        }
        try connection.query("UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(), attempts = 1")
        if !options.outboxAutovacuum {
            try connection.execute(
                """
                ALTER TABLE webhook_deliveries RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold,
                    autovacuum_vacuum_insert_scale_factor, autovacuum_vacuum_insert_threshold, autovacuum_analyze_scale_factor,
                    autovacuum_analyze_threshold, autovacuum_vacuum_cost_limit)
                """)
        }
        // Compact: an outbox that has run for a while has no free space left over from seeding,
        // so what churn needs beyond what vacuum reclaims shows as growth.
        try connection.execute("VACUUM FULL webhook_deliveries")
        settle(connection)
        let settings = try connection.query(
            "SELECT coalesce(array_to_string(reloptions, ','), 'defaults') AS o FROM pg_class WHERE relname = 'webhook_deliveries'")
        let started = DispatchTime.now()
        var next = 0, lastTrim = 0.0, lastSample = -Double.infinity, uplink = 1e8
        var samples: [(seconds: Double, rows: Int, bytes: Int)] = []
        var enqueued = 0
        while seconds(started) < options.seconds {
            let tickStart = seconds(started)
            // One tick's plans: 100 ms worth, for the next devices in turn.
            let count = max(1, Int(options.deliveriesPerSecond / 10))
            var batch: [NewPlan] = []
            for _ in 0..<count {
                if next == devices.count {
                    next = 0
                    uplink *= 1.01  // another round: other plans
                }
                batch.append(churnPlan(device: devices[next], graph: graph, uplink: uplink))
                next += 1
            }
            try connection.transaction { _ = try PlanRepository.store(batch, connection: connection) }
            enqueued += batch.count
            // Delivered as the workers do: claimed under a lease, then marked delivered.
            let claimed = try DeliveryRepository.claim(
                owner: "bench", limit: count * 2, leaseSeconds: 60, secrets: benchSecrets, connection: connection)
            try DeliveryRepository.markDelivered(
                ids: claimed.map(\.id), owner: "bench", statusCodes: Array(repeating: 204, count: claimed.count), connection: connection)
            if tickStart - lastTrim >= 60 {  // as often as the maintenance leader
                lastTrim = tickStart
                var position: TrimPosition?
                let cutoff = Date().addingTimeInterval(-options.retentionSeconds)
                while true {
                    let trimmed = try DeliveryRepository.trimFinished(before: cutoff, after: position, limit: 10_000, connection: connection)
                    position = trimmed.position
                    if trimmed.scanned < 10_000 { break }
                }
            }
            if tickStart - lastSample >= options.sampleSeconds {
                lastSample = tickStart
                let stats = try connection.query(
                    """
                    SELECT (SELECT count(*) FROM webhook_deliveries) AS rows, pg_table_size('webhook_deliveries') AS table_bytes,
                           pg_indexes_size('webhook_deliveries') AS index_bytes, n_dead_tup, autovacuum_count
                    FROM pg_stat_user_tables WHERE relname = 'webhook_deliveries'
                    """)
                let rows = stats.int(0, "rows") ?? 0, tableBytes = stats.int(0, "table_bytes") ?? 0, indexBytes = stats.int(0, "index_bytes") ?? 0
                samples.append((tickStart, rows, tableBytes + indexBytes))
                report(
                    line([
                        "benchmark": "outbox_churn_sample", "seconds": (tickStart * 10).rounded() / 10, "rows": rows, "table_bytes": tableBytes,
                        "index_bytes": indexBytes, "dead_rows": stats.int(0, "n_dead_tup") ?? 0,
                        "autovacuums": stats.int(0, "autovacuum_count") ?? 0,
                    ]))
            }
            let spare = 0.1 - (seconds(started) - tickStart)
            if spare > 0 { Thread.sleep(forTimeInterval: spare) }
        }
        let first = samples.first, last = samples.last
        let secondHalf = samples.filter { $0.seconds >= options.seconds / 2 }
        report(
            line([
                "benchmark": "outbox_churn", "devices": options.devices, "deliveries_enqueued": enqueued, "seconds": seconds(started),
                "deliveries_per_second": Double(enqueued) / seconds(started), "settings": settings.string(0, "o") ?? "?",
                "rows_first": first?.rows ?? 0, "rows_last": last?.rows ?? 0, "bytes_first": first?.bytes ?? 0, "bytes_last": last?.bytes ?? 0,
                "bytes_max": samples.map(\.bytes).max() ?? 0, "bytes_second_half_min": secondHalf.map(\.bytes).min() ?? 0,
                "bytes_second_half_max": secondHalf.map(\.bytes).max() ?? 0,
            ]))
    }

    static let benchSecrets = try! SecretBox(keyBytes: [UInt8](repeating: 7, count: 32))

    /// A plan for the churn benchmark (its numbers do not matter, only that it is stored and pushed).
    static func churnPlan(device: String, graph: ModelGraph, uplink: Double) -> NewPlan {
        NewPlan(
            deviceID: device, modelName: graph.name, modelVersion: 1, algorithm: "block",
            conditions: PlanningConditions(
                batchSize: 32, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 2e13,
                uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: 2 * uplink, rttSeconds: 0.01),
            deviceLayers: [graph.layers[0].name], cutLayers: [graph.layers[0].name], splitFingerprint: "churn", predictedDelaySeconds: 1,
            transferBytes: 1000,
            breakdown: DelayBreakdown(
                deviceComputeSeconds: 0.5, serverComputeSeconds: 0.1, uplinkSeconds: 0.2, downlinkSeconds: 0.19, rttSeconds: 0.01),
            solveMicroseconds: 1, reason: .telemetryChange, deliver: true)
    }
}
