import Foundation
import SplitStore

/// The JSON body of a `split_plan.updated` webhook.
struct WebhookPayload: Encodable {
    struct PlanData: Encodable {
        var device: String
        var model: String
        var modelVersion: Int
        var planID: Int64
        var deviceLayers: [String]
        var cutLayers: [String]
        var predictedDelaySeconds: Double
        var breakdown: [String: Double]
        var computedAt: String

        enum CodingKeys: String, CodingKey {
            case device, model, breakdown
            case modelVersion = "model_version"
            case planID = "plan_id"
            case deviceLayers = "device_layers"
            case cutLayers = "cut_layers"
            case predictedDelaySeconds = "predicted_delay_seconds"
            case computedAt = "computed_at"
        }
    }

    var type = "split_plan.updated"
    var timestamp: String
    var data: PlanData

    init(plan: StoredPlan, now: Date) {
        timestamp = iso8601(now)
        let breakdown = (try? JSONSerialization.jsonObject(with: Data(plan.breakdownJSON.utf8)) as? [String: Double]) ?? [:]
        data = PlanData(device: plan.deviceID, model: plan.modelName, modelVersion: plan.modelVersion, planID: plan.id,
                        deviceLayers: plan.deviceLayers, cutLayers: plan.cutLayers, predictedDelaySeconds: plan.predictedDelaySeconds,
                        breakdown: breakdown, computedAt: iso8601(plan.computedAt))
    }

    func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data()
    }
}
