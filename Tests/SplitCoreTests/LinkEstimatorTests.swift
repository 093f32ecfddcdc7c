import Foundation
import Testing

@testable import SplitCore

@Suite("LinkEstimator: how telemetry becomes the estimate planned for")
struct LinkEstimatorTests {
    static func sample(
        _ at: Double, _ up: Double, _ down: Double, rtt: Double = 0.02, compute: Double? = nil, memory: Double? = nil
    ) -> TelemetrySample {
        TelemetrySample(
            deviceID: "d", measuredAt: Date(timeIntervalSinceReferenceDate: at), uplinkBitsPerSecond: up, downlinkBitsPerSecond: down,
            rttSeconds: rtt, computeFLOPs: compute, memoryBytes: memory)
    }

    @Test("hand-computed folds shared with the device client (Tests/Fixtures/estimator_cases.json)")
    func sharedCases() throws {
        let cases = try #require(try FixtureFiles.object("estimator_cases.json")["cases"] as? [[String: Any]])
        #expect(cases.count >= 8)
        for item in cases {
            let why = item["why"] as? String ?? ""
            let settings = try #require(item["estimator"] as? [String: Any])
            let meanName = try #require(settings["mean"] as? String)
            let estimator = LinkEstimator(
                mean: try #require(LinkEstimator.Mean(rawValue: meanName)),
                timeConstantSeconds: try #require(FixtureFiles.number(settings["time_constant_seconds"])))
            var estimate: LinkEstimate?
            for raw in try #require(item["samples"] as? [[String: Any]]) {
                let sample = Self.sample(
                    try #require(FixtureFiles.number(raw["at"])), try #require(FixtureFiles.number(raw["uplink_bps"])),
                    try #require(FixtureFiles.number(raw["downlink_bps"])), rtt: try #require(FixtureFiles.number(raw["rtt_seconds"])))
                estimate = estimator.fold(sample, into: estimate)
            }
            let expected = try #require(item["expected"] as? [String: Any])
            let result = try #require(estimate)
            for (key, value) in [
                ("uplink_bps", result.uplinkBitsPerSecond), ("downlink_bps", result.downlinkBitsPerSecond), ("rtt_seconds", result.rttSeconds),
            ] {
                let want = try #require(FixtureFiles.number(expected[key]))
                #expect(abs(value - want) <= 1e-12 * max(1, abs(want)), "\(why): \(key) \(value) != \(want)")
            }
            #expect(result.samples == expected["samples"] as? Int, "\(why)")
            #expect(result.measuredAt.timeIntervalSinceReferenceDate == FixtureFiles.number(expected["at"]), "\(why)")
        }
    }

    @Test("the weight is 1 − exp(−Δt/τ): half at τ·ln 2, 1 − 1/e at τ, everything at τ = 0")
    func weight() {
        let estimator = LinkEstimator(mean: .arithmetic, timeConstantSeconds: 10)
        #expect(abs(estimator.weight(elapsedSeconds: 10 * log(2)) - 0.5) < 1e-15)
        #expect(abs(estimator.weight(elapsedSeconds: 10) - (1 - exp(-1))) < 1e-15)
        #expect(LinkEstimator(mean: .arithmetic, timeConstantSeconds: 0).weight(elapsedSeconds: 1e-9) == 1)
    }

    @Test("the arithmetic mean of a fluctuating link is its capacity; the geometric mean understates it")
    func arithmeticAgainstGeometric() {
        // A link alternating 1 and 9 Mbit/s every second carries 5 Mbit/s on average: a transfer
        // spanning many seconds sees 5. The geometric mean settles near sqrt(9) = 3 Mbit/s.
        var arithmetic: LinkEstimate?, geometric: LinkEstimate?
        for second in 0..<2_000 {
            let rate = second % 2 == 0 ? 1e6 : 9e6
            let sample = Self.sample(Double(second), rate, rate)
            arithmetic = LinkEstimator(mean: .arithmetic, timeConstantSeconds: 100).fold(sample, into: arithmetic)
            geometric = LinkEstimator(mean: .geometric, timeConstantSeconds: 100).fold(sample, into: geometric)
        }
        #expect(abs(arithmetic!.uplinkBitsPerSecond - 5e6) < 0.05e6)
        #expect(abs(geometric!.uplinkBitsPerSecond - 3e6) < 0.05e6)
    }

    @Test("compute folds in log space, memory is taken as reported, and late samples change nothing")
    func otherFields() {
        let estimator = LinkEstimator(mean: .arithmetic, timeConstantSeconds: 10)
        var estimate = estimator.fold(Self.sample(0, 1e6, 1e6, compute: 4e9, memory: 2e9), into: nil)
        estimate = estimator.fold(Self.sample(10 * log(2), 1e6, 1e6, compute: 16e9, memory: 1e9), into: estimate)
        #expect(abs(estimate.computeFLOPs! - 8e9) < 1e-3)
        #expect(estimate.memoryBytes == 1e9)
        let late = estimator.fold(Self.sample(1, 9e9, 9e9, memory: 5), into: estimate)
        #expect(late == estimate)
    }

    @Test("planning rates floor an outage at 1 bit/s (Limits.linkRate) and never return a non-finite rate")
    func planningRates() {
        let estimate = LinkEstimate(
            deviceID: "d", uplinkBitsPerSecond: 0, downlinkBitsPerSecond: .nan, rttSeconds: 0, computeFLOPs: nil, samples: 1, measuredAt: Date())
        let rates = LinkEstimator.planningRates(estimate)
        #expect(rates.uplinkBitsPerSecond == Limits.linkRate.bounds.lowerBound && rates.downlinkBitsPerSecond == Limits.linkRate.bounds.lowerBound)
        #expect(LinkEstimator.planningRate(5e6) == 5e6)
    }

    @Test("the geometric estimator blends in log space with w = 1 − exp(−Δt/τ), by hand over 50 samples")
    func geometricByHand() {
        let smoothing = LinkEstimator(mean: .geometric, timeConstantSeconds: 30)
        var expected: LinkEstimate?, actual: LinkEstimate?
        for second in 0..<50 {
            let sample = Self.sample(Double(second), 1e6 * Double(1 + second % 7), 2e6 * Double(1 + second % 3), rtt: 0.01 * Double(second % 4))
            // By hand: log-space blend with w = 1 − exp(−1/30) after the first sample.
            if var estimate = expected {
                let weight = 1 - exp(-1.0 / 30)
                estimate.uplinkBitsPerSecond = exp(
                    log(estimate.uplinkBitsPerSecond) + weight * (log(sample.uplinkBitsPerSecond) - log(estimate.uplinkBitsPerSecond)))
                estimate.downlinkBitsPerSecond =
                    exp(log(estimate.downlinkBitsPerSecond) + weight * (log(sample.downlinkBitsPerSecond) - log(estimate.downlinkBitsPerSecond)))
                estimate.rttSeconds += weight * (sample.rttSeconds - estimate.rttSeconds)
                estimate.samples += 1
                estimate.measuredAt = sample.measuredAt
                expected = estimate
            } else {
                expected = LinkEstimate(
                    deviceID: "d", uplinkBitsPerSecond: sample.uplinkBitsPerSecond, downlinkBitsPerSecond: sample.downlinkBitsPerSecond,
                    rttSeconds: sample.rttSeconds, computeFLOPs: nil, samples: 1, measuredAt: sample.measuredAt)
            }
            actual = smoothing.fold(sample, into: actual)
            #expect(abs(actual!.uplinkBitsPerSecond - expected!.uplinkBitsPerSecond) <= 1e-9 * expected!.uplinkBitsPerSecond)
            #expect(abs(actual!.downlinkBitsPerSecond - expected!.downlinkBitsPerSecond) <= 1e-9 * expected!.downlinkBitsPerSecond)
            #expect(abs(actual!.rttSeconds - expected!.rttSeconds) <= 1e-12)
            #expect(actual!.samples == expected!.samples)
        }
    }

    @Test("a negative or non-finite time constant is refused naming it; JSON round trip")
    func validationAndJSON() throws {
        for bad in [-1.0, .infinity, .nan] {
            #expect(throws: PlanningError.self) { try LinkEstimator(mean: .arithmetic, timeConstantSeconds: bad).validate() }
        }
        let data = try JSONEncoder().encode(LinkEstimator.recommended)
        #expect(String(decoding: data, as: UTF8.self).contains("\"time_constant_seconds\""))
        #expect(try JSONDecoder().decode(LinkEstimator.self, from: data) == LinkEstimator.recommended)
    }
}
