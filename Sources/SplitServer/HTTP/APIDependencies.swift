import Foundation
import Hummingbird
import Logging
import SplitPush
import SplitStore

/// What route handlers need.
struct APIDependencies: Sendable {
    let pool: ConnectionPool
    let auth: Authenticator
    let cache: ModelCache
    let metrics: ServerMetrics
    let policy: TargetPolicy
    let migrator: Migrator
    let smoothing: LinkSmoothing
    let thresholds: ReplanThresholds
    let maximumBodyBytes: Int
    let telemetryRetentionDays: Int
    let logger: Logger

    /// Runs store work, turning store refusals into API errors and database outages into 503.
    func store<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        do {
            return try await pool.withConnection(body)
        } catch let error as StoreError {
            throw APIError(error)
        } catch let error as PostgresError where error.isConnectionFailure {
            throw APIError(.serviceUnavailable, "database_unavailable", "the database is not reachable; try again")
        }
    }
}

/// Records `splitd_http_requests_total{route,method,status}` and turns unexpected errors into
/// JSON 500s (logged with the request id) so clients always get `{error, detail}`.
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
        } catch let error as HTTPResponseError {
            status = error.status.code
            throw error
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            status = 500
            throw APIError(.internalServerError, "internal", "internal error (request \(context.id)); see the server log")
        }
    }
}
