import Foundation
import Hummingbird

/// Every dashboard response: signed in (a session cookie, or `Authorization: Bearer` with an admin
/// token for curl) unless the route is the login form or the stylesheet, errors as HTML pages,
/// and the security headers. A visitor who is not signed in gets the login form with 401 and
/// nothing else; a device token gets 403.
struct DashboardMiddleware: RouterMiddleware {
    typealias Context = SplitRequestContext
    let session: DashboardSession
    let authenticator: Authenticator
    let requireSignIn: Bool

    /// No script at all, styles and images only from splitd, forms only to splitd, never framed.
    /// (Referrers stay on this origin: `no-referrer` would make browsers send `Origin: null` with the
    /// login form, which the same-origin check must refuse.)
    static let contentSecurityPolicy =
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            var context = context
            if requireSignIn { try await signIn(request, &context) }
            response = try await next(request, context)
        } catch let refusal as DashboardRefusal {
            response = refusal.response(request)
        } catch {
            let mapped = MetricsAndErrorsMiddleware.map(error, context: context)
            let detail = (mapped as? APIError)?.detail ?? "\(mapped.status.reasonPhrase)"
            response = DashboardPages.error(status: mapped.status, detail: detail)
        }
        Self.secure(&response.headers)
        return response
    }

    /// Checks the caller; records an admin in the context as the API's auth does.
    private func signIn(_ request: Request, _ context: inout Context) async throws {
        if request.headers[.authorization] != nil {
            let principal: Principal, actor: String
            do {
                (principal, actor, _) = try await authenticator.authenticate(request)
            } catch is APIError {
                throw DashboardRefusal.signInRequired(message: "That bearer token is not accepted.")
            }
            guard principal == .admin else { throw DashboardRefusal.forbidden }
            context.principal = .admin
            context.actor = actor
            return
        }
        guard let value = DashboardSession.cookie(in: request), session.isValid(value) else {
            throw DashboardRefusal.signInRequired(message: nil)
        }
        context.principal = .admin
        context.actor = "admin:session"
    }

    /// The headers every dashboard response carries (pages are never cached: they show live
    /// state and sit behind a sign-in; the stylesheet route sets its own caching).
    static func secure(_ headers: inout HTTPFields) {
        headers[.contentSecurityPolicy] = contentSecurityPolicy
        headers[.xContentTypeOptions] = "nosniff"
        headers[.referrerPolicy] = "same-origin"
        headers[.frameOptions] = "DENY"
        headers[.crossOriginOpenerPolicy] = "same-origin"
        if headers[.cacheControl] == nil { headers[.cacheControl] = "no-store" }
    }
}

/// Why a dashboard request is refused before its page runs.
enum DashboardRefusal: Error {
    /// Not signed in: the login form (401), with a message when a credential was rejected.
    case signInRequired(message: String?)
    /// A device token: 403.
    case forbidden

    func response(_ request: Request) -> Response {
        switch self {
        case .signInRequired(let message):
            var response = DashboardPages.login(status: .unauthorized, message: message, next: DashboardPages.returnPath(request))
            response.headers[.wwwAuthenticate] = "Bearer realm=\"splitd\""
            return response
        case .forbidden:
            return DashboardPages.error(status: .forbidden, detail: "The dashboard needs an admin token; a device token cannot open it.")
        }
    }
}
