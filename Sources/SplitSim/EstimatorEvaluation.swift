import Foundation
import SplitCore

/// How well an estimator predicts what a transfer will see: on each trace, a device measures its
/// link every `interval` seconds (the mean capacity over the interval, as telemetry), folds the
/// samples into the estimate, and at every sample predicts that B bytes take `8·B / estimate`
/// seconds; the transfer actually takes what the trace gives from that moment (`LinkCapacity`).
/// The error is `log(predicted / actual)`: its mean absolute value (accuracy) and mean (bias;
/// positive: the estimate is too low). Both directions count. This is the measurement that
/// chose `LinkEstimator.recommended` (docs/evaluation.md, "Estimator").
public enum EstimatorEvaluation {
    /// One estimator's errors for each transfer size.
    public struct Row: Sendable {
        public var name: String
        public var estimator: LinkEstimator
        /// Per size: mean |log(predicted/actual)|.
        public var meanAbsoluteLogError: [Double]
        /// Per size: mean log(predicted/actual).
        public var meanLogError: [Double]
        /// Predictions compared, per size.
        public var count: [Int]
    }

    /// The estimators compared: the last sample alone, arithmetic means with τ from 3 to 100 s,
    /// and the daemon's first geometric smoothing.
    public static let candidates: [(name: String, estimator: LinkEstimator)] =
        [("last sample", LinkEstimator(mean: .arithmetic, timeConstantSeconds: 0))]
        + [3.0, 10, 30, 100].map { ("arithmetic τ \(Int($0)) s", LinkEstimator(mean: .arithmetic, timeConstantSeconds: $0)) }
        + [10.0, 30].map { ("geometric τ \(Int($0)) s", LinkEstimator(mean: .geometric, timeConstantSeconds: $0)) }

    /// Errors of `candidates` over `traces` for transfers of `sizesBytes`; transfers that would
    /// run past a trace's end are not counted.
    public static func evaluate(
        traces: [NetworkTrace], sizesBytes: [Double], intervalSeconds: Double = 1,
        candidates: [(name: String, estimator: LinkEstimator)] = EstimatorEvaluation.candidates
    ) throws -> [Row] {
        var rows = candidates.map {
            Row(
                name: $0.name, estimator: $0.estimator, meanAbsoluteLogError: [Double](repeating: 0, count: sizesBytes.count),
                meanLogError: [Double](repeating: 0, count: sizesBytes.count), count: [Int](repeating: 0, count: sizesBytes.count))
        }
        for trace in traces {
            let timeline = try LinkTimeline(trace, defaultRTTSeconds: 0)
            for link in [timeline.uplink, timeline.downlink] {
                for (index, candidate) in candidates.enumerated() {
                    var estimate: LinkEstimate?
                    var time = link.start + intervalSeconds
                    while time < link.end {
                        let rate = link.meanRate(from: time - intervalSeconds, to: time)
                        estimate = candidate.estimator.fold(
                            TelemetrySample(
                                deviceID: "", measuredAt: Date(timeIntervalSinceReferenceDate: time), uplinkBitsPerSecond: rate,
                                downlinkBitsPerSecond: rate, rttSeconds: 0), into: estimate)
                        let predictedRate = LinkEstimator.planningRate(estimate!.uplinkBitsPerSecond)
                        for (size, bytes) in sizesBytes.enumerated() {
                            let bits = SplitCost.bits(bytes)
                            let actual = link.finish(bits: bits, from: time) - time
                            guard time + actual <= link.end, actual > 0 else { continue }
                            let error = log(bits / predictedRate / actual)
                            rows[index].meanAbsoluteLogError[size] += abs(error)
                            rows[index].meanLogError[size] += error
                            rows[index].count[size] += 1
                        }
                        time += intervalSeconds
                    }
                }
            }
        }
        for index in rows.indices {
            for size in sizesBytes.indices where rows[index].count[size] > 0 {
                rows[index].meanAbsoluteLogError[size] /= Double(rows[index].count[size])
                rows[index].meanLogError[size] /= Double(rows[index].count[size])
            }
        }
        return rows
    }
}
