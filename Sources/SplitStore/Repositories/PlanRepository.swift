import Foundation
import SplitCore
import SplitSupport

/// SQL for plans (`plans`, `splits`, the view `split_plans`), `planning_state`, and enqueueing
/// deliveries with new plans. This file reads plans; by concern, the planning queue's claim is in
/// PlanRepository+Claim.swift, storing plans in +Store, failures and infeasible devices in
/// +Failures, refused moves in +Refusals.
package enum PlanRepository {
    /// The plan in force for a device.
    package static func current(deviceID: String, connection: PostgresConnection) throws -> StoredPlan? {
        let result = try connection.query(
            "SELECT \(columns), \(tableDocument()) FROM split_plans WHERE device_id = $1 AND superseded_at IS NULL",
            [deviceID])
        return try result.rows.first.map(StoredPlan.init(row:))
    }

    /// A device's plans, newest first, optionally only those computed before `before`.
    package static func history(deviceID: String, limit: Int, before: Date? = nil, connection: PostgresConnection) throws -> [StoredPlan] {
        let result = try connection.query(
            """
            SELECT \(columns), NULL::text AS table_document FROM split_plans WHERE device_id = $1 AND ($2::timestamptz IS NULL OR computed_at < $2)
            ORDER BY computed_at DESC, id DESC LIMIT $3
            """, [deviceID, before.map { PostgresValue.timestamp($0) } ?? .null, limit])
        return try result.rows.map(StoredPlan.init(row:))
    }

    package static func plan(id: Int64, connection: PostgresConnection) throws -> StoredPlan? {
        let result = try connection.query("SELECT \(columns), \(tableDocument()) FROM split_plans WHERE id = $1", [id])
        return try result.rows.first.map(StoredPlan.init(row:))
    }

    static let columns = """
        id, device_id, model_name, model_version, computed_at, algorithm, uplink_bps, downlink_bps, rtt_seconds, device_flops,
        server_flops, batch_size, device_layers, cut_layers, predicted_delay_seconds, transfer_bytes, device_compute_seconds,
        server_compute_seconds, uplink_seconds, downlink_seconds, solve_microseconds, superseded_at, reason, optimizer,
        memory_limit_bytes, device_memory_bytes, memory_bound, cut_modules
        """

    /// The plan's table document, for a select over `split_plans` aliased `alias` (or unaliased).
    static func tableDocument(_ alias: String? = nil) -> String {
        "(SELECT document::text FROM plan_tables t WHERE t.id = \(alias.map { "\($0)." } ?? "")table_id) AS table_document"
    }

    /// `columns` with each column qualified by `table` (for joins).
    static func qualifiedColumns(table: String) -> String {
        columns.split(separator: ",").map { "\(table)." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", ")
    }

    /// The device layers of the splits of these plans, by plan id (one query).
    package static func deviceLayers(planIDs: [Int64], connection: PostgresConnection) throws -> [Int64: [String]] {
        guard !planIDs.isEmpty else { return [:] }
        let result = try connection.query(
            """
            SELECT p.id, s.device_layers FROM plans p JOIN splits s ON s.id = p.split_id WHERE p.id = ANY($1::int8[])
            """, [PostgresValue.intArray(planIDs)])
        var layers: [Int64: [String]] = [:]
        for row in result.rows { layers[try row.decode("id")] = try row.decode("device_layers") }
        return layers
    }
}

extension StoredPlan {
    /// A row of `PlanRepository.columns` and a `table_document`.
    init(row: PostgresRow) throws {
        self.init(
            id: try row.decode("id"), deviceID: try row.decode("device_id"), modelName: try row.decode("model_name"),
            modelVersion: try row.decode("model_version"), computedAt: try row.decode("computed_at"), algorithm: try row.decode("algorithm"),
            uplinkBitsPerSecond: try row.decode("uplink_bps"), downlinkBitsPerSecond: try row.decode("downlink_bps"),
            rttSeconds: try row.decode("rtt_seconds"), deviceFLOPs: try row.decode("device_flops"), serverFLOPs: try row.decode("server_flops"),
            batchSize: try row.decode("batch_size"), deviceLayers: try row.decode("device_layers"), cutLayers: try row.decode("cut_layers"),
            cutModules: row.decodeIfPresent("cut_modules"), predictedDelaySeconds: try row.decode("predicted_delay_seconds"),
            transferBytes: try row.decode("transfer_bytes"),
            breakdown: DelayBreakdown(
                deviceComputeSeconds: try row.decode("device_compute_seconds"), serverComputeSeconds: try row.decode("server_compute_seconds"),
                uplinkSeconds: try row.decode("uplink_seconds"), downlinkSeconds: try row.decode("downlink_seconds"),
                rttSeconds: try row.decode("rtt_seconds")),
            solveMicroseconds: try row.decode("solve_microseconds"), supersededAt: row.decodeIfPresent("superseded_at"),
            reason: try row.decode("reason"), optimizer: row.decodeIfPresent("optimizer").flatMap(Optimizer.init(rawValue:)),
            memoryLimitBytes: row.decodeIfPresent("memory_limit_bytes"), deviceMemoryBytes: row.decodeIfPresent("device_memory_bytes"),
            memoryBound: row.decodeIfPresent("memory_bound") ?? false, tableJSON: row.decodeIfPresent("table_document"))
    }
}
