/// What a switching policy decided for one device at one moment, and why: the record the daemon
/// keeps of every move and of every refusal of a better split (saving per iteration, migration
/// seconds and the rule's reason), and what the simulator counts.
public struct SwitchDecision: Sendable, Equatable {
    /// Why the device moves or stays.
    public enum Reason: String, Sendable, CaseIterable, Codable {
        /// The device's first plan: the table's split for its link, nothing to migrate.
        case firstPlan = "first plan"
        /// The current split cannot run (invalidated, or its delay is not finite): move whatever the cost.
        case invalidated
        /// The move pays for itself under the rule: accrued savings reached θ × migration
        /// (payback), or the horizon's savings beat the migration (horizon).
        case paidFor = "paid for"
        /// Stay: the current split is the best at these rates (nothing is refused).
        case best
        /// Refused: the better split saves less per iteration than the minimum gain.
        case belowMinimumGain = "below minimum gain"
        /// Refused (payback): the savings accrued since the candidate became better do not yet pay
        /// for the migration (`revisitAfterSeconds` says when they would, at these rates).
        case notYetPaidFor = "not yet paid for"
        /// Refused (horizon): the horizon's savings at these rates do not pay for the migration.
        case horizonTooShort = "horizon too short"
    }

    /// The table segment to run next: the candidate when moving, nil when staying.
    public var target: Int?
    /// Why.
    public var reason: Reason
    /// The table's segment for the rates (the best split now), the one moved to or refused.
    public var candidate: Int
    /// The current split's predicted delay per iteration at the rates, seconds (∞ when invalidated).
    public var currentSeconds: Double
    /// The candidate's predicted delay per iteration at the rates, seconds.
    public var candidateSeconds: Double
    /// Seconds moving to the candidate (or to the target) takes at the rates.
    public var migrationSeconds: Double
    /// Savings accrued towards the candidate so far, seconds (payback; 0 for the horizon rule).
    public var accruedSavingSeconds: Double
    /// The savings the rule asks for before moving, seconds (θ × migration for payback; the
    /// migration for the horizon rule, which compares it with horizon × saving).
    public var requiredSavingSeconds: Double
    /// When staying while a better split accrues savings: seconds of training until they would pay
    /// for the move at these rates (payback only); the daemon re-evaluates the device then.
    public var revisitAfterSeconds: Double?

    /// Creates a decision.
    public init(
        target: Int?, reason: Reason, candidate: Int, currentSeconds: Double, candidateSeconds: Double, migrationSeconds: Double,
        accruedSavingSeconds: Double = 0, requiredSavingSeconds: Double = 0, revisitAfterSeconds: Double? = nil
    ) {
        self.target = target
        self.reason = reason
        self.candidate = candidate
        self.currentSeconds = currentSeconds
        self.candidateSeconds = candidateSeconds
        self.migrationSeconds = migrationSeconds
        self.accruedSavingSeconds = accruedSavingSeconds
        self.requiredSavingSeconds = requiredSavingSeconds
        self.revisitAfterSeconds = revisitAfterSeconds
    }

    /// Whether the device moves.
    public var moves: Bool { target != nil }
    /// Saving per iteration of the candidate against the current split at the rates, seconds.
    public var savingSecondsPerIteration: Double { currentSeconds - candidateSeconds }
    /// Whether a better split was refused (what the daemon records as a refused move).
    public var isRefusal: Bool { target == nil && reason != .best }
}

/// The state a switching policy keeps per device between decisions: per table segment, the
/// training seconds it would have saved since it became better than the split in use (the
/// payback rule's CUSUM; the horizon rule keeps nothing). A few numbers per device: the daemon
/// stores them with its planning state, the device client in memory. Restart it (`reset`) after a
/// move and whenever the table changes.
public struct SwitchingState: Sendable, Equatable, Codable {
    /// Seconds saved, by segment index of the table in use.
    public var accruedSavingSeconds: [Double]

    /// A fresh state for a table of `segments` segments.
    public init(segments: Int) { accruedSavingSeconds = [Double](repeating: 0, count: max(0, segments)) }

    /// A state with these accrued savings.
    public init(accruedSavingSeconds: [Double]) { self.accruedSavingSeconds = accruedSavingSeconds }

    /// Restarts every accrued saving at 0 for a table of `segments` segments.
    public mutating func reset(segments: Int) { self = SwitchingState(segments: segments) }

    enum CodingKeys: String, CodingKey { case accruedSavingSeconds = "accrued_saving_seconds" }
}
