import Crypto
import Foundation
import SplitSupport

/// Encrypts the secrets splitd must be able to read back (webhook signing secrets) before they
/// are stored, with AES-256-GCM under one key per deployment; tokens are never stored at all
/// (only their SHA-256).
///
/// Stored form: `sbx1:` followed by base64 of nonce, ciphertext and tag. The key comes from
/// `SPLITD_SECRET_KEY` or a file in the state directory (see `SecretKeyStore`); a digest of it is
/// kept in the database (`splitd_settings`) so a replica started with another key refuses to run
/// instead of signing with secrets it cannot read.
package struct SecretBox: Sendable {
    private let keyBytes: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }
    static let prefix = "sbx1:"

    /// A box for a 32-byte key.
    package init(keyBytes: [UInt8]) throws {
        guard keyBytes.count == 32 else { throw SecretBoxError("the secret key must be 32 bytes, got \(keyBytes.count)") }
        self.keyBytes = keyBytes
    }

    /// A box for a key written as base64 (as in `SPLITD_SECRET_KEY`).
    package init(base64Key: String) throws {
        guard let bytes = Data(base64Encoded: base64Key.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw SecretBoxError("the secret key is not base64 (generate one with: head -c 32 /dev/urandom | base64)")
        }
        try self.init(keyBytes: Array(bytes))
    }

    /// The stored form of `secret`.
    package func seal(_ secret: String) throws -> String {
        let sealed = try AES.GCM.seal(Data(secret.utf8), using: key)
        guard let combined = sealed.combined else { throw SecretBoxError("encryption produced no output") }
        return Self.prefix + combined.base64EncodedString()
    }

    /// The secret inside a stored value; a value stored before encryption (no prefix) is returned as is.
    package func open(_ stored: String) throws -> String {
        guard stored.hasPrefix(Self.prefix) else { return stored }
        guard let combined = Data(base64Encoded: String(stored.dropFirst(Self.prefix.count))),
            let box = try? AES.GCM.SealedBox(combined: combined),
            let plain = try? AES.GCM.open(box, using: key)
        else {
            throw SecretBoxError("a stored secret cannot be decrypted with this key (was SPLITD_SECRET_KEY changed?)")
        }
        return String(decoding: plain, as: UTF8.self)
    }

    /// Whether a stored value is encrypted.
    package static func isSealed(_ stored: String) -> Bool { stored.hasPrefix(prefix) }

    /// A digest that identifies the key without revealing it (kept in the database).
    package var keyCheck: String {
        Hex.encode(HMAC<SHA256>.authenticationCode(for: Data("splitd secret key check".utf8), using: key))
    }
}

/// Why a secret could not be sealed or opened, or the key is unusable.
package struct SecretBoxError: Error, CustomStringConvertible, Sendable {
    package let description: String
    package init(_ description: String) { self.description = description }
}
