import Crypto
import Foundation
import SplitCore
import SplitSupport

/// SQL for `models`: versioned model graphs.
package enum ModelRepository {
    /// Stores `graph` as a new version of its model unless an identical graph is already stored.
    /// Returns the stored version and whether it was created now.
    package static func store(_ graph: ModelGraph, connection: PostgresConnection) throws -> (model: StoredModel, created: Bool) {
        let json = String(decoding: graph.jsonData(), as: UTF8.self)
        let digest = Hex.encode(SHA256.hash(data: Data(json.utf8)))
        return try connection.transaction {
            // Serialize version numbering per model name.
            try connection.query("SELECT pg_advisory_xact_lock(hashtext('splitd.model:' || $1))", [graph.name])
            let existing = try connection.query("SELECT \(columns) FROM models WHERE name = $1 AND sha256 = $2", [graph.name, digest])
            if existing.rowCount > 0 { return (try decode(existing, 0), false) }
            let inserted = try connection.query(
                """
                INSERT INTO models (name, version, graph, layer_count, block_count, sha256)
                SELECT $1, coalesce(max(version), 0) + 1, $2::jsonb, $3, $4, $5 FROM models WHERE name = $1
                RETURNING \(columns)
                """, [graph.name, PostgresValue.json(json), graph.count, graph.blockLabels.count, digest])
            // Devices that follow the latest version need a plan for the new one.
            try connection.query(
                """
                UPDATE planning_state s SET requested_reason = $2, requested_at = now()
                FROM devices d WHERE d.id = s.device_id AND d.model_name = $1 AND d.model_version IS NULL AND d.active
                """, [graph.name, PlanReason.modelChange.rawValue])
            return (try decode(inserted, 0), true)
        }
    }

    /// A model version (the latest when `version` is nil).
    package static func find(name: String, version: Int? = nil, connection: PostgresConnection) throws -> StoredModel? {
        let result = try connection.query(
            """
            SELECT \(columns) FROM models WHERE name = $1 AND ($2::integer IS NULL OR version = $2)
            ORDER BY version DESC LIMIT 1
            """, [name, version.map { PostgresValue.int(Int64($0)) } ?? .null])
        return result.rowCount > 0 ? try decode(result, 0) : nil
    }

    /// The latest version of every model, by name.
    package static func latest(connection: PostgresConnection) throws -> [StoredModel] {
        let result = try connection.query("SELECT DISTINCT ON (name) \(columns) FROM models ORDER BY name, version DESC")
        return try (0..<result.rowCount).map { try decode(result, $0) }
    }

    /// Number of versions of `name`.
    package static func versionCount(name: String, connection: PostgresConnection) throws -> Int {
        try connection.query("SELECT count(*) AS n FROM models WHERE name = $1", [name]).int(0, "n") ?? 0
    }

    static let columns = "name, version, graph::text AS graph, layer_count, block_count, sha256, created_at"

    static func decode(_ result: PostgresResult, _ row: Int) throws -> StoredModel {
        StoredModel(
            name: try result.require(row, "name", result.string), version: try result.require(row, "version", result.int),
            graphJSON: try result.require(row, "graph", result.string), layerCount: try result.require(row, "layer_count", result.int),
            blockCount: try result.require(row, "block_count", result.int), sha256: try result.require(row, "sha256", result.string),
            createdAt: try result.require(row, "created_at", result.date))
    }
}
