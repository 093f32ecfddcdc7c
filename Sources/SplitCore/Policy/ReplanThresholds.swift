import Foundation

/// When a link has "moved" enough since a device was last evaluated to plan it again: a rate or
/// the device's throughput changed by more than a relative amount (in either direction: a
/// factor of 1 + r up or down), or the RTT by more than an absolute amount.
///
/// Ingest (`TelemetryRepository.ingest`), the in-process stores and the tests all use this rule.
public struct ReplanThresholds: Sendable, Equatable, Hashable {
    /// Relative change of either rate that counts as a move (0.1: ×1.1 or ÷1.1).
    public var relativeRateChange: Double
    /// Absolute RTT change that counts as a move, seconds.
    public var rttChangeSeconds: Double
    /// Relative change of the measured device throughput that counts as a move.
    public var relativeComputeChange: Double
    /// Relative change of the reported available memory that counts as a move.
    public var relativeMemoryChange: Double = 0.1

    public init(relativeRateChange: Double = 0.1, rttChangeSeconds: Double = 0.005, relativeComputeChange: Double = 0.1) {
        self.relativeRateChange = relativeRateChange
        self.rttChangeSeconds = rttChangeSeconds
        self.relativeComputeChange = relativeComputeChange
    }

    /// Whether `estimate` moved beyond the thresholds from what was last evaluated.
    public func moved(from evaluated: LinkEstimate, to estimate: LinkEstimate, registeredFLOPs: Double) -> Bool {
        Self.ratioBeyond(evaluated.uplinkBitsPerSecond, estimate.uplinkBitsPerSecond, relativeRateChange)
            || Self.ratioBeyond(evaluated.downlinkBitsPerSecond, estimate.downlinkBitsPerSecond, relativeRateChange)
            || abs(estimate.rttSeconds - evaluated.rttSeconds) > rttChangeSeconds
            || Self.ratioBeyond(evaluated.computeFLOPs ?? registeredFLOPs, estimate.computeFLOPs ?? registeredFLOPs, relativeComputeChange)
            || memoryMoved(from: evaluated, to: estimate)
    }

    /// Whether the memory the device reports moved beyond its threshold (a first report counts).
    public func memoryMoved(from evaluated: LinkEstimate, to estimate: LinkEstimate) -> Bool {
        guard let new = estimate.memoryBytes else { return false }
        guard let old = evaluated.memoryBytes else { return true }
        return Self.ratioBeyond(old, new, relativeMemoryChange)
    }

    /// Whether `new` is more than a factor of 1 + `relative` away from `old`, either way.
    private static func ratioBeyond(_ old: Double, _ new: Double, _ relative: Double) -> Bool { abs(log(new / old)) > log1p(relative) }
}
