import Foundation

/// The daemon's link smoothing as it ingests telemetry today: `LinkEstimator` with a geometric
/// mean (the estimator's one implementation does the folding; see its documentation for the exact
/// definition). Kept so that ingest behaves as before until the daemon adopts
/// `LinkEstimator.recommended` (an arithmetic mean, measured better on real links).
public struct LinkSmoothing: Sendable, Equatable {
    /// τ, seconds.
    public var timeConstantSeconds: Double

    public init(timeConstantSeconds: Double = LinkEstimator.legacy.timeConstantSeconds) { self.timeConstantSeconds = timeConstantSeconds }

    /// The estimator this smoothing is: geometric mean with τ = `timeConstantSeconds`.
    public var estimator: LinkEstimator { LinkEstimator(mean: .geometric, timeConstantSeconds: timeConstantSeconds) }

    /// The estimate after folding `sample` into `estimate` (or starting from it).
    public func fold(_ sample: TelemetrySample, into estimate: LinkEstimate?) -> LinkEstimate {
        estimator.fold(sample, into: estimate)
    }
}
