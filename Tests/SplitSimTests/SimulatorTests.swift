import Foundation
import SplitCore
import SplitTestSupport
import Testing

@testable import SplitSim

enum Models {
    static func prepared(_ name: String) throws -> PreparedModel {
        try PreparedModel(graph: ModelGraph(json: Data(contentsOf: packageRoot.appendingPathComponent("ops/models/\(name).json"))))
    }
}

@Suite("Simulator")
struct SimulatorTests {
    static let settings = SimulationSettings(
        batchSize: 32, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 2e13,
        defaultRTTSeconds: 0.01, replanEverySeconds: 10)

    @Test("a hand-computable model reproduces the delay worked out by hand")
    func handComputed() throws {
        // x (input, 1000 B) → a (reads x, so on the device: 3e9 FLOPs, 500 B) → b (output: 8e9 FLOPs).
        let graph = try ModelGraph(
            name: "two",
            layers: [
                Layer(name: "x", outputBytes: 1000),
                Layer(name: "a", inputs: ["x"], forwardFLOPs: 1e9, backwardFLOPs: 2e9, outputBytes: 500),
                Layer(name: "b", inputs: ["a"], forwardFLOPs: 4e9, backwardFLOPs: 4e9, outputBytes: 10),
            ])
        let trace = try NetworkTrace(
            samples: [
                .init(timeSeconds: 0, uplinkBitsPerSecond: 1e6, downlinkBitsPerSecond: 2e6, rttSeconds: 0.02),
                .init(timeSeconds: 50, uplinkBitsPerSecond: 1e6, downlinkBitsPerSecond: 2e6, rttSeconds: 0.02),
            ], durationSeconds: 100)
        let settings = SimulationSettings(batchSize: 4, deviceFLOPsPerSecond: 1e10, serverFLOPsPerSecond: 1e12, replanEverySeconds: 10)
        let report = try Simulator(model: PreparedModel(graph: graph), trace: trace, settings: settings).run([.dag, .static])
        // Per iteration: device 4·3e9/1e10 = 1.2 s; server 4·8e9/1e12 = 0.032 s;
        // a's output 8·4·500 = 16,000 bit: 0.016 s up + 0.008 s down; rtt 0.02 → 1.276 s.
        // 100 s hold 78 whole iterations (99.528 s) and 0.472/1.276 of the next.
        for result in report.policies {
            #expect(result.iterations == 78)
            #expect(abs(result.meanDelaySeconds - 1.276) < 1e-9)
            #expect(result.iterationDelaySeconds.allSatisfy { abs($0 - 1.276) < 1e-12 })
            #expect(result.planChanges == 0)
        }
        #expect(abs(report.reductionPercent["static"]!) < 1e-9)
    }

    @Test("the same seed gives the same trace and the same report")
    func deterministic() throws {
        let model = try Models.prepared("resnet18")
        for kind in SyntheticTrace.Kind.allCases {
            let first = try SyntheticTrace.generate(
                kind, seed: 42, durationSeconds: 300, baseUplinkBitsPerSecond: 1e8,
                baseDownlinkBitsPerSecond: 2e8, baseRTTSeconds: 0.01)
            let second = try SyntheticTrace.generate(
                kind, seed: 42, durationSeconds: 300, baseUplinkBitsPerSecond: 1e8,
                baseDownlinkBitsPerSecond: 2e8, baseRTTSeconds: 0.01)
            let other = try SyntheticTrace.generate(
                kind, seed: 43, durationSeconds: 300, baseUplinkBitsPerSecond: 1e8,
                baseDownlinkBitsPerSecond: 2e8, baseRTTSeconds: 0.01)
            #expect(first == second)
            #expect(first != other)
            let a = try Simulator(model: model, trace: first, settings: Self.settings).run(SimulationPolicy.allCases)
            let b = try Simulator(model: model, trace: second, settings: Self.settings).run(SimulationPolicy.allCases)
            #expect(a == b)
        }
    }

    @Test("synthetic traces behave as their kind says")
    func syntheticShapes() throws {
        let markov = try SyntheticTrace.generate(
            .markov, seed: 5, durationSeconds: 3000, baseUplinkBitsPerSecond: 1e8,
            baseDownlinkBitsPerSecond: 1e8, baseRTTSeconds: 0.01)
        let bad = markov.samples.filter { $0.uplinkBitsPerSecond < 3e7 }.count
        #expect(bad > 100 && bad < 2000, "a markov trace spends some but not most time in the bad state")
        let steps = try SyntheticTrace.generate(
            .steps, seed: 5, durationSeconds: 1200, baseUplinkBitsPerSecond: 1e8,
            baseDownlinkBitsPerSecond: 1e8, baseRTTSeconds: 0.01)
        let levels = Set(steps.samples.map(\.uplinkBitsPerSecond).map { ($0 / 1e8 * 4).rounded() })
        #expect(levels.count >= 4, "steps change level several times in 20 minutes")
        #expect(steps.durationSeconds == 1200)
    }

