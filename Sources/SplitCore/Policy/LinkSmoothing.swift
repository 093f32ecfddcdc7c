import Foundation

/// How link estimates follow telemetry: an exponentially weighted moving average over time.
///
/// Each new sample (in time order, newer than the estimate) moves the estimate by
/// `α = 1 − exp(−Δt / τ)`, Δt the time since the estimate's last sample: a sample right after the
/// previous one moves it a little, one after a long silence replaces it. Rates are averaged in
/// log space (a drop from 100 to 10 Mbit/s weighs like a rise from 10 to 100), RTT linearly and
/// device compute in log space; reported available memory is taken as is (a limit must hold as
/// soon as it is known). Samples older than the estimate are stored but not folded in.
public struct LinkSmoothing: Sendable, Equatable {
    /// τ, seconds.
    public var timeConstantSeconds: Double

    public init(timeConstantSeconds: Double = 30) { self.timeConstantSeconds = timeConstantSeconds }

    /// The estimate after folding `sample` into `estimate` (or starting from it).
    public func fold(_ sample: TelemetrySample, into estimate: LinkEstimate?) -> LinkEstimate {
        guard var estimate else {
            return LinkEstimate(
                deviceID: sample.deviceID, uplinkBitsPerSecond: sample.uplinkBitsPerSecond,
                downlinkBitsPerSecond: sample.downlinkBitsPerSecond, rttSeconds: sample.rttSeconds,
                computeFLOPs: sample.computeFLOPs, memoryBytes: sample.memoryBytes, samples: 1, measuredAt: sample.measuredAt)
        }
        guard sample.measuredAt > estimate.measuredAt else { return estimate }
        let elapsed = sample.measuredAt.timeIntervalSince(estimate.measuredAt)
        let weight = timeConstantSeconds > 0 ? 1 - exp(-elapsed / timeConstantSeconds) : 1
        func logBlend(_ old: Double, _ new: Double) -> Double { exp(log(old) + weight * (log(new) - log(old))) }
        estimate.uplinkBitsPerSecond = logBlend(estimate.uplinkBitsPerSecond, sample.uplinkBitsPerSecond)
        estimate.downlinkBitsPerSecond = logBlend(estimate.downlinkBitsPerSecond, sample.downlinkBitsPerSecond)
        estimate.rttSeconds += weight * (sample.rttSeconds - estimate.rttSeconds)
        if let compute = sample.computeFLOPs {
            estimate.computeFLOPs = estimate.computeFLOPs.map { logBlend($0, compute) } ?? compute
        }
        if let memory = sample.memoryBytes { estimate.memoryBytes = memory }
        estimate.samples += 1
        estimate.measuredAt = sample.measuredAt
        return estimate
    }
}
