import SplitCore

/// SQL for measured profiles (splitprofile/1 JSON): `device_profiles` and `server_profiles`.
package enum ProfileRepository {
    /// Stores a device's measured profile and requests re-planning.
    package static func putDeviceProfile(deviceID: String, profileJSON: String, connection: PostgresConnection) throws {
        try connection.transaction {
            guard let device = try DeviceRepository.find(id: deviceID, connection: connection), device.active else {
                throw StoreError(.notFound, field: "id", "device '\(deviceID)' does not exist")
            }
            try connection.query(
                """
                INSERT INTO device_profiles (device_id, profile) VALUES ($1, $2::jsonb)
                ON CONFLICT (device_id) DO UPDATE SET profile = excluded.profile, updated_at = now()
                """, [deviceID, PostgresValue.json(profileJSON)])
            try PlanRequestRepository.request(deviceID: deviceID, reason: .newProfile, connection: connection)
        }
    }

    /// Stores an edge server's measured profile for one model and requests re-planning of the
    /// devices that use that model on that server.
    package static func putServerProfile(edgeServerID: String, modelName: String, profileJSON: String, connection: PostgresConnection) throws {
        try connection.transaction {
            guard try EdgeServerRepository.find(id: edgeServerID, connection: connection) != nil else {
                throw StoreError(.notFound, field: "id", "edge server '\(edgeServerID)' does not exist")
            }
            try connection.query(
                """
                INSERT INTO server_profiles (edge_server_id, model_name, profile) VALUES ($1, $2, $3::jsonb)
                ON CONFLICT (edge_server_id, model_name) DO UPDATE SET profile = excluded.profile, updated_at = now()
                """, [edgeServerID, modelName, PostgresValue.json(profileJSON)])
            try PlanRequestRepository.request(edgeServerID: edgeServerID, modelName: modelName, reason: .newProfile, connection: connection)
        }
    }

    package static func deviceProfile(deviceID: String, connection: PostgresConnection) throws -> String? {
        try connection.query("SELECT profile::text AS profile FROM device_profiles WHERE device_id = $1", [deviceID]).string(0, "profile")
    }

    package static func serverProfile(edgeServerID: String, modelName: String, connection: PostgresConnection) throws -> String? {
        let result = try connection.query(
            """
            SELECT profile::text AS profile FROM server_profiles WHERE edge_server_id = $1 AND model_name = $2
            """, [edgeServerID, modelName])
        return result.rowCount > 0 ? result.string(0, "profile") : nil
    }
}
