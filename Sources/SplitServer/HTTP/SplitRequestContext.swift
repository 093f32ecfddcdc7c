import Foundation
import Hummingbird
import Logging

/// Per-request context: Hummingbird's core storage plus who is calling (set by `AuthMiddleware`).
public struct SplitRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The authenticated caller; nil on routes without authentication.
    var principal: Principal?
    /// Who the caller is, for audit records: `admin:<digest prefix of the token>` or `device:<id>`.
    var actor = "anonymous"

    /// Responses are JSON with sorted keys and unescaped slashes.
    public var responseEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public init(source: ApplicationRequestContextSource) {
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
