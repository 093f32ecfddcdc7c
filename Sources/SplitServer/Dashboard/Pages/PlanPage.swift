import Foundation
import Hummingbird
import SplitCore
import SplitStore

/// `GET /ui/plans/{id}`: one plan of the history: its picture (`PlanSVG`, the split drawn on its
/// model's graph) and its numbers: the predicted delay and its parts, what is sent, the conditions
/// and memory it was planned under.
enum PlanPage {
    static func render(planID: Int64, store: any APIStore) async throws -> Response {
        guard let plan = try await store.plan(id: planID) else { throw APIError.notFound("plan \(planID) does not exist") }
        let model = try await store.model(name: plan.modelName, version: plan.modelVersion)?.model
        var body = "<h1>Plan #\(plan.id) of device \(HTML.deviceLink(plan.deviceID))</h1>\n"
        body += HTML.cards([
            ("model", "\(HTML.escape(plan.modelName)) v\(plan.modelVersion)"), ("computed", HTML.time(plan.computedAt)),
            ("reason", HTML.escape(plan.reason)), ("algorithm", HTML.escape(plan.algorithm)),
            ("in force", plan.supersededAt.map { "until \(HTML.time($0))" } ?? HTML.badge("now", "ok")),
            ("predicted delay", HTML.seconds(plan.predictedDelaySeconds)),
            ("sent per iteration", HTML.bytes(plan.transferBytes.isFinite && plan.transferBytes < 9e18 ? Int64(plan.transferBytes) : nil)),
        ])
        body += "<h2>Picture</h2>\n<div class=\"scroll\" id=\"plan-picture\">"
        body += picture(plan, modelJSON: model?.graphJSON)
        body += "</div>\n<h2>Numbers</h2>\n<div class=\"scroll\">"
        let breakdown = plan.breakdown
        body += HTML.table(
            id: "breakdown", headers: ["part of one iteration", "seconds"],
            rows: [
                ["device compute", HTML.seconds(breakdown.deviceComputeSeconds)], ["uplink (activations)", HTML.seconds(breakdown.uplinkSeconds)],
                ["server compute", HTML.seconds(breakdown.serverComputeSeconds)], ["downlink (gradients)", HTML.seconds(breakdown.downlinkSeconds)],
                ["round trip", HTML.seconds(breakdown.rttSeconds)], ["<strong>total</strong>", HTML.seconds(plan.predictedDelaySeconds)],
            ], empty: "")
        body += HTML.table(
            id: "conditions", headers: ["planned under", "value"],
            rows: [
                ["uplink", HTML.rate(plan.uplinkBitsPerSecond)], ["downlink", HTML.rate(plan.downlinkBitsPerSecond)],
                ["round-trip time", HTML.seconds(plan.rttSeconds)], ["device throughput", "\(HTML.number(plan.deviceFLOPs / 1e9)) GFLOP/s"],
                ["server throughput", "\(HTML.number(plan.serverFLOPs / 1e12)) TFLOP/s"], ["batch size", "\(plan.batchSize)"],
                ["optimizer", HTML.escape(plan.optimizer?.rawValue ?? "–")], ["device memory of the split", HTML.bytes(plan.deviceMemoryBytes)],
                ["memory limit", HTML.bytes(plan.memoryLimitBytes)], ["slower because of the limit", plan.memoryBound ? "yes" : "no"],
                ["layers on the device", "\(plan.deviceLayers.count)"], ["from a plan table", plan.tableJSON == nil ? "no" : "yes"],
            ], empty: "")
        let modules = plan.cutModules ?? []
        body += HTML.table(
            id: "cut-layers", headers: ["cut layer", "torch module"],
            rows: plan.cutLayers.enumerated().map { index, layer in
                [
                    "<code>\(HTML.escape(layer))</code>",
                    index < modules.count && !modules[index].isEmpty ? "<code>\(HTML.escape(modules[index]))</code>" : "–",
                ]
            }, empty: "No cut layer: the whole model runs on the server.")
        body += "</div>"
        return DashboardPages.html(.ok, HTML.page(title: "Plan #\(plan.id)", active: nil, body: body))
    }

    /// The plan drawn on its model's graph, or why it cannot be.
    static func picture(_ plan: StoredPlan, modelJSON: String?) -> String {
        guard let modelJSON, let graph = try? ModelGraph(json: Data(modelJSON.utf8)) else {
            return "<p class=\"empty\">The model version this plan was made for is not stored.</p>"
        }
        var onDevice = [Bool](repeating: false, count: graph.count)
        for name in plan.deviceLayers {
            guard let index = graph.index(of: name) else {
                return "<p class=\"empty\">The plan names layer <code>\(HTML.escape(name))</code>, which its model does not have.</p>"
            }
            onDevice[index] = true
        }
        let sent = plan.transferBytes.isFinite && plan.transferBytes < 9e18 ? ByteQuantity.short(Int64(plan.transferBytes)) : "?"
        return PlanSVG.render(
            graph: graph, onDevice: onDevice,
            title: [
                "\(graph.name) v\(plan.modelVersion): plan #\(plan.id), \(formatSeconds(plan.predictedDelaySeconds)) per iteration",
                "\(plan.deviceLayers.count) of \(graph.count) layers on the device; \(plan.cutLayers.count) cut layer(s), \(sent) each way",
            ])
    }
}
