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
            if let row = existing.rows.first { return (try StoredModel(row: row), false) }
            let inserted = try connection.query(
                """
                INSERT INTO models (name, version, graph, layer_count, block_count, sha256)
                SELECT $1, coalesce(max(version), 0) + 1, $2::jsonb, $3, $4, $5 FROM models WHERE name = $1
                RETURNING \(columns)
                """, [graph.name, PostgresValue.json(json), graph.count, graph.blockLabels.count, digest])
            // Devices that follow the latest version need a plan for the new one.
            try PlanRequestRepository.request(followersOfLatest: graph.name, reason: .modelChange, connection: connection)
            return (try StoredModel(row: inserted.row(0)), true)
        }
    }

    /// A model version (the latest when `version` is nil).
    package static func find(name: String, version: Int? = nil, connection: PostgresConnection) throws -> StoredModel? {
        let result = try connection.query(
            """
            SELECT \(columns) FROM models WHERE name = $1 AND ($2::integer IS NULL OR version = $2)
            ORDER BY version DESC LIMIT 1
            """, [name, version.map { PostgresValue.int(Int64($0)) } ?? .null])
        return try result.rows.first.map(StoredModel.init(row:))
    }

    /// The latest version of every model, by name.
    package static func latest(connection: PostgresConnection) throws -> [StoredModel] {
        let result = try connection.query("SELECT DISTINCT ON (name) \(columns) FROM models ORDER BY name, version DESC")
        return try result.rows.map(StoredModel.init(row:))
    }

    /// Number of versions of `name`.
    package static func versionCount(name: String, connection: PostgresConnection) throws -> Int {
        try connection.query("SELECT count(*) AS n FROM models WHERE name = $1", [name]).int(0, "n") ?? 0
    }

    static let columns = "name, version, graph::text AS graph, layer_count, block_count, sha256, created_at"

}

extension StoredModel {
    /// A row of `ModelRepository.columns`.
    init(row: PostgresRow) throws {
        self.init(
            name: try row.decode("name"), version: try row.decode("version"), graphJSON: try row.decode("graph"),
            layerCount: try row.decode("layer_count"), blockCount: try row.decode("block_count"), sha256: try row.decode("sha256"),
            createdAt: try row.decode("created_at"))
    }
}
