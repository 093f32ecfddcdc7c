import Foundation
import SplitCore
import SplitServer
import SplitStore

extension Benchmarks {
    /// What `splitd bench history` stores and how often it times each query.
    package struct HistoryOptions: Sendable {
        /// Plans stored in all (rounded down to a whole number per device), and one delivery each.
        package var plans = 10_000_000
        /// Devices they belong to (`jetson-<model>-0` …, so docs/sql.md's example device exists).
        package var devices = 100_000
        /// Timed runs per query (after one untimed warm-up run).
        package var runs = 20
        /// A query stops being repeated once its runs took this long (after at least 3).
        package var secondsPerQuery: Double = 30
        /// Print each query's `EXPLAIN (ANALYZE, BUFFERS)` to the progress stream.
        package var explain = false
        /// Then trim the deliveries past this retention (nil: skip) and time the queries that read
        /// the outbox again.
        package var trimRetentionSeconds: Double? = 7 * 86_400

        package init() {}
    }

    /// A delivery retention as `SPLITD_DELIVERY_RETENTION` takes it (`7d`, `36h`), in seconds.
    package static func parseRetention(_ text: String) throws -> Double {
        try Limits.parseDuration(text, range: ServerConfiguration.deliveryRetentionRange)
    }

    /// Fills a fresh database with a fleet's plan history, then times every docs/sql.md query and one
    /// device's history, reporting median and p99 per query as JSON lines on `report`.
    ///
    /// The history is realistic in shape: `devices` devices of one model, one plan a day each
    /// (`plans / devices` days), every plan but the last superseded by the next, a device's link
    /// wandering around its own typical rate, the splits and predictions the block planner gives for
    /// those rates (shared `splits` rows), and one delivery per plan (mostly delivered; some
    /// superseded, dead, failed or pending). It is written day by day, so a device's plans lie
    /// spread over the table as they would after months of service. Progress goes to `progress`.
    package static func history(
        scratch: Scratch, graph: ModelGraph, options: HistoryOptions,
        progress: (String) -> Void, report: (String) -> Void
    ) throws {
        let connection = try PostgresConnection(url: scratch.url)
        defer { connection.close() }
        let days = max(1, options.plans / max(1, options.devices))
        let filled = try HistoryFill(connection: connection, graph: graph, devices: options.devices, days: days)
        try filled.run(progress: progress, report: report)
        progress("history: vacuum and analyze")
        settle(connection)
        let pushed = try connection.query("SELECT count(*) FILTER (WHERE pushed) AS n FROM plans").int(0, "n") ?? 0
        try timeQueries(connection, options: options, devicePrefix: filled.devicePrefix, phase: "filled", progress: progress, report: report)
        guard let retention = options.trimRetentionSeconds else { return }
        try timeTrim(connection, retentionSeconds: retention, progress: progress, report: report)
        let pushedAfter = try connection.query("SELECT count(*) FILTER (WHERE pushed) AS n FROM plans").int(0, "n") ?? 0
        report(line(["benchmark": "history_pushed_kept", "pushed_plans_before_trim": pushed, "pushed_plans_after_trim": pushedAfter]))
        guard pushed == pushedAfter else { throw MigrationError("trimming deliveries changed which plans read as pushed") }
        progress("history: vacuum and analyze after trimming")
        settle(connection)
        try timeQueries(connection, options: options, devicePrefix: filled.devicePrefix, phase: "trimmed", progress: progress, report: report)
    }

