import Foundation
import SplitCore
import Testing

@testable import SplitSim

@Suite("Transfers integrated over a trace (LinkCapacity, LinkTimeline, IterationPhases)")
struct LinkCapacityTests {
    static func capacity(_ pieces: [(Double, Double)], end: Double) -> LinkCapacity {
        LinkCapacity(times: pieces.map(\.0), rates: pieces.map(\.1), end: end)!
    }

    @Test("a transfer across a rate step: 1 Mbit/s until 10 s, then 3 Mbit/s")
    func acrossStep() {
        let link = Self.capacity([(0, 1e6), (10, 3e6)], end: 20)
        // 2 Mbit from t = 9: 1 Mbit by 10 s, the other at 3 Mbit/s in 1/3 s.
        #expect(abs(link.finish(bits: 2e6, from: 9) - (10 + 1.0 / 3)) < 1e-12)
        // Entirely before or after the step: bits over the rate.
        #expect(abs(link.finish(bits: 2e6, from: 1) - 3) < 1e-12)
        #expect(abs(link.finish(bits: 3e6, from: 12) - 13) < 1e-12)
        #expect(link.finish(bits: 0, from: 7) == 7)
    }

    @Test("a transfer across an outage waits for the link: 1 Mbit/s, nothing from 10 to 15 s, then 2 Mbit/s")
    func acrossOutage() {
        let link = Self.capacity([(0, 1e6), (10, 0), (15, 2e6)], end: 30)
        // 3 Mbit from t = 8: 2 Mbit by 10 s, nothing until 15 s, 1 Mbit at 2 Mbit/s: 15.5 s.
        #expect(abs(link.finish(bits: 3e6, from: 8) - 15.5) < 1e-12)
        // Starting inside the outage.
        #expect(abs(link.finish(bits: 1e6, from: 12) - 15.5) < 1e-12)
        #expect(link.outageSeconds(from: 0, to: 30) == 5)
        #expect(link.meanRate(from: 8, to: 16) == 0.5e6)
    }

    @Test("a migration across both: its uplink bytes across a rate step, then its downlink bytes across an outage")
    func migrationAcrossBoth() throws {
        // Uplink 1 Mbit/s until 10 s, then 4 Mbit/s; downlink 8 Mbit/s but nothing from 12 to 14 s.
        let trace = try NetworkTrace(
            samples: [
                .init(timeSeconds: 0, uplinkBitsPerSecond: 1e6, downlinkBitsPerSecond: 8e6),
                .init(timeSeconds: 10, uplinkBitsPerSecond: 4e6, downlinkBitsPerSecond: 8e6),
                .init(timeSeconds: 12, uplinkBitsPerSecond: 4e6, downlinkBitsPerSecond: 0),
                .init(timeSeconds: 14, uplinkBitsPerSecond: 4e6, downlinkBitsPerSecond: 8e6),
            ], durationSeconds: 40)
        let timeline = try LinkTimeline(trace, defaultRTTSeconds: 0)
        // From 6 s: 1.5 MB (12 Mbit) up: 4 Mbit by 10 s, 8 Mbit at 4 Mbit/s by 12 s. Then 1 MB
        // (8 Mbit) down: the outage until 14 s, 8 Mbit at 8 Mbit/s by 15 s.
        let migration = SplitMigration(uplinkBytes: 1.5e6, downlinkBytes: 1e6)
        #expect(abs(timeline.migrationEnd(migration, from: 6) - 15) < 1e-12)
        // At start-rate pricing the same migration would take 12/1 + 8/8 = 13 s from 6 s: 19 s.
        #expect(migration.seconds(uplinkBitsPerSecond: 1e6, downlinkBitsPerSecond: 8e6) == 13)
    }

    @Test("an iteration: forward, uplink through an outage, server, downlink, backward, half the rtt after each transfer")
    func iterationPhases() throws {
        let trace = try NetworkTrace(
            samples: [
                .init(timeSeconds: 0, uplinkBitsPerSecond: 4e6, downlinkBitsPerSecond: 8e6, rttSeconds: 0.2),
                .init(timeSeconds: 2, uplinkBitsPerSecond: 0, downlinkBitsPerSecond: 8e6, rttSeconds: 0.2),
                .init(timeSeconds: 3, uplinkBitsPerSecond: 8e6, downlinkBitsPerSecond: 8e6, rttSeconds: 0.2),
            ], durationSeconds: 100)
        let timeline = try LinkTimeline(trace, defaultRTTSeconds: 0.01)
        #expect(abs(timeline.rttSeconds - 0.2) < 1e-15)
        let phases = IterationPhases(deviceForwardSeconds: 1, serverSeconds: 0.5, deviceBackwardSeconds: 2, transferBytes: 1e6)
        // Forward to 1 s; 8 Mbit up: 4 by 2 s, the outage, 4 at 8 Mbit/s: 3.5 s, + 0.1; server to
        // 4.1 s; 8 Mbit down at 8 Mbit/s: 5.1 s, + 0.1; backward: 7.2 s.
        #expect(abs(phases.end(from: 0, on: timeline) - 7.2) < 1e-12)
        // On a constant link the iteration takes exactly the cost model's delay.
        let constant = try LinkTimeline(
            NetworkTrace(
                samples: [.init(timeSeconds: 0, uplinkBitsPerSecond: 3e6, downlinkBitsPerSecond: 7e6, rttSeconds: 0.03)], durationSeconds: 1e4),
            defaultRTTSeconds: 0)
        let delay = phases.cost.delaySeconds(uplinkBitsPerSecond: 3e6, downlinkBitsPerSecond: 7e6, rttSeconds: 0.03)
        #expect(abs(phases.end(from: 5, on: constant) - 5 - delay) < 1e-9)
    }

