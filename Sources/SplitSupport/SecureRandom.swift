import Foundation

/// Random secrets and identifiers from the system's cryptographic generator.
package enum SecureRandom {
    /// `count` random bytes (eight per call into the system generator).
    package static func bytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        var result: [UInt8] = []
        result.reserveCapacity(count + 8)
        while result.count < count {
            withUnsafeBytes(of: generator.next()) { result.append(contentsOf: $0) }
        }
        result.removeLast(result.count - count)
        return result
    }

    /// `count` random bytes as base64url without padding (URL- and header-safe).
    package static func token(bytes count: Int) -> String { Base64URL.encode(bytes(count)) }

    /// `count` tokens of `bytes` random bytes each, from one draw (for ids made in bulk).
    package static func tokens(_ count: Int, bytes size: Int) -> [String] {
        let random = bytes(count * size)
        return (0..<count).map { Base64URL.encode(random[($0 * size)..<($0 * size + size)]) }
    }

    /// A Standard Webhooks signing secret: `whsec_` and the base64 of 32 random bytes.
    package static func webhookSecret() -> String { "whsec_" + Data(bytes(32)).base64EncodedString() }
}
