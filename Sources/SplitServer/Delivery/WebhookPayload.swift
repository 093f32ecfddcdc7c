import Foundation
import SplitCore
import SplitPush
import SplitStore

/// The JSON body of a `split_plan.updated` webhook: `{type, timestamp, data}` where `data` is the
/// plan in the same shape as `GET /v1/devices/{id}/plan`, plus `plan_id` (= `id`) and
/// `sequence`: a number that grows with every plan of the device, so a receiver keeps the
/// highest it has seen and ignores anything lower (a late retry of an older plan).
struct WebhookPayload: Encodable {
    struct PlanData: Encodable {
        var plan: Responses.Plan
        var sequence: Int64
        var switching: Switching

        enum CodingKeys: String, CodingKey {
            case planID = "plan_id"
            case sequence, switching
        }

        func encode(to encoder: Encoder) throws {
            try plan.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(plan.id, forKey: .planID)
            try container.encode(sequence, forKey: .sequence)
            try container.encode(switching, forKey: .switching)
        }
    }

    /// The rule a device holding the table applies (`DevicePlanningSettings.decideOnDevice`): its
    /// switching rule (`SwitchingPolicy`'s JSON: `rule` and its parameters), the estimator of the
    /// rates it decides at, and its optimizer (what a migration moves per parameter byte).
    struct Switching: Encodable {
        var policy: SwitchingPolicy
        var estimator: LinkEstimator
        var optimizer: String
        var migrationBytesPerParameterByte: Double
        enum CodingKeys: String, CodingKey {
            case estimator, optimizer
            case migrationBytesPerParameterByte = "migration_bytes_per_parameter_byte"
        }
        enum EstimatorKeys: String, CodingKey {
            case mean
            case timeConstantSeconds = "time_constant_seconds"
        }

        func encode(to encoder: Encoder) throws {
            try policy.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            var nested = container.nestedContainer(keyedBy: EstimatorKeys.self, forKey: .estimator)
            try nested.encode(estimator.mean.rawValue, forKey: .mean)
            try nested.encode(estimator.timeConstantSeconds, forKey: .timeConstantSeconds)
            try container.encode(optimizer, forKey: .optimizer)
            try container.encode(migrationBytesPerParameterByte, forKey: .migrationBytesPerParameterByte)
        }
    }

    var type = "split_plan.updated"
    var timestamp: String
    var data: PlanData

    init(plan: StoredPlan, planning: DevicePlanningSettings, now: Date) {
        timestamp = iso8601(now)
        // Plan ids come from one sequence and a device's plans are made one after another (its
        // planning state row is locked while it is planned), so they grow per device.
        let optimizer = plan.optimizer ?? .adam
        data = PlanData(
            plan: Responses.Plan(plan), sequence: plan.id,
            switching: Switching(
                policy: planning.switching, estimator: planning.estimator, optimizer: optimizer.rawValue,
                migrationBytesPerParameterByte: optimizer.migrationBytesPerParameterByte))
    }

    /// The body of a delivery: a plan's `split_plan.updated`, or a stored notice's
    /// `split_plan.infeasible` (`{type, timestamp, data}` with the notice document as `data`).
    static func body(for content: ClaimedDelivery.Content, planning: DevicePlanningSettings, now: Date) throws -> Data {
        switch content {
        case .plan(let plan):
            return try WebhookPayload(plan: plan, planning: planning, now: now).encoded()
        case .notice(let document):
            // The document is stored JSON (DeliveryRepository.enqueueNotices); the envelope is
            // written around it byte for byte.
            let envelope = #"{"data":"# + document + #","timestamp":"# + "\"\(iso8601(now))\"" + #","type":"split_plan.infeasible"}"#
            return Data(envelope.utf8)
        }
    }

    /// The JSON body; throws `WebhookError.unencodablePayload` (naming the field) when a value
    /// has no JSON form, such as a NaN or infinite number: such a plan is never sent as an empty
    /// or partial body.
    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return try encoder.encode(self)
        } catch EncodingError.invalidValue(let value, let context) {
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            throw WebhookError.unencodablePayload("\(path.isEmpty ? "a value" : path) is \(value), which JSON cannot represent")
        } catch {
            throw WebhookError.unencodablePayload("\(error)")
        }
    }
}
