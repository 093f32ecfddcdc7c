import SplitCore

/// SQL for `edge_servers`.
package enum EdgeServerRepository {
    /// Creates an edge server; a conflict if the id exists.
    package static func create(id: String, computeFLOPs: Double, connection: PostgresConnection) throws -> EdgeServer {
        do {
            let result = try connection.query(
                """
                INSERT INTO edge_servers (id, compute_flops) VALUES ($1, $2) RETURNING \(columns)
                """, [id, computeFLOPs])
            return try EdgeServer(row: result.row(0))
        } catch let error as PostgresError where error.sqlState == PostgresError.State.uniqueViolation {
            throw StoreError(.conflict, field: "id", "edge server '\(id)' already exists")
        }
    }

    /// Changes an edge server's throughput; requests re-planning of its devices when it changed.
    package static func update(id: String, computeFLOPs: Double, connection: PostgresConnection) throws -> EdgeServer {
        try connection.transaction {
            let result = try connection.query(
                """
                UPDATE edge_servers SET compute_flops = $2, updated_at = now() WHERE id = $1 RETURNING \(columns)
                """, [id, computeFLOPs])
            guard result.rowCount == 1 else { throw StoreError(.notFound, field: "id", "edge server '\(id)' does not exist") }
            try PlanRequestRepository.request(edgeServerID: id, reason: .deviceChanged, connection: connection)
            return try EdgeServer(row: result.row(0))
        }
    }

    package static func find(id: String, connection: PostgresConnection) throws -> EdgeServer? {
        let result = try connection.query("SELECT \(columns) FROM edge_servers WHERE id = $1", [id])
        return try result.rows.first.map(EdgeServer.init(row:))
    }

    package static func all(connection: PostgresConnection) throws -> [EdgeServer] {
        let result = try connection.query("SELECT \(columns) FROM edge_servers ORDER BY id")
        return try result.rows.map(EdgeServer.init(row:))
    }

    static let columns = "id, compute_flops, created_at, updated_at"

}

extension EdgeServer {
    /// A row of `EdgeServerRepository.columns`.
    init(row: PostgresRow) throws {
        self.init(
            id: try row.decode("id"), computeFLOPs: try row.decode("compute_flops"), createdAt: try row.decode("created_at"),
            updatedAt: try row.decode("updated_at"))
    }
}
