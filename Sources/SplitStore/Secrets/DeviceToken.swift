import Crypto
import Foundation
import SplitSupport

/// The rules of bearer tokens: a device's token is `sdt_` and 32 random bytes (base64url), and a
/// token is stored and looked up as its SHA-256 (hex), never itself. Admin tokens are compared by
/// the same digest.
package enum DeviceToken {
    /// What every device token starts with (an admin token may be anything else).
    package static let prefix = "sdt_"

    /// A new device token.
    package static func generate() -> String { prefix + SecureRandom.token(bytes: 32) }

    /// Whether `token` has a device token's form (only those are looked up as devices').
    package static func isDeviceToken(_ token: String) -> Bool { token.hasPrefix(prefix) }

    /// The SHA-256 of a bearer token.
    package static func digest(_ token: String) -> Data { Data(SHA256.hash(data: Data(token.utf8))) }

    /// The SHA-256 hex of a token: what is stored and looked up.
    package static func hash(_ token: String) -> String { hash(digest: digest(token)) }

    /// The hex form of a token's `digest`.
    package static func hash(digest: Data) -> String { Hex.encode(digest) }
}