    @Test("the phases of a plan add up to its compute, split into forward and backward by the device layers' FLOPs")
    func phasesOfPlans() throws {
        let model = try Models.prepared("googlenet")
        let table = try PlanTable.compute(
            model: model, conditions: ComputeConditions(batchSize: 32, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 2e13))
        for segment in table.segments {
            let plan = try model.plan(
                forSplit: segment.onDevice(layerCount: model.graph.count),
                conditions: PlanningConditions(
                    batchSize: 32, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 2e13, uplinkBitsPerSecond: 1e7, downlinkBitsPerSecond: 1e7))
            let phases = IterationPhases(plan: plan, graph: model.graph)
            let forward = plan.deviceLayers.map { model.graph.layers[$0].forwardFLOPs }.reduce(0, +)
            let backward = plan.deviceLayers.map { model.graph.layers[$0].backwardFLOPs }.reduce(0, +)
            #expect(
                abs(phases.deviceForwardSeconds + phases.deviceBackwardSeconds - plan.breakdown.deviceComputeSeconds) <= 1e-12
                    * max(1, plan.breakdown.deviceComputeSeconds))
            #expect(abs(phases.deviceForwardSeconds * backward - phases.deviceBackwardSeconds * forward) <= 1e-9 * max(1, forward * backward))
            #expect(phases.serverSeconds == plan.breakdown.serverComputeSeconds && phases.transferBytes == plan.transferBytes)
        }
    }

    @Test("past the trace's end the link repeats: a transfer that needs more than is left finishes in the next period")
    func wrapsAround() {
        let link = Self.capacity([(0, 1e6), (10, 0)], end: 20)
        // 15 Mbit from 5 s: 5 by 10 s, nothing until 20 s, 10 more from 20 s: 30 s.
        #expect(abs(link.finish(bits: 15e6, from: 5) - 30) < 1e-12)
        #expect(abs(link.carried(until: 45) - (2 * 10e6 + 5e6)) < 1e-6)
        #expect(abs(link.finish(bits: 25e6, from: 0) - 45) < 1e-9)
    }

    @Test("against a step-by-step integration: 2,000 random transfers on random traces with outages end where the bits have passed")
    func againstBruteForce() {
        var random = SplitMix64(seed: 99)
        for _ in 0..<200 {
            var pieces: [(Double, Double)] = []
            var time = 0.0
            for _ in 0..<random.int(2...30) {
                pieces.append((time, random.bool(0.25) ? 0 : random.double(1e5...1e8)))
                time += random.double(0.01...20)
            }
            if pieces.allSatisfy({ $0.1 == 0 }) { pieces[0].1 = 1e6 }
            let end = time
            let link = Self.capacity(pieces, end: end)
            for _ in 0..<10 {
                let start = random.double(0...(end * 1.5)), bits = random.double(0...(link.periodBits * 2.5))
                // Walk piece by piece (the trace repeating every `end` seconds) until the bits have passed.
                var remaining = bits, now = start
                var period = (start / end).rounded(.down)
                var index = pieces.lastIndex { $0.0 <= start - period * end } ?? 0
                while remaining > 0 {
                    let pieceEnd = (index + 1 < pieces.count ? pieces[index + 1].0 : end) + period * end
                    let rate = pieces[index].1
                    if rate > 0 && rate * (pieceEnd - now) >= remaining {
                        now += remaining / rate
                        break
                    }
                    remaining -= rate * (pieceEnd - now)
                    now = pieceEnd
                    index += 1
                    if index == pieces.count {
                        index = 0
                        period += 1
                    }
                }
                let finish = link.finish(bits: bits, from: start)
                #expect(abs(finish - now) <= 1e-6 * max(1, now), "from \(start) bits \(bits): \(finish) vs \(now)")
            }
        }
    }
}
