import Foundation
import SplitStore

/// The JSON body of a `split_plan.updated` webhook: `{type, timestamp, data}` where `data` is the
/// plan in the same shape as `GET /v1/devices/{id}/plan`, plus `plan_id` (= `id`) and
/// `sequence`: a number that grows with every plan of the device, so a receiver keeps the
/// highest it has seen and ignores anything lower (a late retry of an older plan).
struct WebhookPayload: Encodable {
    struct PlanData: Encodable {
        var plan: Responses.Plan
        var sequence: Int64

        enum CodingKeys: String, CodingKey {
            case planID = "plan_id"
            case sequence
        }

        func encode(to encoder: Encoder) throws {
            try plan.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(plan.id, forKey: .planID)
            try container.encode(sequence, forKey: .sequence)
        }
    }

    var type = "split_plan.updated"
    var timestamp: String
    var data: PlanData

    init(plan: StoredPlan, now: Date) {
        timestamp = iso8601(now)
        // Plan ids come from one sequence and a device's plans are made one after another (its
        // planning state row is locked while it is planned), so they grow per device.
        data = PlanData(plan: Responses.Plan(plan), sequence: plan.id)
    }

    func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data()
    }
}
