import Foundation
import SplitCore
import SplitSupport

/// Devices planning could not serve: failures put back with a backoff, devices no split fits.
extension PlanRepository {
    /// Records that no split fits these devices' memory: the least memory any valid split needs
    /// (read by the API's 409). Their plans in force end with `endPlans`.
    package static func recordInfeasible(_ devices: [(deviceID: String, requiredBytes: Int64)], connection: PostgresConnection) throws {
        guard !devices.isEmpty else { return }
        try connection.query(
            """
            UPDATE planning_state s SET infeasible_required_bytes = v.required
            FROM unnest($1::text[], $2::int8[]) AS v(device_id, required)
            WHERE s.device_id = v.device_id
            """, [PostgresValue.textArray(devices.map(\.deviceID)), PostgresValue.intArray(devices.map(\.requiredBytes))])
    }

    /// Records that planning failed for these claimed devices: their request is put back as it
    /// was, and they are claimed again only after a backoff that doubles with each consecutive
    /// failure (10 s, 20 s, ... up to an hour), so one device that cannot be planned never holds up
    /// the others nor spins.
    package static func recordFailures(_ failures: [(candidate: PlanningCandidate, reason: String)], connection: PostgresConnection) throws {
        guard !failures.isEmpty else { return }
        let claims = failures.map(\.candidate.claim)
        try connection.query(
            """
            UPDATE planning_state s SET requested_reason = f.requested_reason, requested_at = coalesce(f.requested_at, now()),
                   failures = f.failures + 1, last_failure = f.error, infeasible_required_bytes = f.infeasible,
                   retry_at = now() + least(3600, 10 * power(2, least(f.failures, 12))) * interval '1 second'
            FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::int8[], $5::text[], $6::int8[])
                 AS f(device_id, requested_reason, requested_at, failures, error, infeasible)
            WHERE s.device_id = f.device_id
            """,
            [
                PostgresValue.textArray(failures.map(\.candidate.deviceID)), PostgresValue.textArray(claims.map(\.reason)),
                PostgresValue.optionalTimestampArray(claims.map(\.requestedAt)), PostgresValue.intArray(claims.map { Int64($0.failures) }),
                PostgresValue.textArray(failures.map { String($0.reason.prefix(1000)) }),
                PostgresValue.optionalIntArray(claims.map(\.infeasibleRequiredBytes)),
            ])
    }

    /// When the device's last evaluation found no split fitting its memory: the least memory any
    /// valid split needs, and the limit it was evaluated under.
    package static func infeasibility(deviceID: String, connection: PostgresConnection) throws -> (requiredBytes: Int64, limitBytes: Int64?)? {
        let result = try connection.query(
            """
            SELECT s.infeasible_required_bytes, least(d.memory_bytes::float8, s.evaluated_memory_bytes)::int8 AS limit_bytes
            FROM planning_state s JOIN devices d ON d.id = s.device_id
            WHERE s.device_id = $1 AND s.infeasible_required_bytes IS NOT NULL
            """, [deviceID])
        guard let row = result.rows.first, let required = row.decodeIfPresent("infeasible_required_bytes", as: Int64.self) else { return nil }
        return (required, row.decodeIfPresent("limit_bytes"))
    }

    /// Ends the plans in force of these devices without a successor (a device no split fits can
    /// no longer run its plan), and drops their undelivered deliveries.
    package static func endPlans(deviceIDs: [String], connection: PostgresConnection) throws {
        guard !deviceIDs.isEmpty else { return }
        try connection.query(
            """
            WITH ended AS (
                UPDATE plans SET superseded_at = now() WHERE device_id = ANY($1::text[]) AND superseded_at IS NULL RETURNING id
            )
            \(supersedeDeliveries(ofPlansIn: "ended"))
            """, [PostgresValue.textArray(deviceIDs)])
    }
}
