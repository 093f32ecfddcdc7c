import Foundation

/// The link estimate that plans are made for, folded from telemetry one sample at a time: an
/// exponentially weighted moving average over time. One implementation for the daemon's ingest,
/// the simulator's `daemon` policy and the device client (`ops/client`), so all three plan for
/// the same numbers.
///
/// **Exact definition** (the Python client mirrors it; `Tests/Fixtures/estimator_cases.json` holds
/// cases both check). The state is a `LinkEstimate`: uplink and downlink bit/s, rtt seconds,
/// compute FLOP/s (optional), memory bytes (optional), the sample count and the time of the latest
/// sample folded in: a few numbers per device. For a sample `s` and an estimate `e`:
/// 1. no estimate yet: `e = s` (rates floored at `minimumBitsPerSecond` when `mean` is geometric);
/// 2. `s` not newer than `e.measuredAt`: `e` unchanged (late samples are stored, not folded in);
/// 3. otherwise, with `Δt = s.measuredAt − e.measuredAt` seconds and
///    `w = 1 − exp(−Δt / τ)` (`w = 1` when τ ≤ 0):
///    - rates, `arithmetic`: `e + w·(s − e)`; `geometric`: `exp(log e + w·(log s − log e))`, both
///      rates first floored at `minimumBitsPerSecond` (a zero-capacity sample, an outage, has no
///      logarithm);
///    - rtt: `e + w·(s − e)`; compute: geometric as above, or `s` if the estimate has none;
///      memory: `s` when the sample reports it (a limit holds as soon as it is known);
///    - `samples + 1`, `measuredAt = s.measuredAt`.
///
/// **Why arithmetic.** The time to push B bytes through a fluctuating link is B over the
/// *arithmetic* mean capacity of the window the transfer spans; a geometric mean (the daemon's
/// first smoothing) understates a bursty link's capacity, and a single outage sample drags it
/// towards zero for a long time. The time constant is chosen by measurement on real traces
/// (docs/evaluation.md, "Estimator").
public struct LinkEstimator: Sendable, Equatable, Hashable {
    /// How rates are averaged.
    public enum Mean: String, Sendable, CaseIterable, Codable, Hashable {
        /// Arithmetic mean of capacity: what a transfer spanning the window sees.
        case arithmetic
        /// Mean in log space (a drop from 100 to 10 Mbit/s weighs like a rise from 10 to 100).
        case geometric
    }

    /// How rates are averaged.
    public var mean: Mean
    /// τ, seconds: a sample Δt after the estimate moves it by `1 − exp(−Δt/τ)`.
    public var timeConstantSeconds: Double

    /// The lowest rate an estimate plans for, bit/s (`Limits.linkRate`'s lower bound): an
    /// estimate of an outage plans for a link that carries almost nothing.
    public static let minimumBitsPerSecond = Limits.linkRate.bounds.lowerBound

    /// The estimator splitd recommends (measured on the shared real traces, docs/evaluation.md).
    public static let recommended = LinkEstimator(mean: .arithmetic, timeConstantSeconds: 10)
    /// The geometric mean with τ = 30 s, compared against in `splitctl simulate --recommend`.
    public static let legacy = LinkEstimator(mean: .geometric, timeConstantSeconds: 30)

    /// Creates an estimator (the recommended one by default).
    public init(mean: Mean = LinkEstimator.recommended.mean, timeConstantSeconds: Double = LinkEstimator.recommended.timeConstantSeconds) {
        self.mean = mean
        self.timeConstantSeconds = timeConstantSeconds
    }

    /// Throws `PlanningError.invalidParameter` for a time constant that is negative or not finite.
    public func validate() throws {
        guard timeConstantSeconds.isFinite && timeConstantSeconds >= 0 else {
            throw PlanningError.invalidParameter(.smoothing, reason: "must be a number of seconds >= 0, got \(timeConstantSeconds)")
        }
    }

    /// The estimate after folding `sample` into `estimate` (or starting from it).
    public func fold(_ sample: TelemetrySample, into estimate: LinkEstimate?) -> LinkEstimate {
        let floor = Self.minimumBitsPerSecond
        guard var estimate else {
            let uplink = mean == .geometric ? max(sample.uplinkBitsPerSecond, floor) : sample.uplinkBitsPerSecond
            let downlink = mean == .geometric ? max(sample.downlinkBitsPerSecond, floor) : sample.downlinkBitsPerSecond
            return LinkEstimate(
                deviceID: sample.deviceID, uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: downlink, rttSeconds: sample.rttSeconds,
                computeFLOPs: sample.computeFLOPs, memoryBytes: sample.memoryBytes, samples: 1, measuredAt: sample.measuredAt)
        }
        guard sample.measuredAt > estimate.measuredAt else { return estimate }
        let weight = self.weight(elapsedSeconds: sample.measuredAt.timeIntervalSince(estimate.measuredAt))
        func logBlend(_ old: Double, _ new: Double) -> Double { exp(log(old) + weight * (log(new) - log(old))) }
        func blend(_ old: Double, _ new: Double) -> Double {
            switch mean {
            case .arithmetic: return old + weight * (new - old)
            case .geometric: return logBlend(max(old, floor), max(new, floor))
            }
        }
        estimate.uplinkBitsPerSecond = blend(estimate.uplinkBitsPerSecond, sample.uplinkBitsPerSecond)
        estimate.downlinkBitsPerSecond = blend(estimate.downlinkBitsPerSecond, sample.downlinkBitsPerSecond)
        estimate.rttSeconds += weight * (sample.rttSeconds - estimate.rttSeconds)
        if let compute = sample.computeFLOPs {
            estimate.computeFLOPs = estimate.computeFLOPs.map { logBlend($0, compute) } ?? compute
        }
        if let memory = sample.memoryBytes { estimate.memoryBytes = memory }
        estimate.samples += 1
        estimate.measuredAt = sample.measuredAt
        return estimate
    }

    /// The weight `1 − exp(−Δt/τ)` a sample `elapsedSeconds` after the estimate gets.
    public func weight(elapsedSeconds: Double) -> Double {
        timeConstantSeconds > 0 ? 1 - exp(-elapsedSeconds / timeConstantSeconds) : 1
    }

    /// The rates to plan for under `estimate`: its rates, floored at `minimumBitsPerSecond` (and
    /// at that floor when not finite), so every estimate can be planned for.
    public static func planningRates(_ estimate: LinkEstimate) -> (uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double) {
        (planningRate(estimate.uplinkBitsPerSecond), planningRate(estimate.downlinkBitsPerSecond))
    }

    /// One rate floored for planning (see `planningRates`).
    public static func planningRate(_ bitsPerSecond: Double) -> Double {
        bitsPerSecond.isFinite ? max(bitsPerSecond, minimumBitsPerSecond) : minimumBitsPerSecond
    }
}

/// The JSON shape of an estimator, as the daemon's per-device settings and the simulator's
/// reports carry it: `{"mean": "arithmetic", "time_constant_seconds": 10}`.
extension LinkEstimator: Codable {
    enum CodingKeys: String, CodingKey {
        case mean
        case timeConstantSeconds = "time_constant_seconds"
    }
}
