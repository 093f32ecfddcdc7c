import Foundation
import SplitCore

/// Seeded, deterministic synthetic network traces.
public enum SyntheticTrace {
    /// The kinds of synthetic trace.
    public enum Kind: String, Sendable, CaseIterable {
        /// Rates follow a random walk in log space (slow drift, like a moving user).
        case randomWalk = "random-walk"
        /// A two-state good/bad channel (Gilbert–Elliott): a mobile link that drops out.
        case markov
        /// Abrupt changes between levels held for 30–120 s (handovers, congestion).
        case steps
    }

    /// A trace of `kind` sampled every `intervalSeconds` for `durationSeconds`, around the base
    /// rates; the same seed always gives the same trace.
    public static func generate(
        _ kind: Kind, seed: UInt64, durationSeconds: Double, baseUplinkBitsPerSecond: Double,
        baseDownlinkBitsPerSecond: Double, baseRTTSeconds: Double, intervalSeconds: Double = 1
    ) throws -> NetworkTrace {
        guard durationSeconds.isFinite && durationSeconds > 0 && durationSeconds <= 1e7 else {
            throw TraceError(line: nil, column: "duration", "must be between 0 and 1e7 seconds, got \(durationSeconds)")
        }
        var random = SplitMix64(seed: seed)
        let count = max(1, Int((durationSeconds / intervalSeconds).rounded(.up)))
        var samples: [NetworkTrace.Sample] = []
        samples.reserveCapacity(count)
        // Factor applied to both base rates; uplink and downlink also get a little own noise.
        var level = 1.0
        var good = true
        var stepLevel = 1.0
        var stepEndsAt = 0.0
        for index in 0..<count {
            let time = Double(index) * intervalSeconds
            switch kind {
            case .randomWalk:
                // σ = 0.12 per second in log space, pulled back gently towards the base (mean reversion)
                // and kept within 1/30..3x of it.
                level = exp(max(log(1.0 / 30), min(log(3), log(level) * 0.995 + 0.12 * random.normal() * intervalSeconds.squareRoot())))
            case .markov:
                // good → bad with p = 0.04/s, bad → good with p = 0.15/s; bad is 12x slower.
                let flip = random.unit() < (good ? 0.04 : 0.15) * intervalSeconds
                if flip { good.toggle() }
                level = (good ? 1.0 : 1.0 / 12) * exp(0.15 * random.normal())
            case .steps:
                if time >= stepEndsAt {
                    stepLevel = pow(10, random.double(-1.5...0.5))
                    stepEndsAt = time + random.double(30...120)
                }
                level = stepLevel
            }
            let uplinkNoise = exp(0.05 * random.normal()), downlinkNoise = exp(0.05 * random.normal())
            let rtt = baseRTTSeconds * (kind == .markov && !good ? 3 : 1) * exp(0.1 * random.normal())
            samples.append(
                NetworkTrace.Sample(
                    timeSeconds: time, uplinkBitsPerSecond: baseUplinkBitsPerSecond * level * uplinkNoise,
                    downlinkBitsPerSecond: baseDownlinkBitsPerSecond * level * downlinkNoise, rttSeconds: rtt))
        }
        return try NetworkTrace(samples: samples, durationSeconds: durationSeconds)
    }
}
