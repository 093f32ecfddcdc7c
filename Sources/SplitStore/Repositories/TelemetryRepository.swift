import Foundation
import SplitCore

/// SQL for `telemetry` (partitioned by day) and `link_estimates`.
package enum TelemetryRepository {
    /// Stores a batch all-or-nothing: every device must exist and be active; partitions for the
    /// batch's days are created; rows go in with COPY; link estimates are updated. Returns the count.
    @discardableResult
    package static func ingest(
        _ samples: [TelemetrySample], estimator: LinkEstimator = .recommended,
        thresholds: ReplanThresholds = ReplanThresholds(), connection: PostgresConnection
    ) throws -> Int {
        guard !samples.isEmpty else { return 0 }
        switch try ingest(batches: [TelemetryBatch(samples: samples)], estimator: estimator, thresholds: thresholds, connection: connection)[0] {
        case .stored(let count): return count
        case .refused(let error): throw error
        case .tokenRevoked: throw StoreError(.invalid, field: "token", "the token no longer belongs to the device")
        }
    }

    /// Stores several batches in one transaction (group commit), each all-or-nothing on its own:
    /// a batch naming an unknown or inactive device (refused), or sent with a token that no longer
    /// belongs to the active device of each of its samples (revoked), is left out and
    /// the others are stored. The result is exactly that of ingesting the batches one after the
    /// other in the given order: rows are the same; estimates fold each batch's samples in that
    /// order (sorted by device and time within a batch, as a lone batch is); and a device is
    /// marked for re-planning if its estimate after *any* of the batches moved beyond the
    /// thresholds, as it would have been by that batch's own transaction. Returns one outcome per
    /// batch.
    package static func ingest(
        batches: [TelemetryBatch], estimator: LinkEstimator = .recommended,
        thresholds: ReplanThresholds = ReplanThresholds(), connection: PostgresConnection
    ) throws -> [TelemetryBatchOutcome] {
        var distinct = Set<String>()
        for batch in batches { for sample in batch.samples { distinct.insert(sample.deviceID) } }
        return try connection.transaction {
            let known = try connection.query(
                """
                SELECT id, token_hash, CASE WHEN previous_token_expires_at > now() THEN previous_token_hash END AS previous_token_hash
                FROM devices WHERE id = ANY($1::text[]) AND active
                """, [PostgresValue.textArray(Array(distinct))])
            var tokens: [String: (current: String?, previous: String?)] = [:]
            for row in 0..<known.rowCount {
                if let id = known.string(row, "id") { tokens[id] = (known.string(row, "token_hash"), known.string(row, "previous_token_hash")) }
            }
            var outcomes: [TelemetryBatchOutcome] = []
            var accepted: [TelemetryBatch] = []
            for batch in batches {
                if let hash = batch.tokenHash,
                    !batch.samples.allSatisfy({ tokens[$0.deviceID].map { $0.current == hash || $0.previous == hash } ?? false })
                {
                    // The token no longer belongs to an active device it speaks for (rotated, or the device deactivated).
                    outcomes.append(.tokenRevoked)
                } else if let index = batch.samples.firstIndex(where: { tokens[$0.deviceID] == nil }) {
                    outcomes.append(
                        .refused(
                            StoreError(
                                .invalid, field: "samples[\(index)].device",
                                """
                                unknown or inactive device '\(batch.samples[index].deviceID)'; nothing from this batch was \
                                stored
                                """)))
                } else {
                    outcomes.append(.stored(batch.samples.count))
                    if !batch.samples.isEmpty { accepted.append(batch) }
                }
            }
            guard !accepted.isEmpty else { return outcomes }
            try store(accepted, connection: connection)
            try fold(accepted, estimator: estimator, thresholds: thresholds, connection: connection)
            return outcomes
        }
    }

    /// The rows of `batches`: partitions for each batch's days, then one COPY.
    private static func store(_ batches: [TelemetryBatch], connection: PostgresConnection) throws {
        // Only the days some batch spans, as separate ingests would create (not every day between).
        var ranges: [(from: Date, to: Date)] = []
        for batch in batches {
            guard var range = batch.samples.first.map({ (from: $0.measuredAt, to: $0.measuredAt) }) else { continue }
            for sample in batch.samples {
                range.from = min(range.from, sample.measuredAt)
                range.to = max(range.to, sample.measuredAt)
            }
            ranges.append(range)
        }
        ranges.sort { $0.from < $1.from }
        var merged: [(from: Date, to: Date)] = []
        for range in ranges {
            if let last = merged.last, day(range.from) <= day(last.to) + 1 {
                merged[merged.count - 1].to = max(last.to, range.to)
            } else {
                merged.append(range)
            }
        }
        for range in merged { try ensurePartitions(from: range.from, to: range.to, connection: connection) }
        try copy(batches.flatMap(\.samples), connection: connection)
    }

    /// The UTC day number of `date` (partitions are by UTC day).
    private static func day(_ date: Date) -> Int { Int((date.timeIntervalSince1970 / 86_400).rounded(.down)) }

    /// Folds `batches` into the link estimates, in order, holding the estimates' rows so concurrent
    /// ingests serialize; then marks for re-planning every device whose estimate after some batch
    /// moved beyond the thresholds since its last evaluation.
    private static func fold(
        _ batches: [TelemetryBatch], estimator: LinkEstimator, thresholds: ReplanThresholds,
        connection: PostgresConnection
    ) throws {
        var deviceIDs: [String] = []
        var seen = Set<String>()
        for batch in batches { for sample in batch.samples where seen.insert(sample.deviceID).inserted { deviceIDs.append(sample.deviceID) } }
        var estimates = Dictionary(
            uniqueKeysWithValues: try estimates(
                deviceIDs: deviceIDs, forUpdate: true,
                connection: connection
            ).map { ($0.deviceID, $0) })
        // The estimate of each device after each batch that touched it: what that batch's own
        // transaction would have compared with the thresholds.
        var checkpoints: [LinkEstimate] = []
        for batch in batches {
            var touched: [String] = []
            for sample in batch.samples.sorted(by: { ($0.deviceID, $0.measuredAt) < ($1.deviceID, $1.measuredAt) }) {
                if touched.last != sample.deviceID { touched.append(sample.deviceID) }
                estimates[sample.deviceID] = estimator.fold(sample, into: estimates[sample.deviceID])
            }
            for device in touched {
                guard var estimate = estimates[device] else { continue }
                // As the next batch's own transaction would read it back: time to the microsecond.
                estimate.measuredAt = PostgresTimestamp.parse(PostgresTimestamp.format(estimate.measuredAt)) ?? estimate.measuredAt
                estimates[device] = estimate
                checkpoints.append(estimate)
            }
        }
        let updated = deviceIDs.compactMap { estimates[$0] }
        try connection.query(
            """
            INSERT INTO link_estimates (device_id, uplink_bps, downlink_bps, rtt_seconds, compute_flops, samples, measured_at, memory_bytes,
                                        updated_at)
            SELECT * , now() FROM unnest($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::float8[], $6::int8[], $7::timestamptz[],
                                         $8::float8[])
            ON CONFLICT (device_id) DO UPDATE SET uplink_bps = excluded.uplink_bps, downlink_bps = excluded.downlink_bps,
                rtt_seconds = excluded.rtt_seconds, compute_flops = excluded.compute_flops, samples = excluded.samples,
                measured_at = excluded.measured_at, memory_bytes = excluded.memory_bytes, updated_at = now()
            """,
            [
                PostgresValue.textArray(updated.map(\.deviceID)), PostgresValue.doubleArray(updated.map(\.uplinkBitsPerSecond)),
                PostgresValue.doubleArray(updated.map(\.downlinkBitsPerSecond)), PostgresValue.doubleArray(updated.map(\.rttSeconds)),
                PostgresValue.optionalDoubleArray(updated.map(\.computeFLOPs)),
                PostgresValue.intArray(updated.map { Int64($0.samples) }),
                PostgresValue.textArray(updated.map { PostgresTimestamp.format($0.measuredAt) }),
                PostgresValue.optionalDoubleArray(updated.map(\.memoryBytes)),
            ])
        // A device moved beyond the thresholds since its last evaluation needs planning: the
        // devices are read and marked by primary key (a join over the batch let stale statistics,
        // e.g. right after a fleet's first planning, pick a plan that scanned planning_state once
        // per sample), and the rule is `ReplanThresholds.moved`. Each checkpoint is compared: the
        // device is marked if any moved (a change of the memory it reports is named as such).
        let evaluated = try connection.query(
            """
            SELECT s.device_id, s.evaluated_uplink_bps, s.evaluated_downlink_bps, s.evaluated_rtt_seconds, s.evaluated_compute_flops,
                   s.evaluated_memory_bytes, s.revisit_at, d.compute_flops AS registered_flops
            FROM planning_state s JOIN devices d ON d.id = s.device_id
            WHERE s.device_id = ANY($1::text[]) AND s.requested_reason IS NULL AND s.evaluated_at IS NOT NULL
            """, [PostgresValue.textArray(deviceIDs)])
        var lastEvaluated: [String: (state: DevicePlanningState, registeredFLOPs: Double)] = [:]
        let now = Date()  // (the rule does not read the time)
        for row in evaluated.rows {
            let deviceID: String = try row.decode("device_id")
            guard let uplink = row.decodeIfPresent("evaluated_uplink_bps", as: Double.self),
                let downlink = row.decodeIfPresent("evaluated_downlink_bps", as: Double.self),
                let rtt = row.decodeIfPresent("evaluated_rtt_seconds", as: Double.self)
            else { continue }
            let last = LinkEstimate(
                deviceID: deviceID, uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: downlink, rttSeconds: rtt,
                computeFLOPs: row.decodeIfPresent("evaluated_compute_flops"), memoryBytes: row.decodeIfPresent("evaluated_memory_bytes"),
                samples: 0, measuredAt: now)
            lastEvaluated[deviceID] = (
                DevicePlanningState(evaluated: last, revisitAt: row.decodeIfPresent("revisit_at")), try row.decode("registered_flops")
            )
        }
        // The rule is the daemon's one (`DevicePlanningSettings.trigger`): memory first, then the
        // link, then a refused better split whose savings are due to pay for its move.
        let rule = DevicePlanningSettings(estimator: estimator, thresholds: thresholds, switching: .default, pushMode: .table)
        var memoryMoved = Set<String>(), linkMoved = Set<String>()
        for checkpoint in checkpoints {
            guard let last = lastEvaluated[checkpoint.deviceID],
                let trigger = rule.trigger(for: checkpoint, state: last.state, registeredFLOPs: last.registeredFLOPs)
            else { continue }
            if trigger == .memoryMoved {
                memoryMoved.insert(checkpoint.deviceID)
            } else {
                linkMoved.insert(checkpoint.deviceID)
            }
        }
        linkMoved.subtract(memoryMoved)
        for (devices, reason) in [(memoryMoved, PlanReason.memoryChange), (linkMoved, PlanReason.telemetryChange)] where !devices.isEmpty {
            try connection.query(
                """
                UPDATE planning_state SET requested_reason = $2, requested_at = now()
                WHERE device_id = ANY($1::text[]) AND requested_reason IS NULL
                """, [PostgresValue.textArray(Array(devices).sorted()), reason.rawValue])
        }
    }

    /// Stores samples as they are (partitions created, rows in with COPY) without checking devices
    /// or touching link estimates: the storage path of `ingest`, and a bulk path for backfilling
    /// historical telemetry.
    @discardableResult
    package static func append(_ samples: [TelemetrySample], connection: PostgresConnection) throws -> Int {
        guard !samples.isEmpty else { return 0 }
        var earliest = samples[0].measuredAt, latest = earliest
        for sample in samples {
            earliest = min(earliest, sample.measuredAt)
            latest = max(latest, sample.measuredAt)
        }
        return try connection.transaction {
            try ensurePartitions(from: earliest, to: latest, connection: connection)
            return try copy(samples, connection: connection)
        }
    }

    /// The rows, with one binary COPY (the server skips parsing timestamps and floats from text).
    @discardableResult
    private static func copy(_ samples: [TelemetrySample], connection: PostgresConnection) throws -> Int {
        try connection.copyInBinary(
            """
            COPY telemetry (device_id, measured_at, uplink_bps, downlink_bps, rtt_seconds, compute_flops, memory_bytes) FROM STDIN WITH (FORMAT \
            binary)
            """
        ) { writer in
            for sample in samples {
                writer.beginRow()
                writer.text(sample.deviceID)
                writer.timestamp(sample.measuredAt)
                writer.double(sample.uplinkBitsPerSecond)
                writer.double(sample.downlinkBitsPerSecond)
                writer.double(sample.rttSeconds)
                writer.double(sample.computeFLOPs)
                writer.double(sample.memoryBytes)
                writer.endRow()
                try writer.flushIfFull()
            }
        }
    }

    /// Creates the daily partitions covering `from`...`to` (UTC days); returns how many were new.
    @discardableResult
    package static func ensurePartitions(from: Date, to: Date, connection: PostgresConnection) throws -> Int {
        try connection.query(
            "SELECT splitd_ensure_telemetry_partitions($1::timestamptz::date, $2::timestamptz::date) AS created",
            [from, to]
        ).int(0, "created") ?? 0
    }

    /// Drops partitions whose day ended more than `keepDays` days ago; returns their names.
    @discardableResult
    package static func dropPartitions(keepDays: Int, connection: PostgresConnection) throws -> [String] {
        let result = try connection.query("SELECT splitd_drop_telemetry_partitions($1) AS dropped", [keepDays])
        return (0..<result.rowCount).compactMap { result.string($0, "dropped") }
    }

    /// Names of the existing telemetry partitions, oldest first.
    package static func partitions(connection: PostgresConnection) throws -> [String] {
        let result = try connection.query(
            """
            SELECT inhrelid::regclass::text AS name FROM pg_inherits WHERE inhparent = 'telemetry'::regclass ORDER BY 1
            """)
        return (0..<result.rowCount).compactMap { result.string($0, "name") }
    }

    /// Link estimates of `deviceIDs` (every device when nil).
    package static func estimates(deviceIDs: [String]? = nil, forUpdate: Bool = false, connection: PostgresConnection) throws -> [LinkEstimate] {
        // Two statements, not "$1 IS NULL OR ...": a generic prepared plan for that form cannot
        // use the primary key and scans every estimate against the whole array.
        let columns = "e.device_id, e.uplink_bps, e.downlink_bps, e.rtt_seconds, e.compute_flops, e.memory_bytes, e.samples, e.measured_at"
        let result: PostgresResult
        if let deviceIDs {
            result = try connection.query(
                """
                SELECT \(columns) FROM unnest($1::text[]) AS wanted(id) JOIN link_estimates e ON e.device_id = wanted.id
                \(forUpdate ? "ORDER BY e.device_id FOR UPDATE OF e" : "")
                """, [PostgresValue.textArray(deviceIDs)])
        } else {
            result = try connection.query("SELECT \(columns) FROM link_estimates e\(forUpdate ? " ORDER BY e.device_id FOR UPDATE" : "")")
        }
        return try result.rows.map { row in
            LinkEstimate(
                deviceID: try row.decode("device_id"), uplinkBitsPerSecond: try row.decode("uplink_bps"),
                downlinkBitsPerSecond: try row.decode("downlink_bps"), rttSeconds: try row.decode("rtt_seconds"),
                computeFLOPs: row.decodeIfPresent("compute_flops"), memoryBytes: row.decodeIfPresent("memory_bytes"),
                samples: try row.decode("samples"), measuredAt: try row.decode("measured_at"))
        }
    }
}
