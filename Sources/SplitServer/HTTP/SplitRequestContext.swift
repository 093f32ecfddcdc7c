import Foundation
import Hummingbird
import Logging

/// Per-request context: Hummingbird's core storage plus who is calling (set by `AuthMiddleware`).
package struct SplitRequestContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    /// The authenticated caller; nil on routes without authentication.
    var principal: Principal?
    /// Who the caller is, for audit records: `admin:<digest prefix of the token>` or `device:<id>`.
    var actor = "anonymous"
    /// For a device token, its SHA-256 (hex): telemetry re-checks it when it is stored.
    var deviceTokenHash: String?

    /// Responses are JSON with sorted keys and unescaped slashes.
    package var responseEncoder: JSONEncoder { Self.encoder }

    /// One encoder for every response (its settings never change after this).
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    package init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    /// Allows the admin, or the device `id` itself; 403 for any other device.
    func authorize(device id: String) throws {
        switch principal {
        case .admin?: return
        case .device(let own)? where own == id: return
        case .device?: throw APIError.forbidden("a device token may only act for its own device")
        case nil: throw APIError.unauthorized("missing Authorization: Bearer <token>")
        }
    }
}

/// Who a request comes from.
enum Principal: Equatable, Sendable {
    /// An operator, identified by a short digest of the admin token used (never the token).
    case admin
    case device(String)
}
