import Foundation
import Hummingbird
import SplitCore
import SplitStore

/// An error answered with its own JSON body (a 409 saying what memory a split needs).
struct JSONBodyError<Body: Encodable & Sendable>: Error, HTTPResponseError {
    let status: HTTPResponse.Status
    let body: Body

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(body))))
    }
}

extension APIRoutes {
    /// A device's plans: its own token or an admin's.
    static func addDevicePlanRoutes(to group: RouterGroup<SplitRequestContext>, _ api: APIDependencies) {
        group.get("/v1/devices/:id/plan") { _, context in
            let id = try Check.pathParameter("id", context)
            try context.authorize(device: id)
            guard let plan = try await api.store.currentPlan(deviceID: id) else {
                if let (required, limit) = try await api.store.infeasibility(deviceID: id) {
                    throw JSONBodyError(
                        status: .conflict,
                        body: Responses.Infeasible(
                            detail:
                                "no split of the device's model fits its memory: the smallest valid split needs \(ByteQuantity.describe(required))"
                                + (limit.map { ", the limit is \(ByteQuantity.describe($0))" } ?? "")
                                + "; it is planned again when its memory_bytes, reported memory or model changes",
                            requiredDeviceMemoryBytes: required, deviceMemoryLimitBytes: limit))
                }
                throw APIError.notFound("device '\(id)' has no plan yet (it needs a link estimate: telemetry or a link at registration)")
            }
            return Responses.Plan(plan)
        }

        group.get("/v1/devices/:id/plans") { request, context in
            let id = try Check.pathParameter("id", context)
            try context.authorize(device: id)
            let limit = try Check.queryInteger(request, "limit", 1...1000) ?? 50
            let before = try Query(request).get("before").map { text -> Date in
                guard let date = parseISO8601(String(text)) else { throw APIError.invalid("before", "must be an RFC 3339 timestamp") }
                return date
            }
            let plans = try await api.store.planHistory(deviceID: id, limit: limit, before: before)
            let next = plans.count == limit ? plans.last.map { iso8601($0.computedAt) } : nil
            return Responses.PlanHistory(plans: plans.map { Responses.Plan($0) }, nextBefore: next)
        }
    }

    /// `POST /v1/plan`: stateless planning of an inline graph or a registered model (operators).
    static func addStatelessPlanRoute(to group: RouterGroup<SplitRequestContext>, _ api: APIDependencies) {
        group.post("/v1/plan") { request, _ -> PlanReport in
            var request = request
            let body = try await RequestBody.object(&request, limit: api.maximumBodyBytes)
            if let layers = try? body.object("graph")?.array("layers"), layers.count > ModelBodies.maximumLayers {
                throw APIError.tooLarge("graph has \(layers.count) layers; the API accepts at most \(ModelBodies.maximumLayers)")
            }
            let parameters = try RequestBody.decode(Requests.Plan.self, from: body)
            let model: PreparedModel
            do {
                switch parameters.source {
                case .registered(let name, let version):
                    do {
                        model = try await api.store.preparedModel(name: name, version: version, allowRawUpload: parameters.allowRawUpload)
                    } catch let error as StoreError where error.kind == .notFound {
                        throw APIError.invalid(error.field ?? "model", error.message)
                    }
                case .inline(let document):
                    model = try PreparedModel(graph: try ModelBodies.graph(document, prefix: "graph"), allowRawUpload: parameters.allowRawUpload)
                }
            } catch let error as PlanningError {
                throw APIError(.unprocessableContent, "unplannable", error.description)
            }
            do {
                let plan = try SplitPlanner(model: model).plan(parameters.algorithm, conditions: parameters.conditions)
                return PlanReport(plan: plan, model: model, conditions: parameters.conditions)
            } catch PlanningError.deviceMemoryExceeded(let required, let limit) {
                throw JSONBodyError(
                    status: .conflict,
                    body: MemoryInfeasibleReport(
                        requiredBytes: required, limitBytes: limit, algorithm: parameters.algorithm, model: model, conditions: parameters.conditions))
            } catch let error as PlanningError {
                throw APIError(.unprocessableContent, "unplannable", error.description)
            }
        }
    }
}
