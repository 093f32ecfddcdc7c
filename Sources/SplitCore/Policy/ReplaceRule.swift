/// Whether a freshly planned split replaces the split a device runs: the one rule the daemon's
/// fleet planner applies, written as a pure function so it can be tested (and simulated) without
/// a database.
///
/// A new split is taken when the device has none, when its current split became invalid (a new
/// model version, a device change that breaks it), or when it differs from the current split and
/// is predicted at least `minimumGain` (relative) faster than the current split priced under the
/// same, new conditions. The margin keeps a link that wobbles around a switching point from
/// flapping the split.
public struct ReplaceRule: Sendable, Equatable {
    /// Relative improvement a different split must bring (0.05: 5% faster).
    public var minimumGain: Double

    /// Creates the rule.
    public init(minimumGain: Double) { self.minimumGain = minimumGain }

    /// The split a device runs, as the rule sees it.
    public enum Current: Sendable, Equatable {
        /// The device has no plan yet.
        case none
        /// Its plan cannot be run any more (new model version, or the split broke a rule).
        case invalid
        /// Its plan, identified by its split's fingerprint, costs this much under the new conditions.
        case valid(fingerprint: String, delaySeconds: Double)
    }

    /// Whether the candidate split (its fingerprint and predicted delay) should replace `current`.
    public func replaces(_ current: Current, candidateFingerprint: String, candidateDelaySeconds: Double) -> Bool {
        switch current {
        case .none, .invalid:
            return true
        case let .valid(fingerprint, delaySeconds):
            guard fingerprint != candidateFingerprint else { return false }
            guard delaySeconds.isFinite else { return true }
            return delaySeconds - candidateDelaySeconds >= minimumGain * delaySeconds
        }
    }
}