    @Test(
        "at every re-planning moment dag's predicted delay is at most every other policy's",
        arguments: [
            "resnet50", "googlenet", "vgg16",
            "mobilenet_v2", "densenet121",
        ])
    func dagIsBestAtEveryMoment(model name: String) throws {
        let model = try Models.prepared(name)
        for kind in SyntheticTrace.Kind.allCases {
            let trace = try SyntheticTrace.generate(
                kind, seed: 11, durationSeconds: 600, baseUplinkBitsPerSecond: 1e8,
                baseDownlinkBitsPerSecond: 2e8, baseRTTSeconds: 0.01)
            let moments = try Simulator(model: model, trace: trace, settings: Self.settings).predictedDelaysAtReplanMoments(SimulationPolicy.allCases)
            #expect(moments.count == 60)
            for moment in moments {
                let dag = moment.delays[.dag]!
                #expect(abs(moment.delays[.block]! - dag) <= 1e-9 * dag)
                for (policy, delay) in moment.delays {
                    #expect(dag <= delay * (1 + 1e-9), "\(name) \(kind) t=\(moment.timeSeconds): dag \(dag) > \(policy) \(delay)")
                }
            }
        }
    }

    @Test("dag and block give identical simulations on every sample model")
    func dagEqualsBlock() throws {
        for name in ["resnet18", "resnet50", "vgg16", "googlenet", "mobilenet_v2", "vit_b_16", "densenet121", "gpt2"] {
            let model = try Models.prepared(name)
            let trace = try SyntheticTrace.generate(
                .steps, seed: 3, durationSeconds: 400, baseUplinkBitsPerSecond: 1e8,
                baseDownlinkBitsPerSecond: 2e8, baseRTTSeconds: 0.01)
            let report = try Simulator(model: model, trace: trace, settings: Self.settings).run([.dag, .block])
            let dag = report.policies[0], block = report.policies[1]
            #expect(dag.iterations == block.iterations, "\(name)")
            #expect(dag.planChanges == block.planChanges, "\(name)")
            #expect(abs(dag.meanDelaySeconds - block.meanDelaySeconds) <= 1e-9 * dag.meanDelaySeconds, "\(name)")
        }
    }

    @Test("policies that never re-plan never change plan; re-planning happens on the grid")
    func planChanges() throws {
        let model = try Models.prepared("resnet50")
        let trace = try SyntheticTrace.generate(
            .markov, seed: 7, durationSeconds: 600, baseUplinkBitsPerSecond: 1e8,
            baseDownlinkBitsPerSecond: 2e8, baseRTTSeconds: 0.01)
        let report = try Simulator(model: model, trace: trace, settings: Self.settings).run(SimulationPolicy.allCases)
        let byPolicy = Dictionary(uniqueKeysWithValues: report.policies.map { ($0.policy, $0) })
        #expect(byPolicy[.static]!.planChanges == 0 && byPolicy[.static]!.migrationSeconds == 0)
        #expect(byPolicy[.serverOnly]!.planChanges == 0 && byPolicy[.serverOnly]!.migrationSeconds == 0)
        #expect(byPolicy[.dag]!.migrationSeconds > 0, "ResNet-50's cut moves layers with parameters")
        #expect(byPolicy[.dag]!.planChanges > 0, "a markov trace around the switching point makes dag move")
        #expect(byPolicy[.dag]!.planChanges <= 60)
        #expect(report.reductionPercent["server-only"]! > 50)
    }
}

@Suite("Network traces")
struct NetworkTraceTests {
    @Test("CSV with and without rtt parses; comments and blank lines are skipped; round trip")
    func parses() throws {
        let trace = try NetworkTrace(csv: "# lab trace\ntime_seconds,uplink_bps,downlink_bps,rtt_seconds\n0,1e6,2e6,0.01\n\n5,3e6,4e6,0.02\n")
        #expect(trace.samples.count == 2)
        #expect(trace.sample(at: 4.9).uplinkBitsPerSecond == 1e6)
        #expect(trace.sample(at: 5).uplinkBitsPerSecond == 3e6)
        #expect(trace.durationSeconds == 10)
        #expect(try NetworkTrace(csv: trace.csv()) == trace)
        let reordered = try NetworkTrace(csv: "downlink_bps,time_seconds,uplink_bps\n2e6,0,1e6\n")
        #expect(reordered.samples[0].rttSeconds == nil)
        #expect(reordered.samples[0].downlinkBitsPerSecond == 2e6)
    }

    @Test(
        "bad traces are rejected naming line and column",
        arguments: [
            ("time_seconds,uplink_bps\n0,1\n", "downlink_bps", nil as Int?),
            ("time_seconds,uplink_bps,downlink_bps,jitter\n0,1,1,1\n", "jitter", 1),
            ("time_seconds,uplink_bps,downlink_bps\n0,1e6,1e6\n5,1e6,1e6\n3,1e6,1e6\n", "increase", 4),
            ("time_seconds,uplink_bps,downlink_bps\n0,-1e6,1e6\n", "uplink_bps", 2),
            ("time_seconds,uplink_bps,downlink_bps\n0,1e6,0\n", "carries nothing", nil),
            ("time_seconds,uplink_bps,downlink_bps\n0,1e6,nan\n", "not a finite number", 2),
            ("time_seconds,uplink_bps,downlink_bps\n0,1e6\n", "expected 3 fields", 2),
            ("time_seconds,uplink_bps,downlink_bps\n0,fast,1e6\n", "'fast' is not a number", 2),
            ("time_seconds,uplink_bps,downlink_bps,rtt_seconds\n0,1e6,1e6,-0.1\n", "rtt_seconds", 2),
            ("", "empty", nil),
            ("time_seconds,uplink_bps,downlink_bps\n", "no samples", nil),
        ])
    func rejects(text: String, mentions: String, line: Int?) {
        do {
            _ = try NetworkTrace(csv: text)
            Issue.record("accepted: \(text)")
        } catch let error as TraceError {
            #expect(error.description.contains(mentions), "\(error)")
            if let line { #expect(error.line == line, "\(error)") }
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
