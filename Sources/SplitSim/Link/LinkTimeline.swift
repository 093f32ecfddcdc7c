import SplitCore

/// A trace as the simulator's physics reads it: each direction's capacity with prefix sums
/// (`LinkCapacity`), and the round trip.
///
/// **Transfers integrated over the trace.** A transfer of B bytes that starts at t ends when the
/// link has carried `SplitCost.bits(B)` bits from t on: it waits through outages and takes what
/// capacity comes. An iteration (`IterationPhases`) is device forward, the uplink transfer of its
/// activations, server compute, the downlink transfer of their gradients, device backward; a
/// migration (`SplitMigration`) sends its uplink bytes, then its downlink bytes. Compute does
/// not depend on the link. Half the round trip is added after each transfer, so on a constant
/// link an iteration takes exactly the cost model's delay (`SplitCost.delaySeconds`). The round
/// trip is the trace's time-weighted mean (or the default when the trace has none): a constant,
/// which keeps every operation first-in first-out (starting later never ends earlier), the
/// property the `hindsight` bound relies on.
public struct LinkTimeline: Sendable {
    public let uplink: LinkCapacity
    public let downlink: LinkCapacity
    /// The round trip every iteration pays, seconds.
    public let rttSeconds: Double
    /// When the trace starts and ends, seconds.
    public var start: Double { uplink.start }
    public var end: Double { uplink.end }

    /// The timeline of `trace`, with `defaultRTTSeconds` when the trace has no round trip.
    public init(_ trace: NetworkTrace, defaultRTTSeconds: Double) throws {
        let times = trace.samples.map(\.timeSeconds)
        guard let uplink = LinkCapacity(times: times, rates: trace.samples.map(\.uplinkBitsPerSecond), end: trace.durationSeconds) else {
            throw TraceError(line: nil, column: "uplink_bps", "the trace carries nothing this way (an outage throughout)")
        }
        guard let downlink = LinkCapacity(times: times, rates: trace.samples.map(\.downlinkBitsPerSecond), end: trace.durationSeconds) else {
            throw TraceError(line: nil, column: "downlink_bps", "the trace carries nothing this way (an outage throughout)")
        }
        self.uplink = uplink
        self.downlink = downlink
        self.rttSeconds = trace.meanRTTSeconds ?? defaultRTTSeconds
    }

    /// When a migration that starts at `time` has arrived: its uplink bytes, then its downlink bytes.
    public func migrationEnd(_ migration: SplitMigration, from time: Double) -> Double {
        let afterUplink = uplink.finish(bits: SplitCost.bits(migration.uplinkBytes), from: time)
        return downlink.finish(bits: SplitCost.bits(migration.downlinkBytes), from: afterUplink)
    }

    /// The mean capacity each way over `[from, to]`: what a device measuring over that window sees.
    public func meanRates(from: Double, to: Double) -> (uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double) {
        (uplink.meanRate(from: from, to: to), downlink.meanRate(from: from, to: to))
    }
}

/// One training iteration of one split, phase by phase: what the integrated physics needs.
///
/// Device compute is split into forward and backward in proportion to the device layers' forward
/// and backward FLOPs (a measured profile gives their sum only); server compute is one phase.
public struct IterationPhases: Sendable, Equatable {
    public var deviceForwardSeconds: Double
    public var serverSeconds: Double
    public var deviceBackwardSeconds: Double
    /// Bytes sent each way (activations up, gradients down), batch included.
    public var transferBytes: Double

    /// Creates phases.
    public init(deviceForwardSeconds: Double, serverSeconds: Double, deviceBackwardSeconds: Double, transferBytes: Double) {
        self.deviceForwardSeconds = deviceForwardSeconds
        self.serverSeconds = serverSeconds
        self.deviceBackwardSeconds = deviceBackwardSeconds
        self.transferBytes = transferBytes
    }

    /// The phases of `plan` (a split of `graph`).
    public init(plan: Plan, graph: ModelGraph) {
        var forward = 0.0, training = 0.0
        for layer in plan.deviceLayers {
            forward += graph.layers[layer].forwardFLOPs
            training += graph.layers[layer].forwardFLOPs + graph.layers[layer].backwardFLOPs
        }
        let device = plan.breakdown.deviceComputeSeconds
        let forwardShare = training > 0 ? forward / training : 0.5
        self.init(
            deviceForwardSeconds: device * forwardShare, serverSeconds: plan.breakdown.serverComputeSeconds,
            deviceBackwardSeconds: device - device * forwardShare, transferBytes: plan.transferBytes)
    }

    /// The split's cost apart from the link (the one formula's input).
    public var cost: SplitCost {
        SplitCost(computeSeconds: deviceForwardSeconds + serverSeconds + deviceBackwardSeconds, transferBytes: transferBytes)
    }

    /// When an iteration that starts at `time` ends on `link` (integrated physics).
    public func end(from time: Double, on link: LinkTimeline) -> Double {
        let halfRTT = link.rttSeconds / 2
        var now = time + deviceForwardSeconds
        now = link.uplink.finish(bits: SplitCost.bits(transferBytes), from: now) + halfRTT
        now += serverSeconds
        now = link.downlink.finish(bits: SplitCost.bits(transferBytes), from: now) + halfRTT
        return now + deviceBackwardSeconds
    }
}
