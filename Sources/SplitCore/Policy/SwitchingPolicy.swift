/// Which rule decides when a device leaves its split for a better one: the one decision every
/// place a split may change makes (the daemon's planning loop, the device client between table
/// pushes, the simulator's `daemon` and `table` policies).
///
/// Decisions are made over a plan table's segments: at the rates a device is planned for, each
/// segment `i` takes `segmentSeconds[i]` per iteration, moving there takes `migrationSeconds[i]`,
/// and the table's segment for the rates is `best`. The payback rule also needs the savings it
/// accrued (`SwitchingState`), folded in by `accrue` for the training done since the last decision.
public enum SwitchingPolicy: Sendable, Equatable, Hashable {
    /// Rent or buy (`PaybackRule`): move once the savings a better split would have earned since
    /// it became better pay for the move. The default.
    case payback(PaybackRule)
    /// The first rule (`SwitchingRule`): move when `horizon` iterations of the saving at the
    /// current rates pay for the move.
    case horizon(SwitchingRule)

    /// The default: the payback rule with θ = 1 and no minimum gain.
    public static let `default` = SwitchingPolicy.payback(PaybackRule())

    /// The rule's name in settings and reports: `payback` or `horizon`.
    public var name: String {
        switch self {
        case .payback: return "payback"
        case .horizon: return "horizon"
        }
    }

    /// The minimum gain of either rule.
    public var minimumRelativeGain: Double {
        switch self {
        case .payback(let rule): return rule.minimumRelativeGain
        case .horizon(let rule): return rule.minimumRelativeGain
        }
    }

    /// Throws `PlanningError.invalidParameter` naming the first bad value.
    public func validate() throws {
        switch self {
        case .payback(let rule): try rule.validate()
        case .horizon(let rule): try rule.validate()
        }
    }

    /// Folds `elapsedSeconds` of training with the current split into `state`: at the rates that
    /// held, the current split took `currentSeconds` per iteration and segment `i`
    /// `segmentSeconds[i]` (see `PaybackRule`). The horizon rule keeps no state. A state sized for
    /// another table restarts.
    public func accrue(_ state: inout SwitchingState, elapsedSeconds: Double, currentSeconds: Double, segmentSeconds: [Double]) {
        guard case .payback(let rule) = self else { return }
        if state.accruedSavingSeconds.count != segmentSeconds.count { state.reset(segments: segmentSeconds.count) }
        guard elapsedSeconds > 0 && elapsedSeconds.isFinite else { return }
        for (index, candidate) in segmentSeconds.enumerated() {
            let rate = rule.savingRate(currentSeconds: currentSeconds, candidateSeconds: candidate)
            state.accruedSavingSeconds[index] = max(0, state.accruedSavingSeconds[index] + elapsedSeconds * rate)
        }
    }

    /// The decision for a device running segment `current` (nil: its split is none of the table's)
    /// at `currentSeconds` per iteration, given each segment's delay and migration seconds at the
    /// same rates, the table's segment `best` for them and the accrued `state`.
    public func decide(
        state: SwitchingState, current: Int?, currentSeconds: Double, segmentSeconds: [Double], migrationSeconds: [Double], best: Int
    ) -> SwitchDecision {
        func decision(
            _ target: Int?, _ reason: SwitchDecision.Reason, candidate: Int, accrued: Double = 0, required: Double = 0, revisit: Double? = nil
        )
            -> SwitchDecision
        {
            SwitchDecision(
                target: target, reason: reason, candidate: candidate, currentSeconds: currentSeconds,
                candidateSeconds: segmentSeconds[candidate], migrationSeconds: migrationSeconds[candidate], accruedSavingSeconds: accrued,
                requiredSavingSeconds: required, revisitAfterSeconds: revisit)
        }
        if !currentSeconds.isFinite { return decision(best, .invalidated, candidate: best) }
        let bestSaving = currentSeconds - segmentSeconds[best]
        switch self {
        case .horizon(let rule):
            if best == current || !(bestSaving > 0) { return decision(nil, .best, candidate: best, required: migrationSeconds[best]) }
            if bestSaving < rule.minimumRelativeGain * currentSeconds {
                return decision(nil, .belowMinimumGain, candidate: best, required: migrationSeconds[best])
            }
            let moves = rule.shouldSwitch(
                currentSeconds: currentSeconds, candidateSeconds: segmentSeconds[best], migrationSeconds: migrationSeconds[best])
            return decision(moves ? best : nil, moves ? .paidFor : .horizonTooShort, candidate: best, required: migrationSeconds[best])
        case .payback(let rule):
            let accrued =
                state.accruedSavingSeconds.count == segmentSeconds.count
                ? state.accruedSavingSeconds : [Double](repeating: 0, count: segmentSeconds.count)
            var chosen: Int?
            for index in segmentSeconds.indices where index != current {
                guard rule.savingRate(currentSeconds: currentSeconds, candidateSeconds: segmentSeconds[index]) > 0,
                    accrued[index] >= rule.paybackFactor * migrationSeconds[index]
                else { continue }
                if let previous = chosen, segmentSeconds[previous] <= segmentSeconds[index] { continue }
                chosen = index
            }
            if let chosen {
                return decision(
                    chosen, .paidFor, candidate: chosen, accrued: accrued[chosen], required: rule.paybackFactor * migrationSeconds[chosen])
            }
            let required = rule.paybackFactor * migrationSeconds[best]
            if best == current || !(bestSaving > 0) { return decision(nil, .best, candidate: best, accrued: accrued[best], required: required) }
            let rate = rule.savingRate(currentSeconds: currentSeconds, candidateSeconds: segmentSeconds[best])
            guard rate > 0 else { return decision(nil, .belowMinimumGain, candidate: best, accrued: accrued[best], required: required) }
            return decision(
                nil, .notYetPaidFor, candidate: best, accrued: accrued[best], required: required,
                revisit: max(0, required - accrued[best]) / rate)
        }
    }
}

