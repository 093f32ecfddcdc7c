/// When to move from the split in use to a better one, given that moving costs migration time.
///
/// The one rule for every place a split may change: the simulator's `table` policy, the daemon's
/// replace decision and the device-side client (`python/splitd/client/table.py` implements the same
/// function; `python/tests/switching_cases.json` holds cases both test suites check). With `current`
/// and `candidate` the predicted delays of one iteration of each split at the rates now in
/// effect, and `migration` the seconds the move takes at those rates (`SplitMigration`):
///
/// 1. the current split is invalidated (a new model version, a device change that breaks it,
///    or its delay is not finite) → switch, whatever the cost;
/// 2. otherwise let `saving = current − candidate`; switch only if `saving > 0`,
///    `saving ≥ minimumRelativeGain · current`, and `horizonIterations · saving > migration`:
///    the time saved over the next `horizonIterations` iterations, were the rates to stay as they
///    are, must pay for the move.
///
/// A candidate equal to the current split saves nothing and never switches; a move of
/// parameter-free layers (migration 0) switches on any positive saving above the minimum gain.
public struct SwitchingRule: Sendable, Equatable, Hashable {
    /// Iterations over which a saving must pay back the migration.
    public var horizonIterations: Int
    /// Smallest saving worth a switch, relative to the current delay (0 = any saving).
    public var minimumRelativeGain: Double

    /// Default horizon: 1 iteration. A move is made only when it pays for itself within the
    /// first iteration with the new split, so no switch makes the next iteration slower than
    /// staying would at the current rates. Longer horizons trust the current rates for longer:
    /// they win when rates hold for many iterations and lose badly when they flip within one
    /// (README "Switching costs" measures both).
    public static let defaultHorizonIterations = 1

    /// Creates a rule.
    public init(horizonIterations: Int = SwitchingRule.defaultHorizonIterations, minimumRelativeGain: Double = 0) {
        self.horizonIterations = horizonIterations
        self.minimumRelativeGain = minimumRelativeGain
    }

    /// Throws `PlanningError.invalidParameter` for a negative horizon or a gain outside [0, 1).
    public func validate() throws {
        guard horizonIterations >= 0 else {
            throw PlanningError.invalidParameter(.switchHorizon, reason: "must be an integer >= 0 iterations, got \(horizonIterations)")
        }
        guard minimumRelativeGain >= 0 && minimumRelativeGain < 1 else {
            throw PlanningError.invalidParameter(.minimumGain, reason: "must be a number in [0, 1), got \(minimumRelativeGain)")
        }
    }

    /// Whether to move from the current split (`currentSeconds` per iteration now) to the
    /// candidate (`candidateSeconds`), the move taking `migrationSeconds`.
    public func shouldSwitch(
        currentSeconds: Double, candidateSeconds: Double, migrationSeconds: Double,
        currentInvalidated: Bool = false
    ) -> Bool {
        if currentInvalidated || !currentSeconds.isFinite { return true }
        let saving = currentSeconds - candidateSeconds
        guard saving > 0, saving >= minimumRelativeGain * currentSeconds else { return false }
        return Double(horizonIterations) * saving > migrationSeconds
    }
}
