import Foundation
import SplitCore
import SplitStore

/// The data of `splitd bench history`, written in SQL (`INSERT ... SELECT generate_series`): a
/// fleet of `devices` devices of one model with `days` plans each, one a day, and one webhook
/// delivery per plan. See `Benchmarks.history` for its shape.
struct HistoryFill {
    let connection: PostgresConnection
    let graph: ModelGraph
    let devices: Int
    let days: Int

    /// Device ids are this and 0, 1, … (`jetson-resnet50-0` is docs/sql.md's example device).
    var devicePrefix: String { "jetson-\(graph.name)-" }

    /// Link rates the plans are made for: this many steps, log-spaced over 1 Mbit/s … 10 Gbit/s.
    static let rateSteps = 256

    init(connection: PostgresConnection, graph: ModelGraph, devices: Int, days: Int) throws {
        guard devices >= 1, days >= 1 else { throw MigrationError("bench history needs at least one device and one plan per device") }
        self.connection = connection
        self.graph = graph
        self.devices = devices
        self.days = days
    }

    func run(progress: (String) -> Void, report: (String) -> Void) throws {
        let started = DispatchTime.now()
        let version = try registerFleet()
        try storeInputs(modelVersion: version)
        // The rows are consistent by construction; with the rights to, skip the per-row foreign key
        // checks of the outbox while filling (a superuser's scratch database; the result is the same).
        let unchecked = (try? connection.execute("SET session_replication_role = replica")) != nil
        let step = max(1, days / 20)
        for day in 1...days {
            try connection.transaction { _ = try connection.query(Self.insertDay, [day, days, devices, devicePrefix]) }
            if day % step == 0 || day == days {
                let elapsed = Benchmarks.seconds(started)
                progress(
                    "history: \(day * devices) of \(days * devices) plans and deliveries stored (day \(day) of \(days)), "
                        + "\(Benchmarks.format(elapsed)) s, about \(Benchmarks.format(elapsed / Double(day) * Double(days - day))) s left")
            }
        }
        if unchecked { try connection.execute("RESET session_replication_role") }
        try connection.execute("DROP TABLE bench_plan_inputs")
        let splits = try connection.query("SELECT count(*) AS n FROM splits").int(0, "n") ?? 0
        report(
            Benchmarks.line([
                "benchmark": "history_fill", "devices": devices, "plans": devices * days, "deliveries": devices * days,
                "plans_per_device": days, "distinct_splits": splits, "seconds": Benchmarks.seconds(started),
                "foreign_key_checks_skipped": unchecked,
            ]))
    }

    /// The model, an edge server, the devices (every 50th with a memory limit) and their planning state.
    private func registerFleet() throws -> Int {
        let model = try ModelRepository.store(graph, connection: connection).model
        _ = try EdgeServerRepository.create(id: "edge-bench", computeFLOPs: 2e13, connection: connection)
        try connection.transaction {
            try connection.query(
                """
                INSERT INTO devices (id, model_name, edge_server_id, batch_size, compute_flops, memory_bytes, webhook_secret, token_hash,
                                     callback_url)
                SELECT $3::text || g, $1, 'edge-bench', 32, 1e11, CASE WHEN g % 50 = 0 THEN 4000000000 END, $2, md5($3::text || g),
                       'https://bench.invalid/hook'
                FROM generate_series(0, $4::int - 1) g
                """, [graph.name, Benchmarks.benchSecret, devicePrefix, devices])
            // A few devices failed planning once (docs/sql.md's query 10 has rows).
            try connection.query(
                """
                INSERT INTO planning_state (device_id, evaluated_at, evaluated_model_version, failures, last_failure, retry_at)
                SELECT $1::text || g, now(), $3::int, (g % 1000 = 7)::int, CASE WHEN g % 1000 = 7 THEN 'bench: a poisoned row' END,
                       CASE WHEN g % 1000 = 7 THEN now() + interval '10 seconds' END
                FROM generate_series(0, $2::int - 1) g
                """, [devicePrefix, devices, model.version])
        }
        return model.version
    }

