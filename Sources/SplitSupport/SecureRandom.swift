import Foundation
import Glibc

/// Random secrets and identifiers from the system's cryptographic generator.
package enum SecureRandom {
    /// `count` random bytes: one read of the kernel's generator (`/dev/urandom`) for a whole draw,
    /// or, should that fail, eight bytes per call of the standard library's system generator.
    package static func bytes(_ count: Int) -> [UInt8] {
        if count > 8, let drawn = urandom(count) { return drawn }
        var generator = SystemRandomNumberGenerator()
        var result: [UInt8] = []
        result.reserveCapacity(count + 8)
        while result.count < count {
            withUnsafeBytes(of: generator.next()) { result.append(contentsOf: $0) }
        }
        result.removeLast(result.count - count)
        return result
    }

    /// `count` bytes read from `/dev/urandom` (nil if it cannot be read in full).
    private static func urandom(_ count: Int) -> [UInt8]? {
        let descriptor = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var result = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let read = result.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + filled, count - filled) }
            if read < 0 && errno == EINTR { continue }
            guard read > 0 else { return nil }
            filled += read
        }
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
