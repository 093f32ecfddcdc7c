import Foundation
import SplitCore
import SplitTestSupport
import Testing

@testable import SplitSim

@Suite("Simulator: migration costs and the table policy")
struct SimulatorMigrationTests {
    /// x → a → m → b: a reads the input (device), b is the output (server), m (1e9 FLOPs, 1 MB
    /// of parameters) is the only free layer. a sends 1 MB, m sends 1 kB.
    static func model() throws -> PreparedModel {
        try PreparedModel(
            graph: ModelGraph(
                name: "one-free",
                layers: [
                    Layer(name: "x", outputBytes: 1_000),
                    Layer(name: "a", inputs: ["x"], outputBytes: 1e6),
                    Layer(name: "m", inputs: ["a"], forwardFLOPs: 1e9, outputBytes: 1e3, parameterBytes: 1e6),
                    Layer(name: "b", inputs: ["m"], forwardFLOPs: 1e9, outputBytes: 10),
                ]))
    }

    /// 50 s at 1 Gbit/s both ways, then 50 s at 1 Mbit/s; no rtt.
    static func trace() throws -> NetworkTrace {
        try NetworkTrace(
            samples: [
                .init(timeSeconds: 0, uplinkBitsPerSecond: 1e9, downlinkBitsPerSecond: 1e9, rttSeconds: 0),
                .init(timeSeconds: 50, uplinkBitsPerSecond: 1e6, downlinkBitsPerSecond: 1e6, rttSeconds: 0),
            ], durationSeconds: 100)
    }

    /// Start-rate physics (the first simulator's model, kept for comparison): each iteration and
    /// migration priced at the rates of the second it starts in, which these hand computations use.
    static func settings(_ optimizer: Optimizer, horizon: Int = 10) -> SimulationSettings {
        var settings = SimulationSettings(
            batchSize: 1, deviceFLOPsPerSecond: 1e10, serverFLOPsPerSecond: 1e12, defaultRTTSeconds: 0,
            replanEverySeconds: 10, optimizer: optimizer, switchingRule: SwitchingRule(horizonIterations: horizon))
        settings.physics = .startRate
        return settings
    }

    @Test("a split change costs parameters × optimizer factor at the rates then in effect, in the first iteration with the new split")
    func handComputedMigration() throws {
        // Fast link: m on the server, 0.001 + 0.001 s compute + 8 MB·2/1e9 = 0.018 s per iteration.
        // Slow link: m on the device: 0.1 + 0.001 s + 8 kB·2/1e6 = 0.117 s (m on the server would
        // take 16.002 s). Moving m down: 1 MB × (1, 2, 3) at 1 Mbit/s = 8, 16, 24 s.
        for (optimizer, migration) in [(Optimizer.sgd, 8.0), (.momentum, 16.0), (.adam, 24.0)] {
            let report = try Simulator(model: Self.model(), trace: Self.trace(), settings: Self.settings(optimizer)).run([.dag, .table, .static])
            for result in report.policies where result.policy == .dag || result.policy == .table {
                #expect(result.planChanges == 1, "\(result.policy)")
                #expect(abs(result.migrationSeconds - migration) < 1e-9, "\(result.policy): \(result.migrationSeconds)")
                #expect(result.migrationBytes == 1e6 * optimizer.migrationBytesPerParameterByte)
                let delays = result.iterationDelaySeconds
                let slowest = try #require(delays.indices.max { delays[$0] < delays[$1] })
                #expect(abs(result.iterationDelaySeconds[slowest] - (0.117 + migration)) < 1e-9, "\(result.policy)")
                // The migrating iteration is the first one starting in the slow phase.
                #expect(result.iterationStartSeconds[slowest] >= 50 && result.iterationStartSeconds[slowest - 1] < 50)
                #expect(abs(result.iterationDelaySeconds[slowest + 1] - 0.117) < 1e-9)
            }
            let fixed = report.policies[2]
            #expect(fixed.planChanges == 0 && fixed.migrationSeconds == 0)
            #expect(abs(try #require(fixed.iterationDelaySeconds.last) - 16.002) < 1e-9)
        }
    }

