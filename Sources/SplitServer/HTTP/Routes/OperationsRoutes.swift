import Foundation
import Hummingbird
import SplitCore

extension APIRoutes {
    /// Health, readiness, metrics and the OpenAPI document (no authentication).
    static func addOperationsRoutes(to router: Router<SplitRequestContext>, _ api: APIDependencies) {
        router.get("/healthz") { _, _ in
            Responses.Health(status: "ok", version: SplitdVersion.current)
        }

        router.get("/readyz") { _, _ -> EditedResponse<Responses.Readiness> in
            do {
                let status = try await api.store.schemaStatus()
                guard status.pending.isEmpty else {
                    return EditedResponse(
                        status: .serviceUnavailable,
                        response: Responses.Readiness(
                            status: "migrations pending",
                            pending: status.pending))
                }
                return EditedResponse(response: Responses.Readiness(status: "ready", schemaVersion: status.applied.last ?? 0))
            } catch {
                return EditedResponse(status: .serviceUnavailable, response: Responses.Readiness(status: "database unavailable", detail: "\(error)"))
            }
        }

        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: api.metrics.exposition())))
        }

        router.get("/openapi.yaml") { _, _ -> Response in
            guard let document = OpenAPIDocument.text else { throw APIError.notFound("OpenAPI document not bundled") }
            return Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: document)))
        }
    }
}

/// The bundled OpenAPI document: the API's contract.
package enum OpenAPIDocument {
    /// Its text, or nil when the resource is missing.
    package static let text: String? = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else { return nil }
        return try? String(contentsOf: url, encoding: .utf8)
    }()
}
