import Foundation
import SplitCore
import Testing

@testable import SplitSim

@Suite("The hindsight and best-fixed bounds")
struct HindsightTests {
    /// x → a → b → c → out on a slow device: its three valid splits trade device time against
    /// transfer bytes, and moving between them carries 0.3–2.4 MB of weights and Adam state.
    static func model() throws -> PreparedModel {
        try PreparedModel(
            graph: ModelGraph(
                name: "three-splits",
                layers: [
                    Layer(name: "x", outputBytes: 1e5),
                    Layer(name: "a", inputs: ["x"], forwardFLOPs: 1e9, backwardFLOPs: 2e9, outputBytes: 4e5, parameterBytes: 1e5),
                    Layer(name: "b", inputs: ["a"], forwardFLOPs: 2e9, backwardFLOPs: 4e9, outputBytes: 1e5, parameterBytes: 4e5),
                    Layer(name: "c", inputs: ["b"], forwardFLOPs: 4e9, backwardFLOPs: 8e9, outputBytes: 1e3, parameterBytes: 8e5),
                    Layer(name: "out", inputs: ["c"], forwardFLOPs: 1e9, backwardFLOPs: 2e9, outputBytes: 10),
                ]))
    }

    static let settings = SimulationSettings(batchSize: 1, deviceFLOPsPerSecond: 1e10, serverFLOPsPerSecond: 1e12, defaultRTTSeconds: 0.01)

    /// A random trace of `duration` seconds: pieces of 0.2–3 s at 0.2–20 Mbit/s, one in five an outage.
    static func trace(seed: UInt64, duration: Double) throws -> NetworkTrace {
        var random = SplitMix64(seed: seed)
        var samples: [NetworkTrace.Sample] = []
        var time = 0.0
        while time < duration {
            let outage = random.bool(0.2)
            samples.append(
                .init(
                    timeSeconds: time, uplinkBitsPerSecond: outage ? 0 : random.double(2e5...2e7),
                    downlinkBitsPerSecond: random.bool(0.1) ? 0 : random.double(2e5...2e7)))
            time += random.double(0.2...3)
        }
        samples[0].uplinkBitsPerSecond = max(samples[0].uplinkBitsPerSecond, 1e6)
        samples[0].downlinkBitsPerSecond = max(samples[0].downlinkBitsPerSecond, 1e6)
        return try NetworkTrace(samples: samples, durationSeconds: duration)
    }

    /// The physics and the three splits registered.
    static func setup(_ trace: NetworkTrace) throws -> (Physics, SplitRegistry) {
        let model = try Self.model()
        let physics = Physics(
            kind: .integrated, trace: trace, timeline: try LinkTimeline(trace, defaultRTTSeconds: 0.01), defaultRTTSeconds: 0.01, windowSeconds: 1)
        let registry = SplitRegistry(model: model, settings: Self.settings)
        for deviceLayers in 2...4 { _ = try registry.register((0..<5).map { $0 < deviceLayers }) }
        return (physics, registry)
    }

    /// The most work (iterations, the unfinished one by its fraction) any schedule does: every
    /// sequence of splits tried.
    static func bruteForce(_ physics: Physics, _ registry: SplitRegistry) -> (work: Double, fixedWork: Double) {
        let end = physics.end
        var best = 0.0
        func explore(_ time: Double, _ split: Int, _ done: Int) {
            for next in 0..<registry.count {
                let ended = physics.step(from: time, migration: registry.migration(split, next), phases: registry.phases[next]).ended
                if ended > end {
                    best = max(best, Double(done) + (end - time) / (ended - time))
                } else {
                    explore(ended, next, done + 1)
                }
            }
        }
        var fixed = 0.0
        for first in 0..<registry.count {
            explore(physics.start, first, 0)
            var time = physics.start, done = 0.0
            while true {
                let ended = physics.step(from: time, migration: SplitMigration(uplinkBytes: 0, downlinkBytes: 0), phases: registry.phases[first])
                    .ended
                if ended > end {
                    done += (end - time) / (ended - time)
                    break
                }
                done += 1
                time = ended
            }
            fixed = max(fixed, done)
        }
        return (best, fixed)
    }

    @Test("the dynamic program finds the best schedule: equal to trying every schedule on 150 short random traces with outages")
    func dynamicProgramIsExact() throws {
        var switching = 0
        for seed in UInt64(1)...150 {
            let trace = try Self.trace(seed: seed, duration: Double(3 + seed % 4))
            let (physics, registry) = try Self.setup(trace)
            let (work, fixedWork) = Self.bruteForce(physics, registry)
            let bounds = Hindsight(physics: physics, registry: registry)
            let optimal = bounds.optimal(), fixed = bounds.bestFixed()
            let duration = trace.durationSeconds
            #expect(
                abs(duration / optimal.meanDelaySeconds - work) <= 1e-9 * max(1, work),
                "seed \(seed): DP \(duration / optimal.meanDelaySeconds) vs \(work)")
            #expect(abs(duration / fixed.meanDelaySeconds - fixedWork) <= 1e-9 * max(1, fixedWork), "seed \(seed)")
            #expect(optimal.meanDelaySeconds <= fixed.meanDelaySeconds * (1 + 1e-12))
            if work > fixedWork * (1 + 1e-6) { switching += 1 }
        }
        #expect(switching >= 10, "some traces reward switching, so the DP is tested on schedules that move")
    }

    @Test("hindsight is at most every policy and best-fixed, on random traces and sample models")
    func lowerBound() throws {
        for (name, seed) in [("three", UInt64(3)), ("googlenet", 5), ("mobilenet_v2", 7), ("resnet50", 9)] {
            let model = name == "three" ? try Self.model() : try Models.prepared(name)
            let base = name == "three" ? 1.0 : 20.0
            var random = SplitMix64(seed: seed)
            var samples: [NetworkTrace.Sample] = []
            for second in stride(from: 0.0, to: 600, by: 2) {
                samples.append(
                    .init(
                        timeSeconds: second, uplinkBitsPerSecond: random.bool(0.05) ? 0 : base * random.double(1e5...3e7),
                        downlinkBitsPerSecond: base * random.double(1e5...3e7)))
            }
            samples[0].uplinkBitsPerSecond = base * 1e6
            let trace = try NetworkTrace(samples: samples)
            var settings = name == "three" ? Self.settings : SimulationSettings(batchSize: 32, deviceFLOPsPerSecond: 3e10, serverFLOPsPerSecond: 2e13)
            settings.optimizer = .momentum
            let runnable = SimulationPolicy.allCases.filter { !$0.isBound }
            let report = try Simulator(model: model, trace: trace, settings: settings).run(runnable)
            let hindsight = try #require(report.result(.hindsight)), fixed = try #require(report.result(.bestFixed))
            #expect(report.policies.count == runnable.count + 2)
            for result in report.policies {
                #expect(result.meanDelaySeconds >= hindsight.meanDelaySeconds * (1 - 1e-9), "\(name): \(result.policy)")
                #expect(result.ratioToHindsight! >= 1 - 1e-9)
            }
            for fixedPolicy in [SimulationPolicy.static, .serverOnly] {
                #expect(report.result(fixedPolicy)!.meanDelaySeconds >= fixed.meanDelaySeconds * (1 - 1e-9), "\(name): \(fixedPolicy)")
            }
            #expect(fixed.planChanges == 0)
        }
    }
}
