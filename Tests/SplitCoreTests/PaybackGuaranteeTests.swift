import Foundation
import Testing

@testable import SplitCore

/// The payback rule's worst-case guarantee (docs/switching.md), checked in the model its proof
/// uses: steps (iterations) whose cost in each split is revealed after the step, a migration of
/// fixed cost d between two splits, the rule deciding after each step, against the best schedule
/// in hindsight computed exactly by dynamic programming.
@Suite("The payback rule's guarantee against hindsight, on random traces")
struct PaybackGuaranteeTests {
    /// Costs per step from a random link: split s costs C_s + X_s·u_t, u_t (seconds per unit of
    /// data) a regime-switching random walk in log space, as real links are.
    static func costs(seed: UInt64, steps: Int, splits: Int) -> [[Double]] {
        var random = SplitMix64.property(seed: seed)
        let fixed = (0..<splits).map { Double(splits - $0) * Double.random(in: 0.5...2, using: &random) }
        let transfer = (0..<splits).map { Double($0) * Double.random(in: 0.5...2, using: &random) }
        var level = Double.random(in: -1...1, using: &random)
        let stay = Double.random(in: 0.7...0.99, using: &random)
        return (0..<steps).map { _ in
            if Double.random(in: 0..<1, using: &random) > stay { level = Double.random(in: -2...2, using: &random) }
            let u = exp(level + 0.3 * Double.random(in: -1...1, using: &random))
            return (0..<splits).map { fixed[$0] + transfer[$0] * u }
        }
    }

    /// The rule run on `costs`: pays each step in its split, then accrues that step and decides;
    /// returns the total and, per move, the migration and the running cost of the phase it ends.
    static func run(
        _ costs: [[Double]], migration: [[Double]], theta: Double, start: Int
    ) -> (total: Double, moves: [(migration: Double, phase: Double)]) {
        let policy = SwitchingPolicy.payback(PaybackRule(paybackFactor: theta))
        var current = start, total = 0.0, phase = 0.0
        var state = SwitchingState(segments: costs[0].count)
        var moves: [(Double, Double)] = []
        for step in costs {
            total += step[current]
            phase += step[current]
            // One iteration ran: elapsed = its cost, so the accrual is c(x) − c(y) per split.
            policy.accrue(&state, elapsedSeconds: step[current], currentSeconds: step[current], segmentSeconds: step)
            let best = step.indices.min { step[$0] < step[$1] }!
            let decision = policy.decide(
                state: state, current: current, currentSeconds: step[current], segmentSeconds: step, migrationSeconds: migration[current], best: best)
            if let target = decision.target {
                total += migration[current][target]
                moves.append((migration[current][target], phase))
                current = target
                phase = 0
                state.reset(segments: step.count)
            }
        }
        return (total, moves)
    }

    /// The best schedule in hindsight: any start, moves between steps (dynamic programming).
    static func optimal(_ costs: [[Double]], migration: [[Double]]) -> Double {
        var best = costs[0]
        for step in costs.dropFirst() {
            best = step.indices.map { target in step[target] + best.indices.map { best[$0] + migration[$0][target] }.min()! }
        }
        return best.min()!
    }

    /// The proven bound for two splits: ALG ≤ ρ·OPT + 2((1+θ)d + L) with
    /// ρ = max(1, θ) + 2(1+θ)/min(1, θ) + 2L/(min(1, θ)·d).
    static func bound(optimal: Double, theta: Double, migration d: Double, largestStep: Double) -> Double {
        let rho = max(1, theta) + 2 * (1 + theta) / min(1, theta) + 2 * largestStep / (min(1, theta) * d)
        return rho * optimal + 2 * ((1 + theta) * d + largestStep)
    }

    @Test("two splits: the rule's total is within the proven bound of hindsight on 3,000 random traces, for θ from 0.5 to 3")
    func twoSplitBound() {
        var worst = 0.0
        for seed in UInt64(1)...3_000 {
            let costs = Self.costs(seed: seed, steps: 50 + Int(seed % 400), splits: 2)
            var random = SplitMix64.property(seed: seed &* 31)
            let d = Double.random(in: 0.5...40, using: &random)
            let theta = [0.5, 1, 2, 3][Int(seed % 4)]
            let migration = [[0, d], [d, 0]]
            let alg = Self.run(costs, migration: migration, theta: theta, start: Int(seed % 2)).total
            let opt = Self.optimal(costs, migration: migration)
            let largest = costs.map { $0.max()! }.max()!
            #expect(alg <= Self.bound(optimal: opt, theta: theta, migration: d, largestStep: largest) * (1 + 1e-12), "seed \(seed)")
            #expect(opt <= alg * (1 + 1e-12), "hindsight is a lower bound")
            worst = max(worst, alg / opt)
        }
        #expect(worst > 1.05, "the traces make the rule pay for not knowing the future")
    }

    @Test("the bound is not vacuous: the alternating adversary makes θ = 1 pay close to 4 × hindsight")
    func alternatingAdversary() {
        // Split 1 costs ε more than split 0 for d/ε steps, then the other way round, and so on:
        // the rule accrues d, moves (d), and the costs flip; hindsight stays put and pays d per
        // two phases, the rule 4d.
        let d = 10.0, epsilon = 0.01
        var costs: [[Double]] = []
        for phase in 0..<40 {
            for _ in 0...Int(d / epsilon) { costs.append(phase % 2 == 0 ? [epsilon, 0] : [0, epsilon]) }
        }
        let alg = Self.run(costs, migration: [[0, d], [d, 0]], theta: 1, start: 0).total
        let opt = Self.optimal(costs, migration: [[0, d], [d, 0]])
        #expect(alg / opt > 3.5 && alg / opt < 4.5, "\(alg / opt)")
        #expect(alg <= Self.bound(optimal: opt, theta: 1, migration: d, largestStep: epsilon))
    }

    @Test("any number of splits: every migration the rule makes is at most 1/θ of the phase it ends, on 2,000 random traces")
    func movesArePaidFor() {
        var moves = 0
        for seed in UInt64(1)...2_000 {
            let splits = 2 + Int(seed % 5)
            let costs = Self.costs(seed: seed, steps: 300, splits: splits)
            var random = SplitMix64.property(seed: seed &* 7)
            // Migrations from nested splits: moving between i and j carries the layers between them.
            let sizes = (0..<splits).map { _ in Double.random(in: 0.5...10, using: &random) }
            let migration = (0..<splits).map { from in (0..<splits).map { to in sizes[min(from, to)..<max(from, to)].reduce(0, +) } }
            let theta = [0.5, 1, 2][Int(seed % 3)]
            for move in Self.run(costs, migration: migration, theta: theta, start: 0).moves {
                #expect(move.migration <= move.phase / theta * (1 + 1e-12), "seed \(seed)")
                moves += 1
            }
        }
        #expect(moves > 500)
    }
}
