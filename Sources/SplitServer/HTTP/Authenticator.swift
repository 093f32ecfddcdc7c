import Crypto
import Foundation
import Hummingbird
import SplitStore
import SplitSupport

/// Bearer-token authentication: the configured admin token, or a device's own token (looked up by
/// its SHA-256; the token itself is never stored). Missing or unknown tokens are 401; a valid
/// token used where it is not allowed is 403.
struct Authenticator: Sendable {
    let adminTokenDigests: [Data]
    let pool: ConnectionPool

    /// Several admin tokens may be valid at once, so rotating one needs no downtime.
    init(adminTokens: [String], pool: ConnectionPool) {
        adminTokenDigests = adminTokens.map { Data(SHA256.hash(data: Data($0.utf8))) }
        self.pool = pool
    }

    /// The caller, or 401.
    func principal(_ request: Request) async throws -> Principal {
        guard let header = request.headers[.authorization] else { throw APIError.unauthorized("missing Authorization: Bearer <token>") }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
            throw APIError.unauthorized("Authorization must be 'Bearer <token>'")
        }
        let token = String(parts[1])
        // Compare digests so the comparison takes the same time whatever the token.
        let digest = Data(SHA256.hash(data: Data(token.utf8)))
        // Every digest is compared (no early exit), each in constant time.
        var matches = false
        for admin in adminTokenDigests where ConstantTime.equal(digest, admin) { matches = true }
        if matches { return .admin }
        guard token.hasPrefix("sdt_"),
              let device = try await pool.withConnection({ try FleetRepository.authenticate(token: token, connection: $0) }) else {
            throw APIError.unauthorized("unknown or revoked token")
        }
        return .device(device)
    }

    /// Requires the admin token.
    func requireAdmin(_ request: Request) async throws {
        guard try await principal(request) == .admin else { throw APIError.forbidden("this endpoint needs the admin token") }
    }

    /// Requires the admin token or the token of device `id`.
    @discardableResult
    func requireAdminOrDevice(_ id: String, _ request: Request) async throws -> Principal {
        let caller = try await principal(request)
        if caller == .admin || caller == .device(id) { return caller }
        throw APIError.forbidden("a device token may only act for its own device")
    }
}
