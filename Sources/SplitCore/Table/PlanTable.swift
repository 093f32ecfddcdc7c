/// The optimal split for every link rate, for one model and one compute side.
///
/// A split D costs `T_D = C_D + 8·X_D·(1/R_up + 1/R_down)`: `C_D` (compute and rtt, the
/// segment's `fixedSeconds`) does not depend on the link and `X_D` (`transferBytes`) is what
/// crosses the cut per iteration in one direction. With the effective rate
/// `R = 1/(1/R_up + 1/R_down)` the optimum `min_D C_D + 8·X_D/R` is the lower envelope of lines
/// in 1/R: segments of R over (0, ∞), each with one split. `compute` finds them exactly (see
/// `PlanTableSearch.swift`); a device then looks its split up locally for any (R_up, R_down).
///
/// Segments are ordered by rate: the first starts at 0, the last is unbounded, neighbours share
/// their breakpoint, differ in split, and give the same delay at the breakpoint; transfer bytes
/// increase and fixed seconds decrease from one segment to the next (faster links afford
/// sending more to compute less).
public struct PlanTable: Sendable, Equatable {
    /// One range of effective rates and the split that is optimal on it.
    public struct Segment: Sendable, Equatable {
        /// Lowest effective rate of the segment, bit/s (0 for the first).
        public var minEffectiveBitsPerSecond: Double
        /// Highest effective rate of the segment, bit/s; nil for the last (unbounded).
        public var maxEffectiveBitsPerSecond: Double?
        /// Indices of device layers in topological order.
        public var deviceLayers: [Int]
        /// Device layers whose output is sent to the server, in topological order.
        public var cutLayers: [Int]
        /// Bytes sent per iteration in one direction (batch included), as in `Plan`.
        public var transferBytes: Double
        /// Device and server compute plus rtt per iteration, seconds: the delay apart from the link.
        public var fixedSeconds: Double

        /// Creates a segment.
        public init(
            minEffectiveBitsPerSecond: Double, maxEffectiveBitsPerSecond: Double?, deviceLayers: [Int], cutLayers: [Int],
            transferBytes: Double, fixedSeconds: Double
        ) {
            self.minEffectiveBitsPerSecond = minEffectiveBitsPerSecond
            self.maxEffectiveBitsPerSecond = maxEffectiveBitsPerSecond
            self.deviceLayers = deviceLayers
            self.cutLayers = cutLayers
            self.transferBytes = transferBytes
            self.fixedSeconds = fixedSeconds
        }

        /// The segment's split as a cost: its fixed seconds (compute and rtt) and transfer bytes.
        public var cost: SplitCost { SplitCost(computeSeconds: fixedSeconds, transferBytes: transferBytes) }

        /// Predicted delay of one iteration with this segment's split at the given rates.
        public func delaySeconds(uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double) -> Double {
            cost.delaySeconds(uplinkBitsPerSecond: uplinkBitsPerSecond, downlinkBitsPerSecond: downlinkBitsPerSecond, rttSeconds: 0)
        }

        /// Predicted delay of one iteration with this segment's split at effective rate R.
        public func delaySeconds(effectiveBitsPerSecond: Double) -> Double {
            cost.delaySeconds(effectiveBitsPerSecond: effectiveBitsPerSecond)
        }

        /// The split as `onDevice[v]` for a model of `layerCount` layers.
        public func onDevice(layerCount: Int) -> [Bool] {
            var onDevice = [Bool](repeating: false, count: layerCount)
            for layer in deviceLayers where layer < layerCount { onDevice[layer] = true }
            return onDevice
        }
    }

    /// The compute side the table was computed for.
    public var conditions: ComputeConditions
    /// Segments in increasing order of effective rate.
    public var segments: [Segment]
    /// Planner calls the computation made (a statistic; not part of the table's meaning).
    public var plannerCalls: Int

    /// Creates a table from its parts (see `compute` for how tables are made).
    public init(conditions: ComputeConditions, segments: [Segment], plannerCalls: Int) {
        self.conditions = conditions
        self.segments = segments
        self.plannerCalls = plannerCalls
    }

    /// The effective rate `1/(1/uplink + 1/downlink)` that prices both directions of a cut.
    public static func effectiveBitsPerSecond(uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double) -> Double {
        1 / (1 / uplinkBitsPerSecond + 1 / downlinkBitsPerSecond)
    }

    /// Index of the segment holding effective rate R: the one with `min <= R < max` (a rate on a
    /// breakpoint belongs to the faster segment; both give the same delay there).
    public func segmentIndex(forEffectiveBitsPerSecond rate: Double) -> Int {
        var low = 0, high = segments.count - 1
        while low < high {
            let middle = (low + high) / 2
            if let max = segments[middle].maxEffectiveBitsPerSecond, rate >= max {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low
    }

    /// The segment, and so the optimal split, for the given rates.
    public func segment(forUplink uplinkBitsPerSecond: Double, downlink downlinkBitsPerSecond: Double) -> Segment {
        segments[
            segmentIndex(
                forEffectiveBitsPerSecond: Self.effectiveBitsPerSecond(
                    uplinkBitsPerSecond: uplinkBitsPerSecond, downlinkBitsPerSecond: downlinkBitsPerSecond))]
    }
}
