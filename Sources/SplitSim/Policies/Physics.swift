import Foundation
import SplitCore

/// The simulator's physics: how long migrations and iterations take from a given moment, and
/// what a device measures of its link. Integrated (`LinkTimeline`) or start-rate (the first
/// simulator's model, for comparison).
struct Physics {
    let kind: LinkPhysics
    let trace: NetworkTrace
    let timeline: LinkTimeline
    let defaultRTTSeconds: Double
    /// Window over which a device measures its link, seconds.
    let windowSeconds: Double

    var start: Double { timeline.start }
    var end: Double { trace.durationSeconds }

    /// When a migration starting at `time` and then an iteration of `phases` end: the seconds the
    /// migration took, its arrival and the iteration's end.
    func step(from time: Double, migration: SplitMigration, phases: IterationPhases) -> (migrationSeconds: Double, arrived: Double, ended: Double) {
        switch kind {
        case .integrated:
            let arrived = timeline.migrationEnd(migration, from: time)
            return (arrived - time, arrived, phases.end(from: arrived, on: timeline))
        case .startRate:
            // Both priced at the rates in effect when the iteration starts (after waiting out an
            // outage), as the first simulator did.
            let begin = waitForLink(time)
            let (up, down) = windowRates(at: begin)
            let moving = migration.seconds(uplinkBitsPerSecond: up, downlinkBitsPerSecond: down)
            let delay = phases.cost.delaySeconds(
                uplinkBitsPerSecond: up, downlinkBitsPerSecond: down, rttSeconds: trace.sample(at: begin).rttSeconds ?? defaultRTTSeconds)
            return (moving, begin + moving, begin + moving + delay)
        }
    }

    /// Start-rate physics reads the trace as a hand conversion would: one rate per window of
    /// `windowSeconds` from the start (the mean capacity over it; a trace sampled once per window
    /// reads as its samples), repeating beyond the end.
    func windowRates(at time: Double) -> (Double, Double) {
        let window = (max(0, time - start) / windowSeconds).rounded(.down)
        let from = start + window * windowSeconds
        let rates = timeline.meanRates(from: from, to: from + windowSeconds)
        return (rates.uplinkBitsPerSecond, rates.downlinkBitsPerSecond)
    }

    /// The first moment at or after `time` when both directions carry in start-rate physics: the
    /// start of the next window that does (some window does: the trace carries both ways).
    func waitForLink(_ time: Double) -> Double {
        var moment = time
        for _ in 0..<(Int(((end - start) / windowSeconds).rounded(.up)) * 2 + 2) {
            let (up, down) = windowRates(at: moment)
            if up > 0 && down > 0 { return moment }
            moment = start + ((moment - start) / windowSeconds + 1).rounded(.down) * windowSeconds
        }
        return moment
    }

    /// What a device measures at `time`: the mean capacity each way over the window before it
    /// (over the first window near the start), or with start-rate physics the rates of the sample
    /// in effect; and the round trip.
    func observe(at time: Double) -> (uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double, rttSeconds: Double) {
        switch kind {
        case .integrated:
            let from = max(start, time - windowSeconds)
            let to = max(from + windowSeconds, time)
            let rates = timeline.meanRates(from: from, to: to)
            return (rates.uplinkBitsPerSecond, rates.downlinkBitsPerSecond, timeline.rttSeconds)
        case .startRate:
            let (up, down) = windowRates(at: time)
            return (up, down, trace.sample(at: time).rttSeconds ?? defaultRTTSeconds)
        }
    }

    /// The device's telemetry sample measured over the window that ends at `time` (`time` at the
    /// start: the first window, measured before training began).
    func telemetry(at time: Double) -> TelemetrySample {
        let from = max(start, time - windowSeconds)
        let to = max(from + windowSeconds, time)
        let rates = timeline.meanRates(from: from, to: to)
        return TelemetrySample(
            deviceID: "simulated", measuredAt: Self.date(time), uplinkBitsPerSecond: rates.uplinkBitsPerSecond,
            downlinkBitsPerSecond: rates.downlinkBitsPerSecond, rttSeconds: timeline.rttSeconds)
    }

    /// Simulation time as the daemon's clock.
    static func date(_ time: Double) -> Date { Date(timeIntervalSinceReferenceDate: time) }
}
