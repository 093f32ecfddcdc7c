import Crypto
import Foundation
import Hummingbird
import SplitSupport

/// Bearer-token authentication: one of the configured admin tokens, or a device's own token
/// (looked up by its SHA-256; the token itself is never stored). Missing or unknown tokens are
/// 401; a valid token used where it is not allowed is 403.
struct Authenticator: Sendable {
    let adminTokenDigests: [Data]
    let store: any APIStore

    /// Several admin tokens may be valid at once, so rotating one needs no downtime.
    init(adminTokens: [String], store: any APIStore) {
        adminTokenDigests = adminTokens.map { Data(SHA256.hash(data: Data($0.utf8))) }
        self.store = store
    }

    /// The caller and, for an admin, which token (a digest prefix, for audit records).
    func authenticate(_ request: Request) async throws -> (Principal, actor: String) {
        guard let header = request.headers[.authorization] else { throw APIError.unauthorized("missing Authorization: Bearer <token>") }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty, parts[1].utf8.count <= 512 else {
            throw APIError.unauthorized("Authorization must be 'Bearer <token>'")
        }
        let token = String(parts[1])
        let digest = Data(SHA256.hash(data: Data(token.utf8)))
        // Every admin digest is compared (no early exit), each in constant time.
        var matched: Data?
        for admin in adminTokenDigests where ConstantTime.equal(digest, admin) { matched = admin }
        if let matched { return (.admin, "admin:" + Hex.encode(matched.prefix(6))) }
        guard token.hasPrefix("sdt_"), let device = try await store.authenticateDevice(token: token) else {
            throw APIError.unauthorized("unknown or revoked token")
        }
        return (.device(device), "device:\(device)")
    }
}

/// Authenticates every request of a route group and records the caller in the context.
/// `operatorsOnly` groups answer 403 to device tokens; the others let devices through, and
/// their handlers call `context.authorize(device:)` for the device a request is about.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = SplitRequestContext
    let authenticator: Authenticator
    let operatorsOnly: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let (principal, actor) = try await authenticator.authenticate(request)
        if operatorsOnly, principal != .admin { throw APIError.forbidden("this endpoint needs an admin token") }
        context.principal = principal
        context.actor = actor
        context.logger[metadataKey: "caller"] = "\(actor)"
        return try await next(request, context)
    }
}
