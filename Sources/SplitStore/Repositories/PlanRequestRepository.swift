import SplitCore

/// SQL for planning requests (`planning_state.requested_reason`, `requested_at`): what marks a
/// device for planning at the next cycle. The planning claim clears them (`PlanRepository`).
package enum PlanRequestRepository {
    /// Marks a device for planning at the next cycle.
    package static func request(deviceID: String, reason: PlanReason, connection: PostgresConnection) throws {
        try connection.query(
            """
            INSERT INTO planning_state (device_id, requested_reason, requested_at) VALUES ($1, $2, now())
            ON CONFLICT (device_id) DO UPDATE SET requested_reason = $2, requested_at = now()
            """, [deviceID, reason.rawValue])
    }

    /// The planning state of a device just registered, with its request.
    static func requestNew(deviceID: String, connection: PostgresConnection) throws {
        try connection.query(
            """
            INSERT INTO planning_state (device_id, requested_reason, requested_at) VALUES ($1, $2, now())
            """, [deviceID, PlanReason.newDevice.rawValue])
    }

    /// Marks the active devices on an edge server for planning.
    static func request(edgeServerID: String, reason: PlanReason, connection: PostgresConnection) throws {
        try connection.query(
            """
            UPDATE planning_state s SET requested_reason = $2, requested_at = now()
            FROM devices d WHERE d.id = s.device_id AND d.edge_server_id = $1 AND d.active
            """, [edgeServerID, reason.rawValue])
    }

    /// Marks the active devices that use a model on an edge server for planning.
    static func request(edgeServerID: String, modelName: String, reason: PlanReason, connection: PostgresConnection) throws {
        try connection.query(
            """
            UPDATE planning_state s SET requested_reason = $3, requested_at = now()
            FROM devices d WHERE d.id = s.device_id AND d.edge_server_id = $1 AND d.model_name = $2 AND d.active
            """, [edgeServerID, modelName, reason.rawValue])
    }

    /// Marks the active devices that follow the latest version of a model (none pinned) for planning.
    static func request(followersOfLatest modelName: String, reason: PlanReason, connection: PostgresConnection) throws {
        try connection.query(
            """
            UPDATE planning_state s SET requested_reason = $2, requested_at = now()
            FROM devices d WHERE d.id = s.device_id AND d.model_name = $1 AND d.model_version IS NULL AND d.active
            """, [modelName, reason.rawValue])
    }

    /// Drops a device's request (a deactivated device is never planned again).
    static func drop(deviceID: String, connection: PostgresConnection) throws {
        try connection.query("UPDATE planning_state SET requested_reason = NULL, requested_at = NULL WHERE device_id = $1", [deviceID])
    }
}