extension PlanTable {
    /// Every segment's predicted delay per iteration at these rates.
    public func segmentSeconds(uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double) -> [Double] {
        segments.map { $0.delaySeconds(uplinkBitsPerSecond: uplinkBitsPerSecond, downlinkBitsPerSecond: downlinkBitsPerSecond) }
    }

    /// `policy`'s decision for a device running segment `current` of this table at these rates,
    /// the migrations priced by `migrationSeconds(from, to)` (as a device holding the table decides).
    public func decide(
        current: Int, uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double, policy: SwitchingPolicy, state: SwitchingState,
        migrationSeconds: (Int, Int) -> Double
    ) -> SwitchDecision {
        let seconds = segmentSeconds(uplinkBitsPerSecond: uplinkBitsPerSecond, downlinkBitsPerSecond: downlinkBitsPerSecond)
        let best = segmentIndex(
            forEffectiveBitsPerSecond: Self.effectiveBitsPerSecond(
                uplinkBitsPerSecond: uplinkBitsPerSecond, downlinkBitsPerSecond: downlinkBitsPerSecond))
        return policy.decide(
            state: state, current: current, currentSeconds: seconds[current], segmentSeconds: seconds,
            migrationSeconds: seconds.indices.map { $0 == current ? 0 : migrationSeconds(current, $0) }, best: best)
    }

    /// Folds `elapsedSeconds` of training on segment `current` at these rates into `state`.
    public func accrue(
        _ state: inout SwitchingState, policy: SwitchingPolicy, current: Int, elapsedSeconds: Double, uplinkBitsPerSecond: Double,
        downlinkBitsPerSecond: Double
    ) {
        let seconds = segmentSeconds(uplinkBitsPerSecond: uplinkBitsPerSecond, downlinkBitsPerSecond: downlinkBitsPerSecond)
        policy.accrue(&state, elapsedSeconds: elapsedSeconds, currentSeconds: seconds[current], segmentSeconds: seconds)
    }
}

/// The JSON shape of a switching policy in settings and reports:
/// `{"rule": "payback", "payback_factor": 1, "minimum_relative_gain": 0}` or
/// `{"rule": "horizon", "horizon_iterations": 1, "minimum_relative_gain": 0}`.
extension SwitchingPolicy: Codable {
    enum CodingKeys: String, CodingKey {
        case rule
        case paybackFactor = "payback_factor"
        case horizonIterations = "horizon_iterations"
        case minimumRelativeGain = "minimum_relative_gain"
    }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let gain = try container.decodeIfPresent(Double.self, forKey: .minimumRelativeGain) ?? 0
        switch try container.decode(String.self, forKey: .rule) {
        case "payback":
            self = .payback(
                PaybackRule(
                    paybackFactor: try container.decodeIfPresent(Double.self, forKey: .paybackFactor) ?? PaybackRule.defaultPaybackFactor,
                    minimumRelativeGain: gain))
        case "horizon":
            self = .horizon(
                SwitchingRule(
                    horizonIterations: try container.decodeIfPresent(Int.self, forKey: .horizonIterations) ?? SwitchingRule.defaultHorizonIterations,
                    minimumRelativeGain: gain))
        case let other:
            throw DecodingError.dataCorruptedError(
                forKey: .rule, in: container, debugDescription: "unknown rule '\(other)'; expected payback or horizon")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .rule)
        switch self {
        case .payback(let rule): try container.encode(rule.paybackFactor, forKey: .paybackFactor)
        case .horizon(let rule): try container.encode(rule.horizonIterations, forKey: .horizonIterations)
        }
        try container.encode(minimumRelativeGain, forKey: .minimumRelativeGain)
    }
}