    /// The splits the block planner chooses over the rate steps (stored once each, as splitd
    /// does) and, per step, the plan's numbers, in a table the daily inserts join.
    private func storeInputs(modelVersion: Int) throws {
        let planner = SplitPlanner(model: try PreparedModel(graph: graph))
        let names = graph.layerNames
        var splitOfLayers: [[Int]: Int64] = [:]
        var rows: [(split: Int64, uplink: Double, plan: Plan)] = []
        for step in 0..<Self.rateSteps {
            let uplink = 1e6 * pow(10, 4 * Double(step) / Double(Self.rateSteps - 1))
            let conditions = PlanningConditions(
                batchSize: 32, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 2e13,
                uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: 2 * uplink, rttSeconds: 0.01)
            let plan = try planner.plan(.block, conditions: conditions)
            if splitOfLayers[plan.deviceLayers] == nil {
                let result = try connection.query(
                    """
                    INSERT INTO splits (model_name, model_version, digest, device_layers, cut_layers)
                    VALUES ($1, $2, splitd_split_digest($3::text[]), $3::text[], $4::text[]) RETURNING id
                    """,
                    [
                        graph.name, modelVersion, PostgresValue.textArray(plan.deviceLayers.map { names[$0] }),
                        PostgresValue.textArray(plan.cutLayers.map { names[$0] }),
                    ])
                splitOfLayers[plan.deviceLayers] = try result.row(0).decode("id")
            }
            rows.append((splitOfLayers[plan.deviceLayers]!, uplink, plan))
        }
        try connection.execute(
            """
            CREATE TEMP TABLE bench_plan_inputs (
                step integer PRIMARY KEY, split_id bigint, uplink_bps float8, downlink_bps float8, predicted_delay_seconds float8,
                transfer_bytes float8, device_compute_seconds float8, server_compute_seconds float8, uplink_seconds float8,
                downlink_seconds float8, device_memory_bytes bigint)
            """)
        try connection.query(
            """
            INSERT INTO bench_plan_inputs
            SELECT step - 1, split_id, uplink, 2 * uplink, delay, transfer, device_compute, server_compute, uplink_seconds, downlink_seconds, memory
            FROM unnest($1::int8[], $2::float8[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::int8[])
                 WITH ORDINALITY AS v(split_id, uplink, delay, transfer, device_compute, server_compute, uplink_seconds, downlink_seconds, memory,
                                      step)
            """,
            [
                PostgresValue.intArray(rows.map(\.split)), PostgresValue.doubleArray(rows.map(\.uplink)),
                PostgresValue.doubleArray(rows.map(\.plan.delaySeconds)), PostgresValue.doubleArray(rows.map(\.plan.transferBytes)),
                PostgresValue.doubleArray(rows.map(\.plan.breakdown.deviceComputeSeconds)),
                PostgresValue.doubleArray(rows.map(\.plan.breakdown.serverComputeSeconds)),
                PostgresValue.doubleArray(rows.map(\.plan.breakdown.uplinkSeconds)),
                PostgresValue.doubleArray(rows.map(\.plan.breakdown.downlinkSeconds)),
                PostgresValue.intArray(rows.map(\.plan.deviceMemoryBytes)),
            ])
        try connection.execute("ANALYZE bench_plan_inputs")
    }

    /// Day $1 of $2 for devices 0 … $3 - 1 (ids prefixed $4): each device's plan of that day,
    /// computed at its own time of day, superseded by the next day's (the last day's is in force),
    /// for a link that wanders ±32 rate steps around the device's own; and its delivery.
    static let insertDay = """
        WITH planned AS (
            INSERT INTO plans (device_id, split_id, algorithm, uplink_bps, downlink_bps, rtt_seconds, device_flops, server_flops, batch_size,
                               predicted_delay_seconds, transfer_bytes, device_compute_seconds, server_compute_seconds, uplink_seconds,
                               downlink_seconds, solve_microseconds, reason, optimizer, memory_limit_bytes, device_memory_bytes, memory_bound,
                               computed_at, superseded_at, pushed)
            SELECT $4::text || d, i.split_id, 'block', i.uplink_bps, i.downlink_bps, 0.01, 1e11, 2e13, 32,
                   i.predicted_delay_seconds, i.transfer_bytes, i.device_compute_seconds, i.server_compute_seconds, i.uplink_seconds,
                   i.downlink_seconds, 0.4,
                   CASE WHEN $1::int = 1 THEN 'new device'
                        ELSE (ARRAY['telemetry change', 'telemetry change', 'telemetry change', 'telemetry change', 'telemetry change',
                                    'telemetry change', 'requested', 'memory change', 'device changed', 'new profile'])[1 + (d + $1) % 10] END,
                   'adam', CASE WHEN d % 50 = 0 THEN 4000000000 END, i.device_memory_bytes, d % 50 = 0 AND i.step % 2 = 0,
                   t.start + ($1 - 1) * interval '1 day', CASE WHEN $1::int < $2::int THEN t.start + $1 * interval '1 day' END, true
            FROM generate_series(0, $3::int - 1) d
            CROSS JOIN LATERAL (SELECT now() - $2::int * interval '1 day' + (d::int8 * 7919 % 86400) * interval '1 second' AS start) t
            JOIN bench_plan_inputs i
              ON i.step = least(255, greatest(0, d % 256 + ((d::int8 * 31 + $1::int * 17) * 2654435761 % 65) - 32))
            RETURNING id, device_id, computed_at, superseded_at
        )
        INSERT INTO webhook_deliveries (id, plan_id, device_id, status, attempts, next_attempt_at, created_at, delivered_at, last_status_code,
                                        last_error)
        SELECT 'msg_' || substr(md5(p.id::text), 1, 22), p.id, p.device_id, s.status,
               CASE s.status WHEN 'dead' THEN 7 WHEN 'failed' THEN 2 WHEN 'pending' THEN 0 ELSE 1 + (p.id % 20 = 0)::int END,
               p.computed_at + CASE s.status WHEN 'dead' THEN interval '7 hours' WHEN 'failed' THEN interval '10 minutes' ELSE interval '0' END,
               p.computed_at,
               CASE WHEN s.status = 'delivered' THEN p.computed_at + interval '0.2 seconds' END,
               CASE s.status WHEN 'delivered' THEN 204 WHEN 'dead' THEN 503 WHEN 'failed' THEN 503 END,
               CASE WHEN s.status IN ('dead', 'failed') THEN 'HTTP 503' END
        FROM planned p
        CROSS JOIN LATERAL (
            SELECT CASE WHEN p.superseded_at IS NOT NULL
                        THEN (CASE WHEN p.id % 100 < 3 THEN 'superseded' WHEN p.id % 100 = 3 THEN 'dead' ELSE 'delivered' END)
                        ELSE (CASE WHEN p.id % 100 = 0 THEN 'pending' WHEN p.id % 100 = 1 THEN 'failed' ELSE 'delivered' END) END AS status
        ) s
        """
}
