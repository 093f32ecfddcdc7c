import Foundation

/// Random secrets and identifiers from the system's cryptographic generator.
package enum SecureRandom {
    /// `count` random bytes.
    package static func bytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// `count` random bytes as base64url without padding (URL- and header-safe).
    package static func token(bytes count: Int) -> String {
        Data(bytes(count)).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// A Standard Webhooks signing secret: `whsec_` and the base64 of 32 random bytes.
    package static func webhookSecret() -> String { "whsec_" + Data(bytes(32)).base64EncodedString() }
}
