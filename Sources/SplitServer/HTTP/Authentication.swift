import Foundation
import Hummingbird
import SplitStore
import SplitSupport

/// Bearer-token authentication: one of the configured admin tokens, or a device's own token
/// (looked up by its SHA-256; the token itself is never stored), answered from `tokens` when this
/// replica verified it recently, else from the database (lookups made at the same time share
/// one query). Missing or unknown tokens are 401; a valid token used where it is not allowed is 403.
struct Authenticator: Sendable {
    let adminTokenDigests: [Data]
    /// Device tokens verified recently (see `DeviceTokenCache` for how long a revoked one lasts).
    let tokens: DeviceTokenCache
    private let lookups: GroupingQueue<String, DeviceTokenGrant?>

    /// Several admin tokens may be valid at once, so rotating one needs no downtime.
    init(adminTokens: [String], store: any APIStore, tokens: DeviceTokenCache = DeviceTokenCache(ttlSeconds: 0)) {
        adminTokenDigests = adminTokens.map(DeviceToken.digest)
        self.tokens = tokens
        lookups = GroupingQueue(maximumWeight: 1000) { hashes in
            let grants = try await store.deviceTokenGrants(tokenHashes: Array(Set(hashes)))
            return hashes.map { grants[$0] }
        }
    }

    /// Runs a change to a device's credentials or state, then forgets the device's cached tokens
    /// (whether or not the change reports success: forgetting too much is harmless).
    func revoking<T>(device id: String, _ change: () async throws -> T) async rethrows -> T {
        defer { tokens.evict(deviceID: id) }
        return try await change()
    }

    /// The caller, for audit records who it is (an admin token's digest prefix, or the device),
    /// and for a device token its SHA-256 (hex).
    func authenticate(_ request: Request) async throws -> (Principal, actor: String, tokenHash: String?) {
        guard let header = request.headers[.authorization] else { throw APIError.unauthorized("missing Authorization: Bearer <token>") }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty, parts[1].utf8.count <= 512 else {
            throw APIError.unauthorized("Authorization must be 'Bearer <token>'")
        }
        let token = String(parts[1])
        let digest = DeviceToken.digest(token)
        // Every admin digest is compared (no early exit), each in constant time.
        var matched: Data?
        for admin in adminTokenDigests where ConstantTime.equal(digest, admin) { matched = admin }
        if let matched { return (.admin, "admin:" + Hex.encode(matched.prefix(6)), nil) }
        guard DeviceToken.isDeviceToken(token) else { throw APIError.unauthorized("unknown or revoked token") }
        let hash = DeviceToken.hash(digest: digest)
        if let device = tokens.device(tokenHash: hash) { return (.device(device), "device:\(device)", hash) }
        let epoch = tokens.epoch()
        guard let grant = try await lookups.submit(hash) else { throw APIError.unauthorized("unknown or revoked token") }
        tokens.insert(tokenHash: hash, deviceID: grant.deviceID, validForSeconds: grant.validForSeconds, epoch: epoch)
        return (.device(grant.deviceID), "device:\(grant.deviceID)", hash)
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
        let (principal, actor, tokenHash) = try await authenticator.authenticate(request)
        if operatorsOnly, principal != .admin { throw APIError.forbidden("this endpoint needs an admin token") }
        context.principal = principal
        context.actor = actor
        context.deviceTokenHash = tokenHash
        // Operators' requests carry who sent them in every log line; devices' requests (the hot
        // path: setting metadata re-renders it) only in the error log, from `context.actor`.
        if principal == .admin { context.logger[metadataKey: "caller"] = "\(actor)" }
        return try await next(request, context)
    }
}
