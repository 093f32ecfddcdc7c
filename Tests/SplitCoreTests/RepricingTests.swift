import Foundation
import Testing

@testable import SplitCore

@Suite("Repricing a split under new link rates")
struct RepricingTests {
    @Test("Plan.repriced equals pricing the split afresh, on 1,000 or more random DAGs, splits and rate changes")
    func repricedMatchesFreshPlan() throws {
        var checked = 0
        for seed in UInt64(1)...1500 {
            guard let graph = RandomGraphs.unstructured(seed: seed, count: 4 + Int(seed % 20)) else { continue }
            // Graphs whose placement rules admit no split are the planners' tests' business.
            guard let model = try? PreparedModel(graph: graph, allowRawUpload: seed % 3 == 0) else { continue }
            let before = RandomGraphs.conditions(seed: seed)
            var after = before
            let other = RandomGraphs.conditions(seed: seed &+ 7919)
            after.uplinkBitsPerSecond = other.uplinkBitsPerSecond
            after.downlinkBitsPerSecond = other.downlinkBitsPerSecond
            after.rttSeconds = other.rttSeconds
            // The optimal split under the first rates, priced under the second.
            let split = try SplitPlanner(model: model).plan(.dag, conditions: before)
            let repriced = split.repriced(
                uplinkBitsPerSecond: after.uplinkBitsPerSecond, downlinkBitsPerSecond: after.downlinkBitsPerSecond,
                rttSeconds: after.rttSeconds)
            let fresh = try model.plan(forSplit: split.onDevice, conditions: after)
            #expect(repriced.onDevice == fresh.onDevice && repriced.cutLayers == fresh.cutLayers)
            #expect(repriced.transferBytes == fresh.transferBytes && repriced.deviceMemoryBytes == fresh.deviceMemoryBytes)
            #expect(abs(repriced.delaySeconds - fresh.delaySeconds) <= 1e-9 * max(1, fresh.delaySeconds), "seed \(seed)")
            #expect(abs(repriced.breakdown.uplinkSeconds - fresh.breakdown.uplinkSeconds) <= 1e-9 * max(1, fresh.breakdown.uplinkSeconds))
            #expect(abs(repriced.breakdown.downlinkSeconds - fresh.breakdown.downlinkSeconds) <= 1e-9 * max(1, fresh.breakdown.downlinkSeconds))
            #expect(repriced.breakdown.rttSeconds == after.rttSeconds)
            checked += 1
        }
        #expect(checked >= 1000)
    }
}
