import Crypto
import Foundation
import SplitSupport

/// Standard Webhooks signatures: `webhook-signature: v1,<base64 HMAC-SHA256(key, id.timestamp.body)>`
/// with `key` the base64-decoded part of a `whsec_...` secret.
package enum WebhookSignature {
    /// The signing key of a `whsec_` secret (the raw bytes of its base64 part).
    package static func key(fromSecret secret: String) throws -> SymmetricKey {
        let encoded = secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret
        guard let bytes = Data(base64Encoded: encoded), !bytes.isEmpty else {
            throw WebhookError.invalidSecret
        }
        return SymmetricKey(data: bytes)
    }

    /// The `webhook-signature` header value for a message.
    package static func sign(id: String, timestamp: Int, body: Data, secret: String) throws -> String {
        var signed = Data("\(id).\(timestamp).".utf8)
        signed.append(body)
        let mac = HMAC<SHA256>.authenticationCode(for: signed, using: try key(fromSecret: secret))
        return "v1," + Data(mac).base64EncodedString()
    }

    /// Whether `header` (one or more space-separated `v1,<sig>`) signs the message, and the
    /// timestamp is within `tolerance` of `now` (replay protection, as receivers should check).
    package static func verify(
        header: String, id: String, timestamp: Int, body: Data, secret: String,
        now: Date = Date(), tolerance: TimeInterval = 300
    ) -> Bool {
        guard abs(now.timeIntervalSince1970 - Double(timestamp)) <= tolerance,
            let expected = try? sign(id: id, timestamp: timestamp, body: body, secret: secret)
        else { return false }
        return header.split(separator: " ").contains { ConstantTime.equal(String($0), expected) }
    }
}

/// Failures preparing a webhook.
package enum WebhookError: Error, Equatable, CustomStringConvertible, Sendable {
    case invalidSecret
    case invalidURL(String)
    case forbiddenTarget(String)
    /// The host has no address now (DNS failed or took too long): retried, not refused.
    case unresolvable(String)
    case invalidAllowListEntry(String)
    /// The payload cannot be written as JSON (a non-finite number): never sent.
    case unencodablePayload(String)

    package var description: String {
        switch self {
        case .invalidSecret: return "webhook secret is not whsec_<base64>"
        case .invalidURL(let reason): return "invalid callback URL: \(reason)"
        case .forbiddenTarget(let reason): return "callback URL refused: \(reason)"
        case .unresolvable(let reason): return "callback host unresolvable: \(reason)"
        case .unencodablePayload(let reason): return "webhook payload cannot be encoded: \(reason)"
        case .invalidAllowListEntry(let entry): return "'\(entry)' is neither a host name nor an address or CIDR range (like 10.0.0.0/8)"
        }
    }
}
