import Foundation
import Testing

@testable import SplitCore

@Suite("ReplanThresholds: when a link has moved enough to plan again")
struct ReplanThresholdsTests {
    static func estimate(up: Double = 10e6, down: Double = 20e6, rtt: Double = 0.02, compute: Double? = nil, memory: Double? = nil) -> LinkEstimate {
        LinkEstimate(
            deviceID: "d", uplinkBitsPerSecond: up, downlinkBitsPerSecond: down, rttSeconds: rtt, computeFLOPs: compute, memoryBytes: memory,
            samples: 1, measuredAt: Date(timeIntervalSinceReferenceDate: 0))
    }

    @Test("a rate moves beyond the threshold by a factor of 1 + r either way, not within it")
    func rates() {
        let thresholds = ReplanThresholds()  // r = 0.1
        let evaluated = Self.estimate()
        for (up, down, moved) in [
            (10.5e6, 20e6, false), (11.5e6, 20e6, true), (9.5e6, 20e6, false), (8.9e6, 20e6, true),  // 10e6 / 1.1 = 9.09e6
            (10e6, 21.9e6, false), (10e6, 22.1e6, true), (10e6, 18.3e6, false), (10e6, 18.1e6, true),
        ] {
            #expect(thresholds.moved(from: evaluated, to: Self.estimate(up: up, down: down), registeredFLOPs: 1e11) == moved, "\(up) \(down)")
        }
        var loose = ReplanThresholds()
        loose.relativeRateChange = 1  // a factor of 2
        #expect(!loose.moved(from: evaluated, to: Self.estimate(up: 19e6), registeredFLOPs: 1e11))
        #expect(loose.moved(from: evaluated, to: Self.estimate(up: 4.9e6), registeredFLOPs: 1e11))
    }

    @Test("rtt moves by an absolute amount; compute by a relative one, against the registered FLOP/s when none was measured")
    func rttAndCompute() {
        let thresholds = ReplanThresholds(relativeRateChange: 0.1, rttChangeSeconds: 0.005, relativeComputeChange: 0.1)
        let evaluated = Self.estimate(rtt: 0.02)
        #expect(!thresholds.moved(from: evaluated, to: Self.estimate(rtt: 0.024), registeredFLOPs: 1e11))
        #expect(thresholds.moved(from: evaluated, to: Self.estimate(rtt: 0.026), registeredFLOPs: 1e11))
        #expect(thresholds.moved(from: evaluated, to: Self.estimate(rtt: 0.014), registeredFLOPs: 1e11))
        // No measured compute before: the registered 1e11 is the reference.
        #expect(!thresholds.moved(from: evaluated, to: Self.estimate(compute: 1.05e11), registeredFLOPs: 1e11))
        #expect(thresholds.moved(from: evaluated, to: Self.estimate(compute: 0.8e11), registeredFLOPs: 1e11))
        #expect(!thresholds.moved(from: Self.estimate(compute: 0.8e11), to: Self.estimate(compute: 0.82e11), registeredFLOPs: 1e11))
    }

    @Test("memory: a first report counts as a move; afterwards its own relative threshold")
    func memory() {
        let thresholds = ReplanThresholds()
        #expect(!thresholds.memoryMoved(from: Self.estimate(), to: Self.estimate()))
        #expect(thresholds.memoryMoved(from: Self.estimate(), to: Self.estimate(memory: 2e9)))
        #expect(!thresholds.memoryMoved(from: Self.estimate(memory: 2e9), to: Self.estimate(memory: 2.1e9)))
        #expect(thresholds.memoryMoved(from: Self.estimate(memory: 2e9), to: Self.estimate(memory: 1.7e9)))
        #expect(thresholds.moved(from: Self.estimate(memory: 2e9), to: Self.estimate(memory: 1.7e9), registeredFLOPs: 1e11))
        // A device that stops reporting memory has not moved.
        #expect(!thresholds.memoryMoved(from: Self.estimate(memory: 2e9), to: Self.estimate()))
    }
}
