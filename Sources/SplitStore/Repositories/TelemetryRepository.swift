import Foundation
import SplitCore

/// SQL for `telemetry` (partitioned by day) and `link_estimates`.
public enum TelemetryRepository {
    /// Stores a batch all-or-nothing: every device must exist and be active; partitions for the
    /// batch's days are created; rows go in with COPY; link estimates are updated. Returns the count.
    @discardableResult
    public static func ingest(_ samples: [TelemetrySample], smoothing: LinkSmoothing = LinkSmoothing(),
                              thresholds: ReplanThresholds = ReplanThresholds(), connection: PostgresConnection) throws -> Int {
        guard !samples.isEmpty else { return 0 }
        let deviceIDs = Array(Set(samples.map(\.deviceID)))
        return try connection.transaction {
            let known = try connection.query("SELECT id FROM devices WHERE id = ANY($1::text[]) AND active", [deviceIDs])
            let knownIDs = Set((0..<known.rowCount).compactMap { known.string($0, "id") })
            if let index = samples.firstIndex(where: { !knownIDs.contains($0.deviceID) }) {
                throw StoreError(.invalid, field: "samples[\(index)].device", "unknown or inactive device '\(samples[index].deviceID)'; nothing from this batch was stored")
            }
            try append(samples, connection: connection)
            // Fold the batch into the estimates, holding their rows so concurrent batches serialize.
            var estimates = Dictionary(uniqueKeysWithValues: try estimates(deviceIDs: deviceIDs, forUpdate: true, connection: connection).map { ($0.deviceID, $0) })
            for sample in samples.sorted(by: { ($0.deviceID, $0.measuredAt) < ($1.deviceID, $1.measuredAt) }) {
                estimates[sample.deviceID] = smoothing.fold(sample, into: estimates[sample.deviceID])
            }
            let updated = deviceIDs.compactMap { estimates[$0] }
            try connection.query("""
                INSERT INTO link_estimates (device_id, uplink_bps, downlink_bps, rtt_seconds, compute_flops, samples, measured_at, memory_bytes, updated_at)
                SELECT * , now() FROM unnest($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::float8[], $6::int8[], $7::timestamptz[],
                                             $8::float8[])
                ON CONFLICT (device_id) DO UPDATE SET uplink_bps = excluded.uplink_bps, downlink_bps = excluded.downlink_bps,
                    rtt_seconds = excluded.rtt_seconds, compute_flops = excluded.compute_flops, samples = excluded.samples,
                    measured_at = excluded.measured_at, memory_bytes = excluded.memory_bytes, updated_at = now()
                """, [updated.map(\.deviceID), PostgresValue.doubleArray(updated.map(\.uplinkBitsPerSecond)),
                      PostgresValue.doubleArray(updated.map(\.downlinkBitsPerSecond)), PostgresValue.doubleArray(updated.map(\.rttSeconds)),
                      PostgresValue.optionalDoubleArray(updated.map(\.computeFLOPs)),
                      PostgresValue.intArray(updated.map { Int64($0.samples) }),
                      PostgresValue.textArray(updated.map { PostgresTimestamp.format($0.measuredAt) }),
                      PostgresValue.optionalDoubleArray(updated.map(\.memoryBytes))])
            // Devices whose link moved beyond the thresholds since their last evaluation need planning.
            try connection.query("""
                UPDATE planning_state s
                SET requested_reason = CASE WHEN e.memory_bytes IS NOT NULL AND (s.evaluated_memory_bytes IS NULL
                                                 OR abs(ln(e.memory_bytes / s.evaluated_memory_bytes)) > $6) THEN $7 ELSE $5 END,
                    requested_at = now()
                FROM link_estimates e, devices d
                WHERE e.device_id = ANY($1::text[]) AND s.device_id = e.device_id AND d.id = e.device_id
                  AND s.requested_reason IS NULL AND s.evaluated_at IS NOT NULL
                  AND (abs(ln(e.uplink_bps / s.evaluated_uplink_bps)) > $2 OR abs(ln(e.downlink_bps / s.evaluated_downlink_bps)) > $2
                       OR abs(e.rtt_seconds - s.evaluated_rtt_seconds) > $3
                       OR abs(ln(coalesce(e.compute_flops, d.compute_flops) / s.evaluated_compute_flops)) > $4
                       OR (e.memory_bytes IS NOT NULL AND (s.evaluated_memory_bytes IS NULL OR abs(ln(e.memory_bytes / s.evaluated_memory_bytes)) > $6)))
                """, [updated.map(\.deviceID), log1p(thresholds.relativeRateChange), thresholds.rttChangeSeconds,
                      log1p(thresholds.relativeComputeChange), PlanReason.telemetryChange.rawValue, log1p(thresholds.relativeMemoryChange),
                      PlanReason.memoryChange.rawValue])
            return samples.count
        }
    }

