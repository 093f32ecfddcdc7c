import Foundation
import Hummingbird
import SplitCore
import SplitStore

extension APIRoutes {
    /// Health, readiness, metrics and the OpenAPI document (no authentication).
    static func addOperationsRoutes(to router: Router<SplitRequestContext>, _ api: APIDependencies) {
        router.get("/healthz") { _, _ -> Response in
            JSONResponse.make(object: ["status": "ok", "version": SplitdVersion.current])
        }

        router.get("/readyz") { _, _ -> Response in
            do {
                let status = try await api.pool.withConnection { try api.migrator.verify($0) }
                guard status.pending.isEmpty else {
                    return JSONResponse.make(status: .serviceUnavailable, object: ["status": "migrations pending", "pending": status.pending])
                }
                return JSONResponse.make(object: ["status": "ready", "schema_version": status.applied.last ?? 0])
            } catch {
                return JSONResponse.make(status: .serviceUnavailable, object: ["status": "database unavailable", "detail": "\(error)"])
            }
        }

        router.get("/metrics") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: api.metrics.exposition())))
        }

        router.get("/openapi.yaml") { _, _ -> Response in
            guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"), let data = try? Data(contentsOf: url) else {
                throw APIError.notFound("OpenAPI document not bundled")
            }
            return Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
    }

    /// The whole API router.
    static func router(_ api: APIDependencies) -> Router<SplitRequestContext> {
        let router = Router(context: SplitRequestContext.self)
        router.add(middleware: MetricsAndErrorsMiddleware(metrics: api.metrics))
        addOperationsRoutes(to: router, api)
        addModelRoutes(to: router, api)
        addFleetRoutes(to: router, api)
        addTelemetryRoutes(to: router, api)
        addPlanRoutes(to: router, api)
        return router
    }
}
