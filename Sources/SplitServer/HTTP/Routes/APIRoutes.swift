import Foundation
import Hummingbird
import SplitCore
import SplitStore

/// Builds the API router: operations routes without authentication, operator routes behind the
/// admin token, and device routes that also accept a device's own token.
package enum APIRoutes {
    package static func router(_ api: APIDependencies) -> Router<SplitRequestContext> {
        let router = Router(context: SplitRequestContext.self)
        router.add(middleware: MetricsAndErrorsMiddleware(metrics: api.metrics))
        addOperationsRoutes(to: router, api)
        let operators = router.group().add(middleware: AuthMiddleware(authenticator: api.auth, operatorsOnly: true))
        addModelRoutes(to: operators, api)
        addEdgeServerRoutes(to: operators, api)
        addDeviceRoutes(to: operators, api)
        addStatelessPlanRoute(to: operators, api)
        let devices = router.group().add(middleware: AuthMiddleware(authenticator: api.auth, operatorsOnly: false))
        addTelemetryRoutes(to: devices, api)
        addDevicePlanRoutes(to: devices, api)
        addDashboardRoutes(to: router, api)
        return router
    }
}

/// Store refusals as API errors (404, 409, 422 with the field).
protocol StoreErrorConvertible: Error {
    var apiError: APIError { get }
}

extension StoreError: StoreErrorConvertible {
    var apiError: APIError { APIError(self) }
}

extension JSONFieldError: StoreErrorConvertible {
    var apiError: APIError { APIError(self) }
}
