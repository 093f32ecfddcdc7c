import Foundation
import SplitCore

/// `splitctl simulate --recommend`: the daemon's policy under candidate settings on the user's
/// traces, each measured against `hindsight` and `best-fixed` on every trace, ranked by the
/// geometric mean of the ratio to `hindsight` (then by its 90th percentile).
public struct Recommendation: Sendable {
    /// One candidate's outcome.
    public struct Outcome: Sendable {
        public var settings: DevicePlanningSettings
        /// Mean delay over `hindsight`'s, per trace (in the order the traces were given).
        public var ratiosToHindsight: [Double]
        /// Mean delay over `best-fixed`'s, per trace.
        public var ratiosToBestFixed: [Double]

        /// The geometric mean of the ratios to `hindsight`.
        public var geometricMeanRatio: Double { exp(ratiosToHindsight.map { log($0) }.reduce(0, +) / Double(max(1, ratiosToHindsight.count))) }
        /// A percentile (nearest rank) of the ratios to `hindsight`.
        public func percentile(_ level: Double) -> Double { Recommendation.percentile(ratiosToHindsight, level) }
    }

    /// Every candidate, best first.
    public var outcomes: [Outcome]
    /// The names of the traces evaluated.
    public var traces: [String]

    /// The candidate settings: estimators (arithmetic mean with τ = 3, 10 and 30 s; the daemon's
    /// first geometric smoothing), switching rules (payback θ = 0.5, 1, 2; horizon 1 and 10) and
    /// both push modes, with `base`'s thresholds and minimum gain.
    public static func candidates(base: DevicePlanningSettings) -> [DevicePlanningSettings] {
        let gain = base.switching.minimumRelativeGain
        let estimators = [3.0, 10, 30].map { LinkEstimator(mean: .arithmetic, timeConstantSeconds: $0) } + [LinkEstimator.legacy]
        let rules: [SwitchingPolicy] =
            [0.5, 1, 2].map { .payback(PaybackRule(paybackFactor: $0, minimumRelativeGain: gain)) }
            + [1, 10].map { .horizon(SwitchingRule(horizonIterations: $0, minimumRelativeGain: gain)) }
        var settings: [DevicePlanningSettings] = []
        for push in [PushMode.table, .split] {
            for estimator in estimators {
                for rule in rules {
                    settings.append(DevicePlanningSettings(estimator: estimator, thresholds: base.thresholds, switching: rule, pushMode: push))
                }
            }
        }
        return settings
    }

    /// Evaluates `candidates` on the traces named `traces` (`load(i)` reads trace i, one at a time)
    /// for `model` under `settings`; `progress` gets the fraction done.
    public static func evaluate(
        model: PreparedModel, traces: [String], load: (Int) throws -> NetworkTrace, settings: SimulationSettings,
        candidates: [DevicePlanningSettings], progress: ((Double) -> Void)? = nil
    ) throws -> Recommendation {
        var outcomes = candidates.map { Outcome(settings: $0, ratiosToHindsight: [], ratiosToBestFixed: []) }
        for index in traces.indices {
            let simulator = try Simulator(model: model, trace: try load(index), settings: settings)
            let (hindsight, bestFixed) = try simulator.bounds()
            for candidate in outcomes.indices {
                let result = try simulator.simulateDaemon(candidates[candidate])
                outcomes[candidate].ratiosToHindsight.append(result.meanDelaySeconds / hindsight.meanDelaySeconds)
                outcomes[candidate].ratiosToBestFixed.append(result.meanDelaySeconds / bestFixed.meanDelaySeconds)
            }
            progress?(Double(index + 1) / Double(traces.count))
        }
        outcomes.sort { ($0.geometricMeanRatio, $0.percentile(90)) < ($1.geometricMeanRatio, $1.percentile(90)) }
        return Recommendation(outcomes: outcomes, traces: traces)
    }

    /// The nearest-rank percentile `level` (0–100) of `values`.
    public static func percentile(_ values: [Double], _ level: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let rank = max(1, Int((level / 100 * Double(sorted.count)).rounded(.up)))
        return sorted[min(sorted.count, rank) - 1]
    }
}
