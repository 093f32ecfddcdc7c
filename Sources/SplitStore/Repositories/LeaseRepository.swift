import Foundation

/// A held lease: the fencing token grows every time the lease changes hands, so work done under
/// an old token can be refused.
package struct Lease: Sendable, Equatable {
    package var name: String
    package var owner: String
    package var fencingToken: Int64
    package var expiresAt: Date
}

/// SQL for `leases` (leadership for maintenance).
package enum LeaseRepository {
    /// Takes or renews lease `name` for `owner`; nil when someone else holds an unexpired one.
    package static func acquire(name: String, owner: String, ttlSeconds: Double, connection: PostgresConnection) throws -> Lease? {
        let result = try connection.query(
            """
            INSERT INTO leases (name, owner, fencing_token, expires_at) VALUES ($1, $2, 1, now() + $3 * interval '1 second')
            ON CONFLICT (name) DO UPDATE
               SET fencing_token = CASE WHEN leases.owner = excluded.owner THEN leases.fencing_token ELSE leases.fencing_token + 1 END,
                   owner = excluded.owner, expires_at = excluded.expires_at
             WHERE leases.owner = excluded.owner OR leases.expires_at < now()
            RETURNING name, owner, fencing_token, expires_at
            """, [name, owner, ttlSeconds])
        guard result.rowCount == 1 else { return nil }
        let row = result.row(0)
        return Lease(
            name: try row.decode("name"), owner: try row.decode("owner"), fencingToken: try row.decode("fencing_token"),
            expiresAt: try row.decode("expires_at"))
    }

    /// Checks, inside the caller's transaction, that `lease` is still current (and locks it until
    /// commit so it cannot change hands meanwhile). Work guarded this way cannot run under a stale token.
    package static func verify(_ lease: Lease, connection: PostgresConnection) throws -> Bool {
        try connection.query(
            """
            SELECT 1 FROM leases WHERE name = $1 AND owner = $2 AND fencing_token = $3 AND expires_at > now() FOR UPDATE
            """, [lease.name, lease.owner, lease.fencingToken]
        ).rowCount == 1
    }

    /// Gives the lease up (on shutdown).
    package static func release(_ lease: Lease, connection: PostgresConnection) throws {
        try connection.query(
            "UPDATE leases SET expires_at = now() WHERE name = $1 AND owner = $2 AND fencing_token = $3",
            [lease.name, lease.owner, lease.fencingToken])
    }
}
