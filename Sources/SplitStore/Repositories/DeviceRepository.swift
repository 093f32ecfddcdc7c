import Foundation
import SplitCore
import SplitSupport

/// SQL for `devices`: registration, settings, deactivation and reads.
package enum DeviceRepository {
    /// Registers a device and returns its one-time credentials. The model must exist (and the
    /// pinned version, if any), and so must the edge server.
    package static func register(
        id: String, settings: DeviceSettings, secrets: SecretBox,
        connection: PostgresConnection
    ) throws -> DeviceCredentials {
        let credentials = DeviceCredentials(
            token: DeviceToken.generate(), webhookSecret: SecureRandom.webhookSecret())
        let sealedSecret = try secrets.seal(credentials.webhookSecret)
        try connection.transaction {
            try checkReferences(settings, connection: connection)
            do {
                try connection.query(
                    """
                    INSERT INTO devices (id, model_name, model_version, edge_server_id, batch_size, compute_flops, memory_bytes,
                                         allow_raw_upload, callback_url, webhook_secret, token_hash, optimizer, push_mode, switching)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb)
                    """,
                    [
                        id, settings.modelName, settings.modelVersion.map { PostgresValue.int(Int64($0)) } ?? .null,
                        settings.edgeServerID, settings.batchSize, settings.computeFLOPs,
                        settings.memoryBytes.map { PostgresValue.int($0) } ?? .null, settings.allowRawUpload,
                        settings.callbackURL, sealedSecret, DeviceToken.hash(credentials.token), settings.optimizer.rawValue,
                        settings.pushMode.rawValue,
                        try switchingJSON(settings.switching),
                    ])
            } catch let error as PostgresError where error.sqlState == PostgresError.State.uniqueViolation {
                throw StoreError(.conflict, field: "id", "device '\(id)' already exists")
            }
            try PlanRequestRepository.requestNew(deviceID: id, connection: connection)
        }
        return credentials
    }

    /// Replaces a device's settings; when anything that affects its plan changed, it is re-planned.
    package static func update(id: String, settings: DeviceSettings, connection: PostgresConnection) throws -> Device {
        try connection.transaction {
            guard let before = try find(id: id, connection: connection), before.active else {
                throw StoreError(.notFound, field: "id", "device '\(id)' does not exist")
            }
            try checkReferences(settings, connection: connection)
            let result = try connection.query(
                """
                UPDATE devices SET model_name = $2, model_version = $3, edge_server_id = $4, batch_size = $5, compute_flops = $6,
                                   memory_bytes = $7, allow_raw_upload = $8, callback_url = $9,
                                   webhook_enabled = webhook_enabled OR callback_url IS DISTINCT FROM $9, optimizer = $10, push_mode = $11,
                                   switching = $12::jsonb, updated_at = now()
                WHERE id = $1 RETURNING \(columns)
                """,
                [
                    id, settings.modelName, settings.modelVersion.map { PostgresValue.int(Int64($0)) } ?? .null,
                    settings.edgeServerID, settings.batchSize, settings.computeFLOPs,
                    settings.memoryBytes.map { PostgresValue.int($0) } ?? .null, settings.allowRawUpload, settings.callbackURL,
                    settings.optimizer.rawValue, settings.pushMode.rawValue, try switchingJSON(settings.switching),
                ])
            let after = try Device(row: result.row(0))
            let planRelevant =
                before.modelName != after.modelName || before.modelVersion != after.modelVersion
                || before.edgeServerID != after.edgeServerID || before.batchSize != after.batchSize
                || before.computeFLOPs != after.computeFLOPs || before.allowRawUpload != after.allowRawUpload
                || before.memoryBytes != after.memoryBytes || before.optimizer != after.optimizer || before.pushMode != after.pushMode
                || before.switching != after.switching
            if planRelevant {
                try PlanRequestRepository.request(
                    deviceID: id,
                    reason: before.modelName != after.modelName || before.modelVersion != after.modelVersion
                        ? .modelChange : .deviceChanged, connection: connection)
            }
            return after
        }
    }

    /// Deactivates a device (its history stays); false if it did not exist or was inactive.
    package static func deactivate(id: String, connection: PostgresConnection) throws -> Bool {
        try connection.transaction {
            let result = try connection.query("UPDATE devices SET active = false, updated_at = now() WHERE id = $1 AND active", [id])
            if result.affectedRows == 1 {
                // It is never planned again: its request goes, and its undelivered plan too.
                try PlanRequestRepository.drop(deviceID: id, connection: connection)
                try connection.query(
                    """
                    WITH current AS (SELECT id FROM plans WHERE device_id = $1 AND superseded_at IS NULL)
                    \(PlanRepository.supersedeDeliveries(ofPlansIn: "current"))
                    """, [id])
            }
            return result.affectedRows == 1
        }
    }

    package static func find(id: String, connection: PostgresConnection) throws -> Device? {
        let result = try connection.query("SELECT \(columns) FROM devices WHERE id = $1", [id])
        return try result.rows.first.map(Device.init(row:))
    }

    /// Active devices, ordered by id, after `after` (for paging).
    package static func active(after: String? = nil, limit: Int = 1000, connection: PostgresConnection) throws -> [Device] {
        let result = try connection.query(
            """
            SELECT \(columns) FROM devices WHERE active AND ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2
            """, [after, limit])
        return try result.rows.map(Device.init(row:))
    }

    /// Stops (or resumes) webhook delivery for a device, e.g. after its receiver answered 410 Gone.
    package static func setWebhookEnabled(deviceID: String, _ enabled: Bool, connection: PostgresConnection) throws {
        try connection.query("UPDATE devices SET webhook_enabled = $2, updated_at = now() WHERE id = $1", [deviceID, enabled])
    }

    private static func checkReferences(_ settings: DeviceSettings, connection: PostgresConnection) throws {
        guard try ModelRepository.find(name: settings.modelName, version: settings.modelVersion, connection: connection) != nil else {
            let what = settings.modelVersion.map { "version \($0) of model '\(settings.modelName)'" } ?? "model '\(settings.modelName)'"
            throw StoreError(.invalid, field: settings.modelVersion == nil ? "model" : "model_version", "\(what) does not exist")
        }
        guard try EdgeServerRepository.find(id: settings.edgeServerID, connection: connection) != nil else {
            throw StoreError(.invalid, field: "edge_server", "edge server '\(settings.edgeServerID)' does not exist")
        }
    }

    /// A device's own switching rule as stored (`devices.switching`, jsonb), or NULL.
    static func switchingJSON(_ policy: SwitchingPolicy?) throws -> PostgresValue {
        guard let policy else { return .null }
        return .text(String(decoding: try JSONEncoder().encode(policy), as: UTF8.self))
    }

    static let columns = """
        id, model_name, model_version, edge_server_id, batch_size, compute_flops, memory_bytes, allow_raw_upload,
        callback_url, webhook_enabled, active, created_at, updated_at, optimizer, push_mode, switching::text AS switching
        """
}

extension Device {
    /// A row of `DeviceRepository.columns`.
    init(row: PostgresRow) throws {
        self.init(
            id: try row.decode("id"), modelName: try row.decode("model_name"), modelVersion: row.decodeIfPresent("model_version"),
            edgeServerID: try row.decode("edge_server_id"), batchSize: try row.decode("batch_size"), computeFLOPs: try row.decode("compute_flops"),
            memoryBytes: row.decodeIfPresent("memory_bytes"), allowRawUpload: try row.decode("allow_raw_upload"),
            callbackURL: row.decodeIfPresent("callback_url"), optimizer: Optimizer(rawValue: try row.decode("optimizer")) ?? .adam,
            pushMode: PushMode(rawValue: try row.decode("push_mode")) ?? .table,
            switching: try row.decodeIfPresent("switching", as: String.self).map {
                try JSONDecoder().decode(SwitchingPolicy.self, from: Data($0.utf8))
            },
            webhookEnabled: try row.decode("webhook_enabled"), active: try row.decode("active"), createdAt: try row.decode("created_at"),
            updatedAt: try row.decode("updated_at"))
    }
}