    /// Times docs/sql.md's queries and one device's history (a different device each run).
    static func timeQueries(
        _ connection: PostgresConnection, options: HistoryOptions, devicePrefix: String, phase: String,
        progress: (String) -> Void, report: (String) -> Void
    ) throws {
        for (index, sql) in HistoryQueries.documented.enumerated() {
            if options.explain { progress(try explain(connection, sql)) }
            let timing = try repeatTimed(runs: options.runs, budgetSeconds: options.secondsPerQuery) { _ in try connection.query(sql).rowCount }
            progress("history: query \(index + 1): median \(format(timing.medianSeconds * 1e3)) ms, p99 \(format(timing.p99Seconds * 1e3)) ms")
            report(
                line([
                    "benchmark": "history_query", "phase": phase, "query": index + 1, "title": HistoryQueries.title(sql),
                    "runs": timing.runs, "rows": timing.rows, "median_ms": timing.medianSeconds * 1e3, "p99_ms": timing.p99Seconds * 1e3,
                ]))
        }
        // Cheap: ten times the runs, each on another device (a stride prime to the fleet size spreads them).
        let devices = (0...(options.runs * 10)).map { "\(devicePrefix)\((1 + $0 * 7919) % max(1, options.devices))" }
        if options.explain {
            progress(try explain(connection, HistoryQueries.deviceHistory.replacingOccurrences(of: "$1", with: "'\(devices[0])'")))
        }
        let timing = try repeatTimed(runs: options.runs * 10, budgetSeconds: options.secondsPerQuery) { run in
            try connection.query(HistoryQueries.deviceHistory, [devices[run]]).rowCount
        }
        progress("history: one device's latest 50: median \(format(timing.medianSeconds * 1e3)) ms, p99 \(format(timing.p99Seconds * 1e3)) ms")
        report(
            line([
                "benchmark": "history_device", "phase": phase, "sql": HistoryQueries.deviceHistory, "runs": timing.runs, "rows": timing.rows,
                "median_ms": timing.medianSeconds * 1e3, "p99_ms": timing.p99Seconds * 1e3,
            ]))
    }

    /// Trims the outbox as the maintenance leader does (10,000 per transaction), timing each batch:
    /// a batch is how long trimming holds its row locks.
    static func timeTrim(_ connection: PostgresConnection, retentionSeconds: Double, progress: (String) -> Void, report: (String) -> Void) throws {
        let before = try connection.query("SELECT count(*) AS n FROM webhook_deliveries").int(0, "n") ?? 0
        progress("history: trimming deliveries older than \(format(retentionSeconds / 86_400)) days")
        let cutoff = Date().addingTimeInterval(-retentionSeconds)
        var position: TrimPosition?
        var batchSeconds: [Double] = [], deleted = 0
        let started = DispatchTime.now()
        while true {
            let start = DispatchTime.now()
            let batch = try connection.transaction {
                try DeliveryRepository.trimFinished(before: cutoff, after: position, limit: 10_000, connection: connection)
            }
            batchSeconds.append(seconds(start))
            deleted += batch.deleted
            position = batch.position
            if batchSeconds.count % 100 == 0 { progress("history: trimmed \(deleted) deliveries") }
            if batch.scanned < 10_000 { break }
        }
        let elapsed = seconds(started)
        let after = try connection.query("SELECT count(*) AS n FROM webhook_deliveries").int(0, "n") ?? 0
        batchSeconds.sort()
        report(
            line([
                "benchmark": "history_trim", "deliveries_before": before, "deleted": deleted, "deliveries_after": after,
                "batches": batchSeconds.count, "seconds": elapsed, "deleted_per_second": Double(deleted) / max(elapsed, 1e-9),
                "batch_median_ms": percentile(batchSeconds, 0.5) * 1e3, "batch_p99_ms": percentile(batchSeconds, 0.99) * 1e3,
            ]))
    }

    /// Runs `body` once untimed, then up to `runs` times (at least 3, or fewer once past the budget).
    static func repeatTimed(
        runs: Int, budgetSeconds: Double, _ body: (Int) throws -> Int
    ) throws
        -> (runs: Int, rows: Int, medianSeconds: Double, p99Seconds: Double)
    {
        let rows = try body(0)
        var times: [Double] = []
        let started = DispatchTime.now()
        for run in 0..<max(1, runs) {
            if times.count >= 3 && seconds(started) > budgetSeconds { break }
            let start = DispatchTime.now()
            _ = try body(run)
            times.append(seconds(start))
        }
        times.sort()
        return (times.count, rows, percentile(times, 0.5), percentile(times, 0.99))
    }

    /// The value below which `fraction` of the sorted `values` lie (nearest rank).
    static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(max(rank, 0), sorted.count - 1)]
    }

    static func explain(_ connection: PostgresConnection, _ sql: String) throws -> String {
        let result = try connection.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return ([sql] + (0..<result.rowCount).compactMap { result.string($0, "QUERY PLAN") }).joined(separator: "\n")
    }

    static func format(_ value: Double) -> String { String(format: "%.2f", value) }
}
