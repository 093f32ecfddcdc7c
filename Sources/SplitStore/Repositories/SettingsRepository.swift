import Foundation

/// SQL for `splitd_settings`: deployment-wide values every replica must agree on.
package enum SettingsRepository {
    /// Records the digest of the secret key on first use, and refuses a different key later:
    /// secrets sealed under one key cannot be opened with another, so a replica with the wrong
    /// key must not start.
    package static func verifySecretKey(_ secrets: SecretBox, connection: PostgresConnection) throws {
        try connection.transaction {
            try connection.query(
                """
                INSERT INTO splitd_settings (name, value) VALUES ('secret_key_check', $1) ON CONFLICT (name) DO NOTHING
                """, [secrets.keyCheck])
            let stored = try connection.query("SELECT value FROM splitd_settings WHERE name = 'secret_key_check'").string(0, "value")
            guard stored == secrets.keyCheck else {
                throw SecretBoxError("this database's secrets were encrypted with another key: give every replica the same SPLITD_SECRET_KEY")
            }
        }
    }
}
