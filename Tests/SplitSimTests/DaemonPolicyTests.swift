import Foundation
import SplitCore
import Testing

@testable import SplitSim

@Suite("The daemon policy: the daemon's pipeline, simulated exactly")
struct DaemonPolicyTests {
    /// 100 s at 1 Gbit/s both ways, then 200 s at 50 Mbit/s; no rtt.
    static func stepTrace() throws -> NetworkTrace {
        try NetworkTrace(
            samples: [
                .init(timeSeconds: 0, uplinkBitsPerSecond: 1e9, downlinkBitsPerSecond: 1e9, rttSeconds: 0),
                .init(timeSeconds: 100, uplinkBitsPerSecond: 5e7, downlinkBitsPerSecond: 5e7, rttSeconds: 0),
            ], durationSeconds: 300)
    }

    static func settings(_ daemon: DevicePlanningSettings) -> SimulationSettings {
        var settings = SimulationSettings(
            batchSize: 1, deviceFLOPsPerSecond: 1e10, serverFLOPsPerSecond: 1e12, defaultRTTSeconds: 0, optimizer: .momentum)
        settings.daemon = daemon
        return settings
    }

    static func daemon(_ switching: SwitchingPolicy, push: PushMode, tau: Double = 10) -> DevicePlanningSettings {
        DevicePlanningSettings(
            estimator: LinkEstimator(mean: .arithmetic, timeConstantSeconds: tau), thresholds: ReplanThresholds(), switching: switching,
            pushMode: push)
    }

    @Test("after the link slows, the payback rule moves m to the device once; the horizon rule of 1 iteration refuses, and says so")
    func paybackMovesHorizonRefuses() throws {
        // At 50 Mbit/s, m on the server takes 0.002 + 8·1e6·2/5e7 = 0.322 s per iteration and m on
        // the device 0.101 + 8·1e3·2/5e7 = 0.10132 s: 0.22 s saved per iteration, against 0.32 s
        // to bring m's weights and momentum (2 MB) down. One iteration's saving never pays for it.
        let model = try SimulatorMigrationTests.model()
        for push in PushMode.allCases {
            let payback = try Simulator(model: model, trace: Self.stepTrace(), settings: Self.settings(Self.daemon(.default, push: push))).run([
                .daemon
            ])
            let moved = try #require(payback.result(.daemon))
            #expect(moved.planChanges == 1, "\(push)")
            #expect(abs(moved.migrationBytes - 2e6) < 1e-6)
            #expect(moved.ratioToHindsight! < 1.1, "\(push): \(moved.ratioToHindsight!)")
            let horizon = try Simulator(
                model: model, trace: Self.stepTrace(), settings: Self.settings(Self.daemon(.horizon(SwitchingRule(horizonIterations: 1)), push: push))
            ).run([.daemon])
            let refused = try #require(horizon.result(.daemon))
            #expect(refused.planChanges == 0, "\(push)")
            #expect((refused.refusedMoves ?? 0) >= 1, "every refusal of the better split is counted")
            #expect(refused.meanDelaySeconds > moved.meanDelaySeconds)
        }
    }

    /// The telemetry sample a device measures over the interval ending at `time`.
    static func sample(_ timeline: LinkTimeline, at time: Double, interval: Double) -> TelemetrySample {
        let rates = timeline.meanRates(from: max(timeline.start, time - interval), to: max(timeline.start + interval, time))
        return TelemetrySample(
            deviceID: "replay", measuredAt: Date(timeIntervalSinceReferenceDate: time), uplinkBitsPerSecond: rates.uplinkBitsPerSecond,
            downlinkBitsPerSecond: rates.downlinkBitsPerSecond, rttSeconds: timeline.rttSeconds)
    }