    @Test("the table policy switches only when the saving over the horizon beats the migration")
    func tableRespectsHorizon() throws {
        // In the slow phase m on the device saves 16.002 − 0.117 = 15.885 s per iteration against
        // a 16 s migration (momentum): one iteration does not pay for it, two do.
        let once = try Simulator(model: Self.model(), trace: Self.trace(), settings: Self.settings(.momentum, horizon: 1)).run([.table, .static])
        #expect(once.policies[0].planChanges == 0)
        #expect(once.policies[0].iterations == once.policies[1].iterations)
        let twice = try Simulator(model: Self.model(), trace: Self.trace(), settings: Self.settings(.momentum, horizon: 2)).run([.table])
        #expect(twice.policies[0].planChanges == 1)
        #expect(abs(twice.policies[0].migrationSeconds - 16) < 1e-9)
        #expect(twice.policies[0].iterations > once.policies[0].iterations)
    }

    @Test(
        "table with free migration equals dag re-planned at every iteration, on sample models and the shipped traces",
        arguments: ["resnet50", "googlenet", "densenet121", "mobilenet_v2"])
    func tableEqualsEveryIterationDag(name: String) throws {
        let model = try Models.prepared(name)
        for kind in ["markov", "steps"] {
            let text = try String(contentsOf: packageRoot.appendingPathComponent("ops/traces/\(kind).csv"), encoding: .utf8)
            let trace = try NetworkTrace(csv: text, durationSeconds: 600)
            var free = SimulationSettings(batchSize: 32, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 2e13, replanEverySeconds: 1e-6)
            free.chargesMigration = false
            // With free moves and an unbounded horizon both policies take every better split at
            // every iteration; charged, both pay the same migrations at the same moments.
            for charged in [false, true] {
                var settings = free
                settings.chargesMigration = charged
                settings.switchingRule = SwitchingRule(horizonIterations: charged ? Int.max / 2 : 10)
                let report = try Simulator(model: model, trace: trace, settings: settings).run([.dag, .table])
                let dag = report.policies[0], table = report.policies[1]
                let label = "\(name) \(kind) charged \(charged)"
                #expect(dag.iterations == table.iterations, "\(label)")
                #expect(dag.planChanges == table.planChanges, "\(label)")
                #expect(relativeDifference(dag.meanDelaySeconds, table.meanDelaySeconds) <= 1e-9, "\(label)")
                #expect(relativeDifference(dag.migrationSeconds, table.migrationSeconds) <= 1e-9, "\(label)")
                if !charged { #expect(dag.migrationSeconds == 0) }
            }
        }
    }

    @Test("a zero horizon freezes the table policy on its first split, the one static plans")
    func zeroHorizon() throws {
        let model = try Models.prepared("resnet50")
        let trace = try SyntheticTrace.generate(
            .markov, seed: 7, durationSeconds: 600, baseUplinkBitsPerSecond: 1e8,
            baseDownlinkBitsPerSecond: 2e8, baseRTTSeconds: 0.01)
        let settings = SimulationSettings(
            batchSize: 32, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 2e13,
            switchingRule: SwitchingRule(horizonIterations: 0))
        let report = try Simulator(model: model, trace: trace, settings: settings).run([.table, .static, .dag])
        #expect(report.policies[0].planChanges == 0 && report.policies[0].migrationSeconds == 0)
        #expect(relativeDifference(report.policies[0].meanDelaySeconds, report.policies[1].meanDelaySeconds) <= 1e-9)
        #expect(report.policies[2].planChanges > 0 && report.policies[2].migrationSeconds > 0, "dag pays for its moves")
    }
}

/// Relative difference of two values.
func relativeDifference(_ a: Double, _ b: Double) -> Double {
    abs(a - b) / max(abs(a), abs(b), 1e-300)
}
