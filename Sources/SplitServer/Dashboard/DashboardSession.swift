import Crypto
import Foundation
import Hummingbird
import SplitSupport

/// The dashboard's sign-in: a browser cannot send a bearer token when it follows a link, so the
/// login form exchanges an admin token for a session cookie. The cookie holds no secret and no
/// server state: `v1.<expiry>.<nonce>.<tag>`, the tag an HMAC-SHA256 over the rest under a key
/// derived from the admin token used (HMAC of a fixed label under the token's SHA-256). Every
/// comparison is constant-time, every configured admin token is tried (no early exit), and
/// removing a token from `SPLITD_ADMIN_TOKEN` ends the sessions it opened. A session lasts
/// `lifetimeSeconds`; logging out clears the cookie in the browser.
struct DashboardSession: Sendable {
    static let cookieName = "splitd_session"
    static let lifetimeSeconds = 12 * 3600
    static let label = Data("splitd dashboard session v1".utf8)

    private let adminTokenDigests: [Data]
    /// The signing key of each admin token's sessions.
    private let keys: [Data]

    init(adminTokenDigests: [Data]) {
        self.adminTokenDigests = adminTokenDigests
        keys = adminTokenDigests.map { digest in
            Data(HMAC<SHA256>.authenticationCode(for: Self.label, using: SymmetricKey(data: digest)))
        }
    }

    /// Which admin token `token` is (its index), compared by SHA-256 in constant time against each.
    func adminIndex(token: String) -> Int? {
        let digest = Self.digest(token)
        var matched: Int?
        for (index, admin) in adminTokenDigests.enumerated() where ConstantTime.equal(digest, admin) { matched = index }
        return matched
    }

    /// A new session value for the admin token at `index`, valid until `now + lifetimeSeconds`.
    func issue(adminIndex index: Int, now: Date = Date()) -> String {
        let expiry = Int(now.timeIntervalSince1970) + Self.lifetimeSeconds
        let body = "v1.\(expiry).\(Hex.encode(SecureRandom.bytes(16)))"
        return body + "." + Self.tag(body, keys[index])
    }

    /// Whether `value` is a session this deployment issued that has not expired.
    func isValid(_ value: String, now: Date = Date()) -> Bool {
        let parts = value.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "v1", let expiry = Int(parts[1]), parts[2].utf8.count == 32, parts[3].utf8.count <= 64 else {
            return false
        }
        let now = Int(now.timeIntervalSince1970)
        guard expiry > now, expiry <= now + Self.lifetimeSeconds + 60 else { return false }
        let body = parts[0...2].joined(separator: ".")
        var valid = false
        for key in keys where ConstantTime.equal(Self.tag(body, key), String(parts[3])) { valid = true }
        return valid
    }

    /// The session cookie's value in a request, if it sent one.
    static func cookie(in request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == cookieName {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return nil
    }

    /// `Set-Cookie` for `value` (nil: clear it). HttpOnly, SameSite=Strict, scoped to /ui, and
    /// Secure when the request reached splitd over TLS through a proxy that says so.
    static func setCookie(_ value: String?, request: Request) -> String {
        var cookie = "\(cookieName)=\(value ?? ""); Path=/ui; HttpOnly; SameSite=Strict; Max-Age=\(value == nil ? 0 : lifetimeSeconds)"
        if viaTLS(request) { cookie += "; Secure" }
        return cookie
    }

    /// Whether a TLS-terminating proxy says the browser used https (`X-Forwarded-Proto` or
    /// `Forwarded: proto=https`). Trusting it only ever adds `Secure`, which cannot weaken a cookie.
    static func viaTLS(_ request: Request) -> Bool {
        if request.headers[.forwardedProto]?.lowercased().split(separator: ",").first?.trimmingCharacters(in: .whitespaces) == "https" {
            return true
        }
        return request.headers[.forwarded]?.lowercased().contains("proto=https") ?? false
    }

    /// SHA-256 of a token, as admin tokens are kept (`Authenticator.adminTokenDigests`).
    static func digest(_ token: String) -> [UInt8] { Array(SHA256.hash(data: Data(token.utf8))) }

    static func tag(_ body: String, _ key: Data) -> String {
        Base64URL.encode(Data(HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: SymmetricKey(data: key))))
    }
}