    /// Replays the documented pipeline by hand from the simulation's own iteration boundaries and
    /// checks that each iteration ran the split the pipeline chose.
    static func replay(_ daemon: DevicePlanningSettings, model: PreparedModel, trace: NetworkTrace) throws -> Int {
        let settings = Self.settings(daemon)
        let simulator = try Simulator(model: model, trace: trace, settings: settings)
        let result = try #require(try simulator.run([.daemon]).result(.daemon))
        let simulated = try simulator.daemonTable()
        // The daemon's table: the block planner at rtt 0.
        var compute = ComputeConditions(batchSize: 1, deviceFLOPsPerSecond: 1e10, serverFLOPsPerSecond: 1e12, rttSeconds: 0)
        compute.optimizer = .momentum
        let table = try PlanTable.compute(model: model, conditions: compute, algorithm: .block)
        #expect(table.segments == simulated.table.segments)
        let timeline = try LinkTimeline(trace, defaultRTTSeconds: 0)
        let interval = settings.telemetryEverySeconds
        func migration(_ from: Int, _ to: Int) -> SplitMigration {
            SplitMigration(
                from: table.segments[from].onDevice(layerCount: model.graph.count), to: table.segments[to].onDevice(layerCount: model.graph.count),
                graph: model.graph, optimizer: .momentum)
        }
        var state = DevicePlanningState()
        _ = daemon.ingest(Self.sample(timeline, at: interval, interval: interval), state: &state, registeredFLOPs: 1e10)
        var segment = try #require(
            daemon.evaluate(table: table, current: .none, now: Date(timeIntervalSinceReferenceDate: 0), state: &state) { _, _, _ in 0 }.target)
        var deviceState = SwitchingState(segments: table.segments.count)
        var pending: Int?
        var nextTelemetry = 2 * interval
        var moves = 0
        #expect(result.iterationSplits.first == simulated.splits[segment])
        for index in 1..<result.iterationSplits.count {
            let boundary = result.iterationStartSeconds[index]
            let previous = index - 1
            let ranSegment = try #require(simulated.splits.firstIndex(of: result.iterationSplits[previous]))
            let migrated = previous > 0 && result.iterationSplits[previous] != result.iterationSplits[previous - 1]
            let fromSegment = migrated ? try #require(simulated.splits.firstIndex(of: result.iterationSplits[previous - 1])) : ranSegment
            let migrationSeconds =
                timeline.migrationEnd(migration(fromSegment, ranSegment), from: result.iterationStartSeconds[previous])
                - result.iterationStartSeconds[previous]
            while nextTelemetry <= boundary {
                let trigger = daemon.ingest(Self.sample(timeline, at: nextTelemetry, interval: interval), state: &state, registeredFLOPs: 1e10)
                if daemon.pushMode == .split, trigger != nil {
                    let decision = daemon.evaluate(
                        table: table, current: .segment(segment), now: Date(timeIntervalSinceReferenceDate: nextTelemetry), state: &state
                    ) { to, up, down in migration(segment, to).seconds(uplinkBitsPerSecond: up, downlinkBitsPerSecond: down) }
                    if let target = decision.target {
                        segment = target
                        pending = target
                    }
                }
                nextTelemetry += interval
            }
            if daemon.pushMode == .table {
                let decision = daemon.decideOnDevice(
                    table: table, current: segment, elapsedSeconds: result.iterationDelaySeconds[previous] - migrationSeconds,
                    estimate: try #require(state.estimate), state: &deviceState
                ) { to, up, down in migration(segment, to).seconds(uplinkBitsPerSecond: up, downlinkBitsPerSecond: down) }
                if let target = decision.target { segment = target }
            } else if pending != nil {
                pending = nil
            }
            if result.iterationSplits[index] != result.iterationSplits[previous] { moves += 1 }
            #expect(result.iterationSplits[index] == simulated.splits[segment], "iteration \(index) at \(boundary) s")
        }
        return moves
    }

    @Test("each iteration runs the split the documented pipeline chooses, replayed by hand: table and split devices, payback and horizon rules")
    func replaysThePipeline() throws {
        let model = try SimulatorMigrationTests.model()
        // A link that falls and recovers: 60 s fast, 90 s at 50 Mbit/s, 60 s fast, 90 s slow.
        var samples: [NetworkTrace.Sample] = []
        for (index, rate) in [1e9, 5e7, 1e9, 5e7].enumerated() {
            samples.append(.init(timeSeconds: [0.0, 60, 150, 210][index], uplinkBitsPerSecond: rate, downlinkBitsPerSecond: rate, rttSeconds: 0))
        }
        let trace = try NetworkTrace(samples: samples, durationSeconds: 300)
        var totalMoves = 0
        for push in PushMode.allCases {
            for switching in [SwitchingPolicy.default, .payback(PaybackRule(paybackFactor: 2)), .horizon(SwitchingRule(horizonIterations: 10))] {
                totalMoves += try Self.replay(Self.daemon(switching, push: push, tau: 5), model: model, trace: trace)
            }
        }
        #expect(totalMoves >= 6, "the replays include moves")
    }
}
