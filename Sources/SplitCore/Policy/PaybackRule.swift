/// The rent-or-buy switching rule: move to a better split once the time it *would have saved*
/// since it became better pays for the move.
///
/// For every table segment `i` the rule keeps `accrued[i]`, seconds of training it would have
/// saved against the split in use (`SwitchingState`). Over `Δt` seconds of training with the
/// current split taking `c` seconds per iteration and segment `i` taking `d_i` (both at the rates
/// that held), about `Δt / c` iterations ran, so
///
///     accrued[i] ← max(0, accrued[i] + (Δt / c) · (c − d_i − g·c))
///
/// (Page's CUSUM of the per-iteration saving, with the minimum gain `g` as its allowance: a
/// saving below `g·c` per iteration counts against the candidate, and the sum restarts from 0
/// when the candidate stops being better). With `m_i` the seconds the move to `i` takes now,
/// the rule moves when some segment is better now by more than the allowance (`d_i < (1 − g)·c`)
/// and `accrued[i] ≥ θ·m_i`, to the fastest such segment; all accrued savings restart at 0 after
/// a move. θ (`paybackFactor`) is 1 by default: buy when the rent paid equals the price.
///
/// **Guarantee** (docs/switching.md proves it): with two splits, a migration of fixed cost and
/// iterations whose cost is at most L, the rule's total time is at most
/// `max(1, θ)·OPT + 2(1 + θ)/min(1, θ)·OPT` plus terms in L and one migration, against the best
/// schedule in hindsight (OPT): 5·OPT at θ = 1. Every move is paid for by the rule's own
/// excess: the migrations it makes total at most 1/θ of the time its splits were slower than the
/// ones it moved to. The horizon rule (`SwitchingRule`) has neither property.
public struct PaybackRule: Sendable, Equatable, Hashable {
    /// θ: accrued savings must reach θ × the migration seconds.
    public var paybackFactor: Double
    /// g: per-iteration savings below g × the current delay do not count (the CUSUM allowance).
    public var minimumRelativeGain: Double

    /// The default θ: move when the savings equal the migration.
    public static let defaultPaybackFactor = 1.0

    /// Creates a rule.
    public init(paybackFactor: Double = PaybackRule.defaultPaybackFactor, minimumRelativeGain: Double = 0) {
        self.paybackFactor = paybackFactor
        self.minimumRelativeGain = minimumRelativeGain
    }

    /// Throws `PlanningError.invalidParameter` for θ negative or not finite, or g outside [0, 1).
    public func validate() throws {
        guard paybackFactor.isFinite && paybackFactor >= 0 else {
            throw PlanningError.invalidParameter(.paybackFactor, reason: "must be a number >= 0, got \(paybackFactor)")
        }
        guard minimumRelativeGain >= 0 && minimumRelativeGain < 1 else {
            throw PlanningError.invalidParameter(.minimumGain, reason: "must be a number in [0, 1), got \(minimumRelativeGain)")
        }
    }

    /// The saving rate of a candidate against the current split that the rule accrues: seconds
    /// saved per second of training, `(c − d − g·c) / c` (negative when it is not better by the
    /// allowance; `0` when the current delay is not a positive finite number).
    public func savingRate(currentSeconds: Double, candidateSeconds: Double) -> Double {
        guard currentSeconds.isFinite && currentSeconds > 0 && candidateSeconds.isFinite else { return 0 }
        return (currentSeconds - candidateSeconds - minimumRelativeGain * currentSeconds) / currentSeconds
    }
}
