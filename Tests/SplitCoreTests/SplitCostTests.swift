import Foundation
import Testing

@testable import SplitCore

@Suite("SplitCost: the one formula that prices a split")
struct SplitCostTests {
    @Test("a hand-computed delay: compute + 8·bytes·(1/uplink + 1/downlink) + rtt, and each direction's seconds")
    func handComputed() {
        // 1 MB each way over 2 Mbit/s up (4 s) and 8 Mbit/s down (1 s), 3 s of compute, 20 ms rtt.
        let cost = SplitCost(computeSeconds: 3, transferBytes: 1e6)
        #expect(cost.uplinkSeconds(uplinkBitsPerSecond: 2e6) == 4)
        #expect(cost.downlinkSeconds(downlinkBitsPerSecond: 8e6) == 1)
        #expect(abs(cost.delaySeconds(uplinkBitsPerSecond: 2e6, downlinkBitsPerSecond: 8e6, rttSeconds: 0.02) - 8.02) < 1e-12)
        // The effective rate 1/(1/2e6 + 1/8e6) = 1.6e6 gives the same link time.
        let effective = PlanTable.effectiveBitsPerSecond(uplinkBitsPerSecond: 2e6, downlinkBitsPerSecond: 8e6)
        #expect(abs(cost.delaySeconds(effectiveBitsPerSecond: effective) - 8) < 1e-12)
        #expect(SplitCost.bits(1500) == 12_000)
        #expect(SplitCost(computeSeconds: 2, transferBytes: 0).delaySeconds(uplinkBitsPerSecond: 1, downlinkBitsPerSecond: 1, rttSeconds: 0) == 2)
    }

    @Test("plans, repriced plans, table segments and the planners' per-byte cost all price with it, on random DAGs")
    func everyCallerAgrees() throws {
        var checked = 0
        for seed in UInt64(1)...400 {
            guard let graph = RandomGraphs.unstructured(seed: seed, count: 4 + Int(seed % 16)),
                let model = try? PreparedModel(graph: graph, allowRawUpload: seed % 2 == 0)
            else { continue }
            let conditions = RandomGraphs.conditions(seed: seed)
            let plan = try SplitPlanner(model: model).plan(.dag, conditions: conditions)
            let cost = SplitCost(plan)
            let priced = cost.delaySeconds(
                uplinkBitsPerSecond: conditions.uplinkBitsPerSecond, downlinkBitsPerSecond: conditions.downlinkBitsPerSecond,
                rttSeconds: conditions.rttSeconds)
            #expect(abs(priced - plan.delaySeconds) <= 1e-12 * max(1, plan.delaySeconds), "seed \(seed)")
            #expect(plan.breakdown.uplinkSeconds == cost.uplinkSeconds(uplinkBitsPerSecond: conditions.uplinkBitsPerSecond))
            #expect(plan.breakdown.downlinkSeconds == cost.downlinkSeconds(downlinkBitsPerSecond: conditions.downlinkBitsPerSecond))
            // The per-layer transfer cost the planners cut on is the same per-byte price.
            var costs = LayerCosts()
            model.computeCosts(conditions, into: &costs)
            let perByte =
                Double(conditions.batchSize)
                * SplitCost.roundTripSecondsPerByte(
                    uplinkBitsPerSecond: conditions.uplinkBitsPerSecond, downlinkBitsPerSecond: conditions.downlinkBitsPerSecond)
            for layer in 0..<graph.count { #expect(costs.transferSeconds[layer] == graph.layers[layer].outputBytes * perByte) }
            // A table segment is the split's cost with the rtt in its fixed seconds.
            var compute = ComputeConditions(conditions)
            compute.deviceMemoryLimitBytes = nil
            let table = try PlanTable.compute(model: model, conditions: compute)
            for segment in table.segments {
                let delay = segment.delaySeconds(
                    uplinkBitsPerSecond: conditions.uplinkBitsPerSecond, downlinkBitsPerSecond: conditions.downlinkBitsPerSecond)
                #expect(
                    delay
                        == segment.cost.delaySeconds(
                            uplinkBitsPerSecond: conditions.uplinkBitsPerSecond, downlinkBitsPerSecond: conditions.downlinkBitsPerSecond,
                            rttSeconds: 0))
            }
            checked += 1
        }
        #expect(checked >= 200)
    }

    @Test("a migration is priced as its two transfers, each with the same bits-per-byte")
    func migrationPricing() {
        let migration = SplitMigration(uplinkBytes: 1e6, downlinkBytes: 3e6)
        #expect(
            migration.seconds(uplinkBitsPerSecond: 2e6, downlinkBitsPerSecond: 4e6)
                == SplitCost.linkSeconds(bytes: 1e6, bitsPerSecond: 2e6) + SplitCost.linkSeconds(bytes: 3e6, bitsPerSecond: 4e6))
        #expect(migration.seconds(uplinkBitsPerSecond: 2e6, downlinkBitsPerSecond: 4e6) == 10)
        // Nothing to send takes no time even on a link that carries nothing.
        #expect(SplitMigration(uplinkBytes: 0, downlinkBytes: 1e6).seconds(uplinkBitsPerSecond: 0, downlinkBitsPerSecond: 8e6) == 1)
    }
}
