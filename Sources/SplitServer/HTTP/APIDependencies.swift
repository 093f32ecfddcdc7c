import Foundation
import Hummingbird
import Logging
import SplitPush

/// What route handlers need: the storage seam, authentication, the SSRF guard and limits.
package struct APIDependencies: Sendable {
    let store: any APIStore
    let auth: Authenticator
    /// Where telemetry goes: group commit in front of `store`.
    let telemetry: TelemetryCommitter
    let metrics: ServerMetrics
    let policy: TargetPolicy
    let maximumBodyBytes: Int
    let telemetryRetentionDays: Int
    let logger: Logger
    /// Parsed and prepared models, shared with the planner.
    var modelCache = ModelCache()
}

/// Records `splitd_http_requests_total{route,method,status}` and turns errors into JSON bodies:
/// store refusals into 404/409/422, field errors into 422, an unreachable database into 503,
/// anything unexpected into a 500 logged with the request id, so clients always get
/// `{error, detail}` and never a closed connection.
struct MetricsAndErrorsMiddleware: RouterMiddleware {
    typealias Context = SplitRequestContext
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = DispatchTime.now()
        var status = 500
        defer {
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
            metrics.request(route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: status, seconds: seconds)
        }
        do {
            let response = try await next(request, context)
            status = response.status.code
            return response
        } catch {
            let mapped = Self.map(error, context: context)
            status = mapped.status.code
            throw mapped
        }
    }

    static func map(_ error: Error, context: Context) -> any HTTPResponseError {
        switch error {
        case let error as APIError: return error
        case let error as StoreErrorConvertible: return error.apiError
        case let error as HTTPError:
            // Hummingbird's own errors (a body over the limit, say) get the same JSON shape.
            let code = error.status == .contentTooLarge ? "payload_too_large" : "http_\(error.status.code)"
            return APIError(error.status, code, error.body ?? error.status.reasonPhrase)
        case let error as HTTPResponseError: return error
        case is StoreUnavailable: return APIError(.serviceUnavailable, "database_unavailable", "the database is not reachable; try again")
        default:
            context.logger.error("request failed", metadata: ["error": "\(error)", "caller": "\(context.actor)"])
            return APIError(.internalServerError, "internal", "internal error (request \(context.id)); see the server log")
        }
    }
}
