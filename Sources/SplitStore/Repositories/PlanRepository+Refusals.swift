import Foundation
import SplitCore
import SplitSupport

/// Refused moves: better splits the switching rule did not take.
extension PlanRepository {
    /// Records refused moves: a better split the switching rule did not take, and why.
    package static func recordRefusals(_ refusals: [RefusedMove], connection: PostgresConnection) throws {
        guard !refusals.isEmpty else { return }
        try connection.query(
            """
            INSERT INTO refused_moves (device_id, recorded_at, reason, rule, current_seconds, candidate_seconds, saving_seconds_per_iteration,
                                       migration_seconds, accrued_saving_seconds, required_saving_seconds, revisit_at, cut_layers)
            SELECT v.device_id, v.recorded_at, v.reason, v.rule, v.current_seconds, v.candidate_seconds, v.current_seconds - v.candidate_seconds,
                   v.migration_seconds, v.accrued, v.required, v.revisit_at,
                   ARRAY(SELECT jsonb_array_elements_text(v.cut_layers::jsonb))
            FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[],
                        $9::timestamptz[], $10::text[], $11::timestamptz[])
                 AS v(device_id, reason, rule, current_seconds, candidate_seconds, migration_seconds, accrued, required, revisit_at,
                      cut_layers, recorded_at)
            """,
            [
                PostgresValue.textArray(refusals.map(\.deviceID)), PostgresValue.textArray(refusals.map(\.reason)),
                PostgresValue.textArray(refusals.map(\.rule)), PostgresValue.doubleArray(refusals.map(\.currentSeconds)),
                PostgresValue.doubleArray(refusals.map(\.candidateSeconds)), PostgresValue.doubleArray(refusals.map(\.migrationSeconds)),
                PostgresValue.doubleArray(refusals.map(\.accruedSavingSeconds)),
                PostgresValue.doubleArray(refusals.map(\.requiredSavingSeconds)), PostgresValue.optionalTimestampArray(refusals.map(\.revisitAt)),
                PostgresValue.textArray(
                    try refusals.map { String(decoding: try JSONSerialization.data(withJSONObject: $0.candidateCutLayers), as: UTF8.self) }),
                PostgresValue.optionalTimestampArray(refusals.map(\.recordedAt)),
            ])
    }

    /// Deletes refused moves recorded before `cutoff`, at most `limit` (oldest first); returns how
    /// many. Maintenance runs it with the telemetry retention: refusals explain recent decisions.
    @discardableResult
    package static func trimRefusals(before cutoff: Date, limit: Int, connection: PostgresConnection) throws -> Int {
        try connection.query(
            """
            DELETE FROM refused_moves WHERE id IN (SELECT id FROM refused_moves WHERE recorded_at < $1 ORDER BY recorded_at LIMIT $2)
            """, [cutoff, limit]
        ).affectedRows
    }
}
