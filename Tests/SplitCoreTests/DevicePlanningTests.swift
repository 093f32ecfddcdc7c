import Foundation
import Testing

@testable import SplitCore

@Suite("DevicePlanning: the daemon's per-device decisions as pure functions")
struct DevicePlanningTests {
    /// A table of two segments: segment 0 (C = 10 s, 1 kB) below R = 8 Mbit/s... see `table()`.
    /// Segment 0: fixed 10 s, 1,000 bytes; segment 1: fixed 2 s, 1 MB. Breakpoint where
    /// 10 + 8e3/R = 2 + 8e6/R: R = 8e6 − 8e3 ≈ 0.999 Mbit/s effective.
    static func table() -> PlanTable {
        let breakpoint = (8e6 - 8e3) / 8
        return PlanTable(
            conditions: ComputeConditions(batchSize: 1, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 2e13),
            segments: [
                PlanTable.Segment(
                    minEffectiveBitsPerSecond: 0, maxEffectiveBitsPerSecond: breakpoint, deviceLayers: [0, 1, 2], cutLayers: [2],
                    transferBytes: 1_000,
                    fixedSeconds: 10),
                PlanTable.Segment(
                    minEffectiveBitsPerSecond: breakpoint, maxEffectiveBitsPerSecond: nil, deviceLayers: [0], cutLayers: [0], transferBytes: 1e6,
                    fixedSeconds: 2),
            ], plannerCalls: 0)
    }

    static func sample(_ at: Double, _ rate: Double) -> TelemetrySample {
        TelemetrySample(
            deviceID: "d", measuredAt: Date(timeIntervalSinceReferenceDate: at), uplinkBitsPerSecond: rate, downlinkBitsPerSecond: rate,
            rttSeconds: 0)
    }

    static let settings = DevicePlanningSettings(
        estimator: LinkEstimator(mean: .arithmetic, timeConstantSeconds: 0), thresholds: ReplanThresholds(),
        switching: .payback(PaybackRule(paybackFactor: 1)), pushMode: .split)

    /// Moving between the segments takes 100 s at any rate.
    static func migration(_ to: Int, _ up: Double, _ down: Double) -> Double { 100 }

    @Test("ingest: the first sample asks for a plan; then only a move beyond the thresholds, a memory change or a due revisit")
    func ingestTriggers() {
        var state = DevicePlanningState()
        #expect(Self.settings.ingest(Self.sample(0, 10e6), state: &state, registeredFLOPs: 1e11) == .firstLink)
        state.evaluated = state.estimate
        #expect(Self.settings.ingest(Self.sample(1, 10.5e6), state: &state, registeredFLOPs: 1e11) == nil)
        #expect(Self.settings.ingest(Self.sample(2, 12e6), state: &state, registeredFLOPs: 1e11) == .linkMoved)
        state.evaluated = state.estimate
        state.revisitAt = Date(timeIntervalSinceReferenceDate: 10)
        #expect(Self.settings.ingest(Self.sample(9, 12e6), state: &state, registeredFLOPs: 1e11) == nil)
        #expect(Self.settings.ingest(Self.sample(10, 12e6), state: &state, registeredFLOPs: 1e11) == .revisit)
        var memory = Self.sample(11, 12e6)
        memory.memoryBytes = 2e9
        #expect(Self.settings.ingest(memory, state: &state, registeredFLOPs: 1e11) == .memoryMoved)
    }

