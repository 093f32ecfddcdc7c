import Foundation
import SplitSupport

/// SQL for device credentials: bearer tokens (stored as their SHA-256) and webhook secrets
/// (sealed by a `SecretBox`), their rotation and the tokens' lookup.
package enum DeviceCredentialRepository {
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
        let newToken = token ? DeviceToken.generate() : nil
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
                """, [deviceID, newToken.map(DeviceToken.hash), sealed, tokenGraceSeconds, secretOverlapSeconds])
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
            for row in result.rows {
                let id: String = try row.decode("id")
                let current: String = try row.decode("webhook_secret")
                let previous: String? = row.decodeIfPresent("previous_webhook_secret")
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

}
