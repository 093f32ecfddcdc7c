import Foundation
import SplitCore
import SplitPush
import Testing

@testable import SplitServer
@testable import SplitStore

/// The webhook body a plan is pushed with, encoded in process.
@Suite("Webhook payload")
struct WebhookPayloadTests {
    @Test("the payload encoder refuses non-finite numbers, naming the field, instead of sending nothing")
    func payloadEncoding() throws {
        let plan = StoredPlan.sample(predictedDelaySeconds: .infinity)
        #expect {
            try WebhookPayload(plan: plan, planning: .recommended, now: Date()).encoded()
        } throws: { error in
            guard case WebhookError.unencodablePayload(let reason) = error else { return false }
            return reason.contains("data.predicted_delay_seconds")
        }
        let body = try WebhookPayload(plan: StoredPlan.sample(predictedDelaySeconds: 1.5), planning: .recommended, now: Date()).encoded()
        #expect(!body.isEmpty)
    }
}

extension StoredPlan {
    /// A plan as read from the history, with the delay given.
    static func sample(predictedDelaySeconds: Double) -> StoredPlan {
        StoredPlan(
            id: 7, deviceID: "dev-1", modelName: "tiny", modelVersion: 1, computedAt: Date(), algorithm: "block", uplinkBitsPerSecond: 1e7,
            downlinkBitsPerSecond: 2e7, rttSeconds: 0.01, deviceFLOPs: 1e11, serverFLOPs: 2e13, batchSize: 32, deviceLayers: ["x", "a"],
            cutLayers: ["a"], predictedDelaySeconds: predictedDelaySeconds, transferBytes: 16000,
            breakdown: DelayBreakdown(
                deviceComputeSeconds: 1, serverComputeSeconds: 0.1, uplinkSeconds: 0.2, downlinkSeconds: 0.19, rttSeconds: 0.01),
            solveMicroseconds: 2.5, supersededAt: nil, reason: "new device", optimizer: nil, memoryLimitBytes: nil, deviceMemoryBytes: nil,
            memoryBound: false, tableJSON: nil)
    }
}
