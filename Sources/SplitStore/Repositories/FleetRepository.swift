import Crypto
import Foundation
import SplitCore
import SplitSupport

/// SQL for the fleet: `edge_servers`, `devices`, their profiles and API tokens.
package enum FleetRepository {
    // MARK: Edge servers

    /// Creates an edge server; a conflict if the id exists.
    package static func createEdgeServer(id: String, computeFLOPs: Double, connection: PostgresConnection) throws -> EdgeServer {
        do {
            let result = try connection.query(
                """
                INSERT INTO edge_servers (id, compute_flops) VALUES ($1, $2) RETURNING \(serverColumns)
                """, [id, computeFLOPs])
            return try decodeServer(result, 0)
        } catch let error as PostgresError where error.sqlState == PostgresError.State.uniqueViolation {
            throw StoreError(.conflict, field: "id", "edge server '\(id)' already exists")
        }
    }

    /// Changes an edge server's throughput; requests re-planning of its devices when it changed.
    package static func updateEdgeServer(id: String, computeFLOPs: Double, connection: PostgresConnection) throws -> EdgeServer {
        try connection.transaction {
            let result = try connection.query(
                """
                UPDATE edge_servers SET compute_flops = $2, updated_at = now() WHERE id = $1 RETURNING \(serverColumns)
                """, [id, computeFLOPs])
            guard result.rowCount == 1 else { throw StoreError(.notFound, field: "id", "edge server '\(id)' does not exist") }
            try connection.query(
                """
                UPDATE planning_state s SET requested_reason = $2, requested_at = now()
                FROM devices d WHERE d.id = s.device_id AND d.edge_server_id = $1 AND d.active
                """, [id, PlanReason.deviceChanged.rawValue])
            return try decodeServer(result, 0)
        }
    }

    package static func edgeServer(id: String, connection: PostgresConnection) throws -> EdgeServer? {
        let result = try connection.query("SELECT \(serverColumns) FROM edge_servers WHERE id = $1", [id])
        return result.rowCount > 0 ? try decodeServer(result, 0) : nil
    }

    package static func edgeServers(connection: PostgresConnection) throws -> [EdgeServer] {
        let result = try connection.query("SELECT \(serverColumns) FROM edge_servers ORDER BY id")
        return try (0..<result.rowCount).map { try decodeServer(result, $0) }
    }

    // MARK: Devices

    /// Registers a device and returns its one-time credentials. The model must exist (and the
    /// pinned version, if any), and so must the edge server.
    package static func registerDevice(
        id: String, settings: DeviceSettings, secrets: SecretBox,
        connection: PostgresConnection
    ) throws -> DeviceCredentials {
        let credentials = DeviceCredentials(
            token: "sdt_" + SecureRandom.token(bytes: 32), webhookSecret: SecureRandom.webhookSecret())
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
                        settings.callbackURL, sealedSecret, tokenHash(credentials.token), settings.optimizer.rawValue, settings.pushMode.rawValue,
                        try switchingJSON(settings.switching),
                    ])
            } catch let error as PostgresError where error.sqlState == PostgresError.State.uniqueViolation {
                throw StoreError(.conflict, field: "id", "device '\(id)' already exists")
            }
            try connection.query(
                """
                INSERT INTO planning_state (device_id, requested_reason, requested_at) VALUES ($1, $2, now())
                """, [id, PlanReason.newDevice.rawValue])
        }
        return credentials
    }

    /// Replaces a device's settings; when anything that affects its plan changed, it is re-planned.
    package static func updateDevice(id: String, settings: DeviceSettings, connection: PostgresConnection) throws -> Device {
        try connection.transaction {
            guard let before = try device(id: id, connection: connection), before.active else {
                throw StoreError(.notFound, field: "id", "device '\(id)' does not exist")
            }
            try checkReferences(settings, connection: connection)
            let result = try connection.query(
                """
                UPDATE devices SET model_name = $2, model_version = $3, edge_server_id = $4, batch_size = $5, compute_flops = $6,
                                   memory_bytes = $7, allow_raw_upload = $8, callback_url = $9,
                                   webhook_enabled = webhook_enabled OR callback_url IS DISTINCT FROM $9, optimizer = $10, push_mode = $11,
                                   switching = $12::jsonb, updated_at = now()
                WHERE id = $1 RETURNING \(deviceColumns)
                """,
                [
                    id, settings.modelName, settings.modelVersion.map { PostgresValue.int(Int64($0)) } ?? .null,
                    settings.edgeServerID, settings.batchSize, settings.computeFLOPs,
                    settings.memoryBytes.map { PostgresValue.int($0) } ?? .null, settings.allowRawUpload, settings.callbackURL,
                    settings.optimizer.rawValue, settings.pushMode.rawValue, try switchingJSON(settings.switching),
                ])
            let after = try decodeDevice(result, 0)
            let planRelevant =
                before.modelName != after.modelName || before.modelVersion != after.modelVersion
                || before.edgeServerID != after.edgeServerID || before.batchSize != after.batchSize
                || before.computeFLOPs != after.computeFLOPs || before.allowRawUpload != after.allowRawUpload
                || before.memoryBytes != after.memoryBytes || before.optimizer != after.optimizer || before.pushMode != after.pushMode
                || before.switching != after.switching
            if planRelevant {
                try requestPlan(
                    deviceID: id,
                    reason: before.modelName != after.modelName || before.modelVersion != after.modelVersion
                        ? .modelChange : .deviceChanged, connection: connection)
            }
            return after
        }
    }

    /// Deactivates a device (its history stays); false if it did not exist or was inactive.
    package static func deactivateDevice(id: String, connection: PostgresConnection) throws -> Bool {
        try connection.transaction {
            let result = try connection.query("UPDATE devices SET active = false, updated_at = now() WHERE id = $1 AND active", [id])
            if result.affectedRows == 1 {
                // It is never planned again: its request goes, and its undelivered plan too.
                try connection.query("UPDATE planning_state SET requested_reason = NULL, requested_at = NULL WHERE device_id = $1", [id])
                try connection.query(
                    """
                    WITH current AS (SELECT id FROM plans WHERE device_id = $1 AND superseded_at IS NULL)
                    \(PlanRepository.supersedeDeliveries(ofPlansIn: "current"))
                    """, [id])
            }
            return result.affectedRows == 1
        }
    }

    package static func device(id: String, connection: PostgresConnection) throws -> Device? {
        let result = try connection.query("SELECT \(deviceColumns) FROM devices WHERE id = $1", [id])
        return result.rowCount > 0 ? try decodeDevice(result, 0) : nil
    }

    /// Active devices, ordered by id, after `after` (for paging).
    package static func devices(after: String? = nil, limit: Int = 1000, connection: PostgresConnection) throws -> [Device] {
        let result = try connection.query(
            """
            SELECT \(deviceColumns) FROM devices WHERE active AND ($1::text IS NULL OR id > $1) ORDER BY id LIMIT $2
            """, [after, limit])
        return try (0..<result.rowCount).map { try decodeDevice(result, $0) }
    }

    /// The active devices that bearer tokens (by SHA-256 hex) belong to, and for how much longer
    /// when one is a previous token in its grace period; unknown or revoked hashes are absent.
    package static func tokenGrants(hashes: [String], connection: PostgresConnection) throws -> [String: DeviceTokenGrant] {
        // The remaining grace is computed by the server, so clock skew between hosts does not matter.
        let result = try connection.query(
            """
            SELECT token_hash AS hash, id, NULL::float8 AS valid_for_seconds FROM devices WHERE token_hash = ANY($1::text[]) AND active
            UNION ALL
            SELECT previous_token_hash, id, extract(epoch FROM previous_token_expires_at - now())::float8 FROM devices
            WHERE previous_token_hash = ANY($1::text[]) AND previous_token_expires_at > now() AND active
            """, [PostgresValue.textArray(hashes)])
        var grants: [String: DeviceTokenGrant] = [:]
        for row in 0..<result.rowCount {
            guard let hash = result.string(row, "hash"), let id = result.string(row, "id"), grants[hash] == nil else { continue }
            grants[hash] = DeviceTokenGrant(deviceID: id, validForSeconds: result.double(row, "valid_for_seconds"))
        }
        return grants
    }

    /// Issues new credentials for a device: a new token and/or a new webhook secret, returned
    /// once. The old token stops at once, or after `tokenGraceSeconds`; the old secret keeps
    /// signing beside the new one for `secretOverlapSeconds`. Each rotation is recorded in
    /// `credential_rotations` with `rotatedBy` (never the secrets).
    package static func rotateCredentials(
        deviceID: String, token: Bool, webhookSecret: Bool, tokenGraceSeconds: Double,
        secretOverlapSeconds: Double, rotatedBy: String, secrets: SecretBox,
        connection: PostgresConnection
    ) throws -> RotatedCredentials {
        let newToken = token ? "sdt_" + SecureRandom.token(bytes: 32) : nil
        let newSecret = webhookSecret ? SecureRandom.webhookSecret() : nil
        let sealed = try newSecret.map { try secrets.seal($0) }
        return try connection.transaction {
            let result = try connection.query(
                """
                UPDATE devices SET
                    previous_token_hash = CASE WHEN $2::text IS NULL THEN previous_token_hash
                                               WHEN $4::float8 > 0 THEN token_hash END,
                    previous_token_expires_at = CASE WHEN $2::text IS NULL THEN previous_token_expires_at
                                                     WHEN $4::float8 > 0 THEN now() + $4::float8 * interval '1 second' END,
                    token_hash = coalesce($2, token_hash),
                    previous_webhook_secret = CASE WHEN $3::text IS NULL THEN previous_webhook_secret
                                                   WHEN $5::float8 > 0 THEN webhook_secret END,
                    previous_secret_expires_at = CASE WHEN $3::text IS NULL THEN previous_secret_expires_at
                                                      WHEN $5::float8 > 0 THEN now() + $5::float8 * interval '1 second' END,
                    webhook_secret = coalesce($3, webhook_secret),
                    updated_at = now()
                WHERE id = $1 AND active
                  -- One grace at a time: a second rotation with a grace while the first one's runs would
                  -- drop the token (or secret) the first reply promised to keep valid.
                  AND NOT ($2::text IS NOT NULL AND $4::float8 > 0 AND coalesce(previous_token_expires_at > now(), false))
                  AND NOT ($3::text IS NOT NULL AND $5::float8 > 0 AND coalesce(previous_secret_expires_at > now(), false))
                RETURNING previous_token_expires_at, previous_secret_expires_at
                """, [deviceID, newToken.map(tokenHash), sealed, tokenGraceSeconds, secretOverlapSeconds])
            guard result.rowCount == 1 else {
                let state = try connection.query(
                    "SELECT previous_token_expires_at, previous_secret_expires_at FROM devices WHERE id = $1 AND active", [deviceID])
                guard state.rowCount == 1 else { throw StoreError(.notFound, field: "id", "device '\(deviceID)' does not exist") }
                let until = [
                    token ? state.date(0, "previous_token_expires_at") : nil, webhookSecret ? state.date(0, "previous_secret_expires_at") : nil,
                ]
                .compactMap { $0 }.max()
                throw StoreError(
                    .conflict, field: token && tokenGraceSeconds > 0 ? "token_grace_seconds" : "secret_overlap_seconds",
                    "an earlier rotation's grace runs until \(until.map(Timestamp.format) ?? "now"); rotate again after it, "
                        + "or with a grace of 0 to revoke every earlier credential at once"
                )
            }
            let tokenValidUntil = token ? result.date(0, "previous_token_expires_at") : nil
            let secretValidUntil = webhookSecret ? result.date(0, "previous_secret_expires_at") : nil
            for (credential, rotated, until) in [
                ("token", token, tokenValidUntil),
                (
                    "webhook_secret", webhookSecret,
                    secretValidUntil
                ),
            ] where rotated {
                try connection.query(
                    """
                    INSERT INTO credential_rotations (device_id, credential, rotated_by, previous_valid_until) VALUES ($1, $2, $3, $4)
                    """, [deviceID, credential, rotatedBy, until.map { PostgresValue.timestamp($0) } ?? .null])
            }
            return RotatedCredentials(
                token: newToken, webhookSecret: newSecret, previousTokenValidUntil: tokenValidUntil,
                previousSecretValidUntil: secretValidUntil)
        }
    }

    /// Encrypts every webhook secret still stored in clear (written before encryption existed);
    /// returns how many. Idempotent.
    @discardableResult
    package static func sealPlaintextSecrets(_ secrets: SecretBox, connection: PostgresConnection) throws -> Int {
        try connection.transaction {
            let result = try connection.query(
                """
                SELECT id, webhook_secret, previous_webhook_secret FROM devices
                WHERE webhook_secret NOT LIKE 'sbx1:%' OR previous_webhook_secret NOT LIKE 'sbx1:%' FOR UPDATE
                """)
            for row in 0..<result.rowCount {
                let id = try result.require(row, "id", result.string)
                let current = try result.require(row, "webhook_secret", result.string)
                let previous = result.string(row, "previous_webhook_secret")
                try connection.query(
                    "UPDATE devices SET webhook_secret = $2, previous_webhook_secret = $3 WHERE id = $1",
                    [
                        id, SecretBox.isSealed(current) ? current : try secrets.seal(current),
                        try previous.map { SecretBox.isSealed($0) ? $0 : try secrets.seal($0) },
                    ])
            }
            return result.rowCount
        }
    }

    /// Stops (or resumes) webhook delivery for a device, e.g. after its receiver answered 410 Gone.
    package static func setWebhookEnabled(deviceID: String, _ enabled: Bool, connection: PostgresConnection) throws {
        try connection.query("UPDATE devices SET webhook_enabled = $2, updated_at = now() WHERE id = $1", [deviceID, enabled])
    }

    /// Marks a device for planning at the next cycle.
    package static func requestPlan(deviceID: String, reason: PlanReason, connection: PostgresConnection) throws {
        try connection.query(
            """
            INSERT INTO planning_state (device_id, requested_reason, requested_at) VALUES ($1, $2, now())
            ON CONFLICT (device_id) DO UPDATE SET requested_reason = $2, requested_at = now()
            """, [deviceID, reason.rawValue])
    }

    // MARK: Profiles

    /// Stores a device's measured profile (splitprofile/1 JSON) and requests re-planning.
    package static func putDeviceProfile(deviceID: String, profileJSON: String, connection: PostgresConnection) throws {
        try connection.transaction {
            guard let device = try device(id: deviceID, connection: connection), device.active else {
                throw StoreError(.notFound, field: "id", "device '\(deviceID)' does not exist")
            }
            try connection.query(
                """
                INSERT INTO device_profiles (device_id, profile) VALUES ($1, $2::jsonb)
                ON CONFLICT (device_id) DO UPDATE SET profile = excluded.profile, updated_at = now()
                """, [deviceID, PostgresValue.json(profileJSON)])
            try requestPlan(deviceID: deviceID, reason: .newProfile, connection: connection)
        }
    }

    /// Stores an edge server's measured profile for one model and requests re-planning of the
    /// devices that use that model on that server.
    package static func putServerProfile(edgeServerID: String, modelName: String, profileJSON: String, connection: PostgresConnection) throws {
        try connection.transaction {
            guard try edgeServer(id: edgeServerID, connection: connection) != nil else {
                throw StoreError(.notFound, field: "id", "edge server '\(edgeServerID)' does not exist")
            }
            try connection.query(
                """
                INSERT INTO server_profiles (edge_server_id, model_name, profile) VALUES ($1, $2, $3::jsonb)
                ON CONFLICT (edge_server_id, model_name) DO UPDATE SET profile = excluded.profile, updated_at = now()
                """, [edgeServerID, modelName, PostgresValue.json(profileJSON)])
            try connection.query(
                """
                UPDATE planning_state s SET requested_reason = $3, requested_at = now()
                FROM devices d WHERE d.id = s.device_id AND d.edge_server_id = $1 AND d.model_name = $2 AND d.active
                """, [edgeServerID, modelName, PlanReason.newProfile.rawValue])
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

    // MARK: Internals

    /// SHA-256 hex of a token: what is stored and looked up.
    package static func tokenHash(_ token: String) -> String {
        Hex.encode(SHA256.hash(data: Data(token.utf8)))
    }

    private static func checkReferences(_ settings: DeviceSettings, connection: PostgresConnection) throws {
        guard try ModelRepository.find(name: settings.modelName, version: settings.modelVersion, connection: connection) != nil else {
            let what = settings.modelVersion.map { "version \($0) of model '\(settings.modelName)'" } ?? "model '\(settings.modelName)'"
            throw StoreError(.invalid, field: settings.modelVersion == nil ? "model" : "model_version", "\(what) does not exist")
        }
        guard try edgeServer(id: settings.edgeServerID, connection: connection) != nil else {
            throw StoreError(.invalid, field: "edge_server", "edge server '\(settings.edgeServerID)' does not exist")
        }
    }

    /// A device's own switching rule as stored (`devices.switching`, jsonb), or NULL.
    static func switchingJSON(_ policy: SwitchingPolicy?) throws -> PostgresValue {
        guard let policy else { return .null }
        return .text(String(decoding: try JSONEncoder().encode(policy), as: UTF8.self))
    }

    static let serverColumns = "id, compute_flops, created_at, updated_at"
    static let deviceColumns = """
        id, model_name, model_version, edge_server_id, batch_size, compute_flops, memory_bytes, allow_raw_upload,
        callback_url, webhook_enabled, active, created_at, updated_at, optimizer, push_mode, switching::text AS switching
        """

    static func decodeServer(_ result: PostgresResult, _ row: Int) throws -> EdgeServer {
        EdgeServer(
            id: try result.require(row, "id", result.string), computeFLOPs: try result.require(row, "compute_flops", result.double),
            createdAt: try result.require(row, "created_at", result.date), updatedAt: try result.require(row, "updated_at", result.date))
    }

    static func decodeDevice(_ result: PostgresResult, _ row: Int) throws -> Device {
        Device(
            id: try result.require(row, "id", result.string), modelName: try result.require(row, "model_name", result.string),
            modelVersion: result.int(row, "model_version"), edgeServerID: try result.require(row, "edge_server_id", result.string),
            batchSize: try result.require(row, "batch_size", result.int), computeFLOPs: try result.require(row, "compute_flops", result.double),
            memoryBytes: result.int(row, "memory_bytes").map { Int64($0) }, allowRawUpload: try result.require(row, "allow_raw_upload", result.bool),
            callbackURL: result.string(row, "callback_url"),
            optimizer: Optimizer(rawValue: try result.require(row, "optimizer", result.string)) ?? .adam,
            pushMode: PushMode(rawValue: try result.require(row, "push_mode", result.string)) ?? .table,
            switching: try result.string(row, "switching").map { try JSONDecoder().decode(SwitchingPolicy.self, from: Data($0.utf8)) },
            webhookEnabled: try result.require(row, "webhook_enabled", result.bool), active: try result.require(row, "active", result.bool),
            createdAt: try result.require(row, "created_at", result.date), updatedAt: try result.require(row, "updated_at", result.date))
    }
}
