/// What a split costs per iteration apart from the link: its compute seconds (device and server,
/// batch included) and the bytes it sends each way. The one formula that re-prices a split under
/// new link rates, used by the daemon (is the current split still good?), the simulator and the
/// plan tables (a segment is a split's cost with the RTT folded into its fixed seconds).
public struct SplitCost: Sendable, Equatable, Hashable {
    /// Device plus server compute per iteration, seconds.
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

    /// One iteration's delay at these rates: `compute + 8·bytes·(1/uplink + 1/downlink) + rtt`.
    public func delaySeconds(uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double, rttSeconds: Double) -> Double {
        computeSeconds + 8 * transferBytes * (1 / uplinkBitsPerSecond + 1 / downlinkBitsPerSecond) + rttSeconds
    }
}