    @Test("evaluate: a first plan, a refusal with its saving, migration and revisit time, then the move once the training since pays")
    func evaluateAccruesAndMoves() {
        let table = Self.table()
        var state = DevicePlanningState()
        // A slow link (100 kbit/s): segment 0 is best (10.16 s against 162 s). First plan: free.
        _ = Self.settings.ingest(Self.sample(0, 1e5), state: &state, registeredFLOPs: 1e11)
        let first = Self.settings.evaluate(
            table: table, current: .none, now: Date(timeIntervalSinceReferenceDate: 0), state: &state, migrationSeconds: Self.migration)
        #expect(first.target == 0 && first.reason == .firstPlan && first.migrationSeconds == 0)
        // The link becomes fast (16 Mbit/s): segment 0 takes 10 + 8e3·2/16e6 = 10.001 s, segment 1
        // 2 + 8e6·2/16e6 = 3 s. Nothing accrued yet (the time since was at the slow rates): refused.
        _ = Self.settings.ingest(Self.sample(50, 16e6), state: &state, registeredFLOPs: 1e11)
        let refused = Self.settings.evaluate(
            table: table, current: .segment(0), now: Date(timeIntervalSinceReferenceDate: 50), state: &state, migrationSeconds: Self.migration)
        #expect(refused.target == nil && refused.reason == .notYetPaidFor && refused.isRefusal)
        #expect(abs(refused.savingSecondsPerIteration - 7.001) < 1e-12 && refused.migrationSeconds == 100 && refused.accruedSavingSeconds == 0)
        // 100 s of savings at 7.001 s per 10.001 s of training: 100 · 10.001 / 7.001 s away.
        let revisit = 100 * 10.001 / 7.001
        #expect(abs(refused.revisitAfterSeconds! - revisit) < 1e-9)
        #expect(abs(state.revisitAt!.timeIntervalSinceReferenceDate - (50 + revisit)) < 1e-6)
        // The revisit comes: the training since, at the rates evaluated, accrued the migration's worth.
        #expect(Self.settings.ingest(Self.sample(50 + revisit + 0.5, 16e6), state: &state, registeredFLOPs: 1e11) == .revisit)
        let moved = Self.settings.evaluate(
            table: table, current: .segment(0), now: Date(timeIntervalSinceReferenceDate: 50 + revisit + 0.5), state: &state,
            migrationSeconds: Self.migration)
        #expect(moved.target == 1 && moved.reason == .paidFor && moved.accruedSavingSeconds >= 100)
        #expect(state.switching.accruedSavingSeconds == [0, 0] && state.revisitAt == nil)
    }

    @Test("a device holding its table decides by itself at every iteration: the same rule, its own estimate")
    func onDevice() {
        let table = Self.table()
        let estimate = LinkEstimate(
            deviceID: "d", uplinkBitsPerSecond: 16e6, downlinkBitsPerSecond: 16e6, rttSeconds: 0, computeFLOPs: nil, samples: 1, measuredAt: Date())
        var state = SwitchingState(segments: 2)
        var iterations = 0
        var decision = SwitchDecision(target: nil, reason: .best, candidate: 0, currentSeconds: 0, candidateSeconds: 0, migrationSeconds: 0)
        // Each iteration of segment 0 (10.001 s) accrues 7.001 s; 100 s need 15 iterations.
        while decision.target == nil && iterations < 100 {
            decision = Self.settings.decideOnDevice(
                table: table, current: 0, elapsedSeconds: 10.001, estimate: estimate, state: &state, migrationSeconds: Self.migration)
            iterations += 1
        }
        #expect(iterations == Int((100 / 7.001).rounded(.up)) && decision.target == 1)
        #expect(state.accruedSavingSeconds == [0, 0])
    }

    @Test("an invalidated split is left at once; a split none of the table's is priced by its cost")
    func currentSplits() {
        let table = Self.table()
        var state = DevicePlanningState()
        _ = Self.settings.ingest(Self.sample(0, 16e6), state: &state, registeredFLOPs: 1e11)
        state.evaluated = state.estimate
        state.evaluatedAt = Date(timeIntervalSinceReferenceDate: 0)
        var copy = state
        let invalidated = Self.settings.evaluate(
            table: table, current: .invalidated, now: Date(timeIntervalSinceReferenceDate: 1), state: &copy, migrationSeconds: Self.migration)
        #expect(invalidated.target == 1 && invalidated.reason == .invalidated)
        // A split that costs 2.5 s + 0.5 MB is better than either segment at 16 Mbit/s (3 s): stay.
        copy = state
        let other = Self.settings.evaluate(
            table: table, current: .other(SplitCost(computeSeconds: 2.5, transferBytes: 0.1e6)), now: Date(timeIntervalSinceReferenceDate: 1),
            state: &copy,
            migrationSeconds: Self.migration)
        #expect(other.target == nil && other.reason == .best && abs(other.currentSeconds - 2.6) < 1e-12)
    }

    @Test("store and push: the daemon's rule for table and split devices, every combination")
    func delivery() {
        for mode in PushMode.allCases {
            for switched in [false, true] {
                for tableChanged in [false, true] {
                    let decision = PlanDelivery.decide(pushMode: mode, switched: switched, tableChanged: tableChanged)
                    // A table device learns of a new table only by a push and switches by itself;
                    // a split device learns of a new split only by a push.
                    let mustKnow = mode == .table ? tableChanged : switched
                    #expect(decision.push == mustKnow)
                    #expect(decision.store == (switched || (mode == .table && tableChanged)))
                    #expect(!decision.push || decision.store)
                }
            }
        }
    }
}