    /// Stores samples as they are (partitions created, rows in with COPY) without checking devices
    /// or touching link estimates: the storage path of `ingest`, and a bulk path for backfilling
    /// historical telemetry.
    @discardableResult
    public static func append(_ samples: [TelemetrySample], connection: PostgresConnection) throws -> Int {
        guard !samples.isEmpty else { return 0 }
        var earliest = samples[0].measuredAt, latest = earliest
        for sample in samples {
            earliest = min(earliest, sample.measuredAt)
            latest = max(latest, sample.measuredAt)
        }
        return try connection.transaction {
            try ensurePartitions(from: earliest, to: latest, connection: connection)
            // Binary: the server skips parsing timestamps and floats from text.
            return try connection.copyInBinary(
                "COPY telemetry (device_id, measured_at, uplink_bps, downlink_bps, rtt_seconds, compute_flops, memory_bytes) FROM STDIN WITH (FORMAT binary)"
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
    }

    /// Creates the daily partitions covering `from`...`to` (UTC days); returns how many were new.
    @discardableResult
    public static func ensurePartitions(from: Date, to: Date, connection: PostgresConnection) throws -> Int {
        try connection.query("SELECT splitd_ensure_telemetry_partitions($1::timestamptz::date, $2::timestamptz::date) AS created",
                             [from, to]).int(0, "created") ?? 0
    }

    /// Drops partitions whose day ended more than `keepDays` days ago; returns their names.
    @discardableResult
    public static func dropPartitions(keepDays: Int, connection: PostgresConnection) throws -> [String] {
        let result = try connection.query("SELECT splitd_drop_telemetry_partitions($1) AS dropped", [keepDays])
        return (0..<result.rowCount).compactMap { result.string($0, "dropped") }
    }

    /// Names of the existing telemetry partitions, oldest first.
    public static func partitions(connection: PostgresConnection) throws -> [String] {
        let result = try connection.query("""
            SELECT inhrelid::regclass::text AS name FROM pg_inherits WHERE inhparent = 'telemetry'::regclass ORDER BY 1
            """)
        return (0..<result.rowCount).compactMap { result.string($0, "name") }
    }

    /// Link estimates of `deviceIDs` (every device when nil).
    public static func estimates(deviceIDs: [String]? = nil, forUpdate: Bool = false, connection: PostgresConnection) throws -> [LinkEstimate] {
        // Two statements, not "$1 IS NULL OR ...": a generic prepared plan for that form cannot
        // use the primary key and scans every estimate against the whole array.
        let columns = "e.device_id, e.uplink_bps, e.downlink_bps, e.rtt_seconds, e.compute_flops, e.memory_bytes, e.samples, e.measured_at"
        let result: PostgresResult
        if let deviceIDs {
            result = try connection.query("""
                SELECT \(columns) FROM unnest($1::text[]) AS wanted(id) JOIN link_estimates e ON e.device_id = wanted.id
                \(forUpdate ? "ORDER BY e.device_id FOR UPDATE OF e" : "")
                """, [PostgresValue.textArray(deviceIDs)])
        } else {
            result = try connection.query("SELECT \(columns) FROM link_estimates e\(forUpdate ? " ORDER BY e.device_id FOR UPDATE" : "")")
        }
        return try (0..<result.rowCount).map { row in
            LinkEstimate(
                deviceID: try result.require(row, "device_id", result.string),
                uplinkBitsPerSecond: try result.require(row, "uplink_bps", result.double),
                downlinkBitsPerSecond: try result.require(row, "downlink_bps", result.double),
                rttSeconds: try result.require(row, "rtt_seconds", result.double), computeFLOPs: result.double(row, "compute_flops"),
                memoryBytes: result.double(row, "memory_bytes"), samples: try result.require(row, "samples", result.int), measuredAt: try result.require(row, "measured_at", result.date))
        }
    }
}
