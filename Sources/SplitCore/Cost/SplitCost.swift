/// What a split costs per iteration apart from the link: its compute seconds (device and server,
/// batch included, and whatever else does not depend on the rates) and the bytes it sends each
/// way. **The one formula that prices a split at given link rates**: plans (`Plan`, `Plan.repriced`),
/// plan tables (a segment is a split's cost with the RTT folded into its fixed seconds), the
/// planners' per-byte link cost, the simulator and the daemon all call it. `SplitMigration.seconds`
/// is its counterpart for a change of split; the simulator's integrated versions (transfers that
/// wait for the capacity of a trace) carry the same bits, `bits(bytes)`.
public struct SplitCost: Sendable, Equatable, Hashable {
    /// Device plus server compute per iteration, seconds (a table segment's fixed seconds include the RTT).
    public var computeSeconds: Double
    /// Bytes sent per iteration in one direction (activations up; gradients down are the same).
    public var transferBytes: Double

    /// Creates a cost.
    public init(computeSeconds: Double, transferBytes: Double) {
        self.computeSeconds = computeSeconds
        self.transferBytes = transferBytes
    }

    /// The cost of `plan` (its breakdown's compute terms and its transfer bytes).
    public init(_ plan: Plan) {
        self.init(computeSeconds: plan.breakdown.deviceComputeSeconds + plan.breakdown.serverComputeSeconds, transferBytes: plan.transferBytes)
    }

    /// Bits on the wire for `bytes` of payload.
    @inline(__always)
    public static func bits(_ bytes: Double) -> Double { 8 * bytes }

    /// Seconds to send `bytes` at `bitsPerSecond`.
    @inline(__always)
    public static func linkSeconds(bytes: Double, bitsPerSecond: Double) -> Double { bits(bytes) / bitsPerSecond }

    /// Link seconds per byte sent up and its gradient sent down: `8·(1/uplink + 1/downlink)`.
    @inline(__always)
    public static func roundTripSecondsPerByte(uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double) -> Double {
        bits(1) * (1 / uplinkBitsPerSecond + 1 / downlinkBitsPerSecond)
    }

    /// Time to send the activations up, seconds.
    public func uplinkSeconds(uplinkBitsPerSecond: Double) -> Double {
        Self.linkSeconds(bytes: transferBytes, bitsPerSecond: uplinkBitsPerSecond)
    }

    /// Time to receive the gradients, seconds.
    public func downlinkSeconds(downlinkBitsPerSecond: Double) -> Double {
        Self.linkSeconds(bytes: transferBytes, bitsPerSecond: downlinkBitsPerSecond)
    }

    /// One iteration's delay at these rates: `compute + 8·bytes·(1/uplink + 1/downlink) + rtt`.
    public func delaySeconds(uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double, rttSeconds: Double) -> Double {
        computeSeconds
            + transferBytes * Self.roundTripSecondsPerByte(uplinkBitsPerSecond: uplinkBitsPerSecond, downlinkBitsPerSecond: downlinkBitsPerSecond)
            + rttSeconds
    }

    /// One iteration's delay at the effective rate `R = 1/(1/uplink + 1/downlink)` (`PlanTable`):
    /// `compute + 8·bytes/R`, the same delay written as a line in 1/R.
    public func delaySeconds(effectiveBitsPerSecond: Double) -> Double {
        computeSeconds + Self.linkSeconds(bytes: transferBytes, bitsPerSecond: effectiveBitsPerSecond)
    }
}
