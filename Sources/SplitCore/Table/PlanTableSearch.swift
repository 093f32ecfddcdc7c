/// Computing a `PlanTable`: a parametric search over the effective rate with an exact planner.
///
/// ## Why the table is exact
/// Write s = 1/R (seconds per bit). Every split D is a line `T_D(s) = C_D + 8·X_D·s`, and the
/// optimum `E(s) = min_D T_D(s)` is concave and piecewise linear. The planner is any function
/// that returns a split minimizing T at the s it is asked about, over a family of splits that
/// does not depend on s (`dag`/`block`: every valid split; a memory-capped planner: the splits
/// that fit; a baseline: its own candidates), so the table is exact for that planner's family.
///
/// *Eisner–Severance.* Probe at a slow rate s_lo and a fast rate s_hi, getting lines a and b.
/// For an interval whose end lines are a (optimal at its slow end) and b (optimal at its fast
/// end), with X_a < X_b and C_a > C_b, let s* be where they cross and probe there, getting m.
/// If `T_m(s*) >= T_a(s*)·(1 - tieTolerance)`, nothing is below the two lines at s* beyond the
/// tolerance, and the interval is closed: E is concave, so on each half of the interval E lies
/// above the chord between its values at the ends, which are within tolerance of a (resp. b),
/// so a (resp. b) is within the same relative tolerance of E on that half. Otherwise m is
/// strictly below both at s*, and the search recurses on (a, m) and (m, b). If X_a = X_b the
/// lines are equal (each is optimal at the other's end), and if the splits are equal there is
/// nothing between: both intervals close without a probe.
///
/// *Termination and cost.* A probe that closes no interval returns a line never returned before.
/// Every earlier probe point lies outside the open interval (s_b, s_a) being split (b optimal at
/// the fast end s_b, a at the slow end s_a). An earlier line p optimal at s_p ≤ s_b makes p − b a
/// line that is ≤ 0 at s_p and ≥ 0 at s_b, hence ≥ 0 at the crossing s* > s_b, where m < b; one
/// optimal at s_p ≥ s_a is ≥ a at s* the same way. So each probe either finds a new envelope line
/// or closes an interval: with k segments the search makes at most 2k − 1 probes (2 when k = 1),
/// the two end probes included, plus one for each end probe whose split ties, within what the
/// extreme rate leaves of its compute time after rounding, with a split of equal transfer and
/// less compute (seen with measured profiles, whose zero-cost layers make such near-ties, and with
/// `block` on models of many windows, whose candidates are compared to a relative 1e-12 of a delay
/// the slowest rate makes almost all transfer; the search finds the better one at the next crossing). A split already seen also closes an
/// interval, which keeps termination unconditional even if planner rounding broke the premise.
///
/// *The ends.* No finite probe sees the limits R → 0 and R → ∞, so the end probes are placed
/// where the end splits are provably within `endTolerance` (relative) of the optimum beyond them.
/// With bounds that hold for every split — `C_lower` (the cheaper side of every free layer, the
/// pinned side of the rest, plus rtt) ≤ C_D, `ΔC` (Σ over free layers of |device − server|)
/// ≥ C_D − C_D', and X_D ≤ `X_upper` (every layer's output, batch included) — and the smallest
/// positive transfer `X_quantum` (batch × the smallest positive output bytes: a positive X_D
/// sums at least one such output):
/// - fast end, R_hi = 8·X_upper / (ε·C_lower): for s < s_hi and any D,
///   `T_b(s) − T_D(s) = [T_b − T_D](s_hi) + 8(X_D − X_b)(s_hi − s) ≤ 8·X_upper·s_hi = ε·C_lower ≤ ε·T_D(s)`;
/// - slow end, R_lo = 8·ε·X_quantum / ΔC: optimality at s_lo gives `8(X_a − X_D)·s_lo ≤ C_D − C_a
///   ≤ ΔC`, so X_a ≤ X_D + ε·X_quantum. If X_D = 0 this forces X_a = 0 (X_a is 0 or at least
///   X_quantum), and otherwise X_a − X_D ≤ ε·X_D; so for s > s_lo,
///   `T_a(s) − T_D(s) = [T_a − T_D](s_lo) + 8(X_a − X_D)(s − s_lo) ≤ ε·8·X_D·s ≤ ε·T_D(s)`.
/// Both rates are clamped to [1e-250·8·X_upper, 1e250] so every cost stays finite; a clamp only
/// matters for degenerate models (no compute at all) and at rates no link has.
///
/// *Rounding.* The planners cut on integer costs (`LayerCosts.quantize`: error at most half a unit
/// per term, 2^-60 of the probe's total cost), so "optimal" above holds to that rounding, far
/// below `tieTolerance`. Every decision here is made on lines re-evaluated in Double from the
/// returned split (`Plan.breakdown`, `Plan.transferBytes`), and the final segments are the exact
/// lower envelope (in Double) of the distinct lines found: sorted by X, a line is dropped when an
/// earlier one has X no smaller and C no larger, or when it is never strictly below both
/// neighbours (its two breakpoints do not increase), so neighbours always differ in split and
/// line, and each breakpoint `R = 8(X_b − X_a)/(C_a − C_b)` is where their delays are equal.
extension PlanTable {
    /// An exact planner: returns a split minimizing the delay under the given conditions, over a
    /// family of splits that does not depend on the link rates.
    public typealias ExactPlanner = (PlanningConditions) throws -> Plan

    /// Relative gap below which a probe at a crossing counts as "nothing below the two lines".
    public static let tieTolerance = 1e-10
    /// Relative excess allowed for the end splits beyond the end probes.
    public static let endTolerance = 1e-12
    /// Probe rates are kept inside [probeRateFloor · 8 · X_upper, probeRateCeiling], bit/s.
    static let probeRateCeiling = 1e250
    static let probeRateFloor = 1e-250

    /// The table of `model` under `conditions` with one of splitd's planners (`block` by
    /// default; every algorithm is exact over its own family of splits, so baselines have tables too).
    public static func compute(model: PreparedModel, conditions: ComputeConditions, algorithm: PlanningAlgorithm = .block) throws -> PlanTable {
        let planner = SplitPlanner(model: model)
        return try compute(model: model, conditions: conditions) { try planner.plan(algorithm, conditions: $0) }
    }

    /// The table of `model` under `conditions`, probing `planner` (see the type's documentation
    /// for what it must guarantee).
    ///
    /// - Throws: `PlanningError.invalidParameter` for out-of-range conditions, or what `planner` throws.
    public static func compute(model: PreparedModel, conditions: ComputeConditions, planner: ExactPlanner) throws -> PlanTable {
        try conditions.validate()
        var search = Search(model: model, conditions: conditions)
        return try search.run(planner)
    }

    /// One split found by a probe, as a line in 1/R.
    struct Line {
        var onDevice: [Bool]
        var cutLayers: [Int]
        /// C: compute plus rtt, seconds.
        var fixedSeconds: Double
        /// X: bytes per iteration in one direction.
        var transferBytes: Double
        /// The effective rate of the probe that found it.
        var probeBitsPerSecond: Double

        func delay(_ rate: Double) -> Double {
            SplitCost(computeSeconds: fixedSeconds, transferBytes: transferBytes).delaySeconds(effectiveBitsPerSecond: rate)
        }
    }

    /// Rate-independent bounds that place the end probes.
    struct Bounds {
        var fixedLower = 0.0
        var fixedSpread = 0.0
        var transferUpper = 0.0
        var transferQuantum = Double.infinity

        init(model: PreparedModel, conditions: ComputeConditions) {
            var costs = LayerCosts()
            model.computeCosts(conditions.conditions(effectiveBitsPerSecond: 1), into: &costs)
            let batch = Double(conditions.batchSize)
            for layer in 0..<model.graph.count {
                let device = costs.deviceSeconds[layer], server = costs.serverSeconds[layer]
                if model.rules.forcedDevice[layer] {
                    fixedLower += device
                } else if model.rules.forcedServer[layer] {
                    fixedLower += server
                } else {
                    fixedLower += min(device, server)
                    fixedSpread += abs(device - server)
                }
                let bytes = model.graph.layers[layer].outputBytes * batch
                transferUpper += bytes
                if bytes > 0 { transferQuantum = min(transferQuantum, bytes) }
            }
            fixedLower += conditions.rttSeconds
        }

        /// Fast-end probe rate (see the type's documentation).
        var highRate: Double {
            let floor = probeRateFloor * 8 * transferUpper
            guard fixedLower > 0 else { return probeRateCeiling }
            return min(probeRateCeiling, max(floor, 8 * transferUpper / (PlanTable.endTolerance * fixedLower), 1))
        }

        /// Slow-end probe rate (see the type's documentation).
        var lowRate: Double {
            let floor = max(probeRateFloor * 8 * transferUpper, probeRateFloor)
            guard fixedSpread > 0, transferQuantum.isFinite else { return min(1, highRate) }
            return min(highRate, max(floor, 8 * PlanTable.endTolerance * transferQuantum / fixedSpread))
        }
    }

    /// The Eisner–Severance search state.
    struct Search {
        let model: PreparedModel
        let conditions: ComputeConditions
        var calls = 0
        /// Every distinct split found (few: about one per segment), in the order found.
        var lines: [Line] = []

        init(model: PreparedModel, conditions: ComputeConditions) {
            self.model = model
            self.conditions = conditions
        }

        /// Plans at effective rate `rate`; returns the line and whether its split is new.
        mutating func probe(_ rate: Double, _ planner: ExactPlanner) throws -> (line: Line, isNew: Bool) {
            calls += 1
            var probe = conditions.conditions(effectiveBitsPerSecond: rate)
            probe.isTableProbe = true  // the envelope's ends may lie beyond any real link rate
            let plan = try planner(probe)
            let line = Line(
                onDevice: plan.onDevice, cutLayers: plan.cutLayers,
                fixedSeconds: plan.breakdown.deviceComputeSeconds + plan.breakdown.serverComputeSeconds + plan.breakdown.rttSeconds,
                transferBytes: plan.transferBytes, probeBitsPerSecond: rate)
            let isNew = !lines.contains { $0.onDevice == plan.onDevice }
            if isNew { lines.append(line) }
            return (line, isNew)
        }

        mutating func run(_ planner: ExactPlanner) throws -> PlanTable {
            let bounds = Bounds(model: model, conditions: conditions)
            let slow = try probe(bounds.lowRate, planner).line
            let fast = try probe(bounds.highRate, planner).line
            // Intervals still open: (line optimal at the slow end, line optimal at the fast end).
            var open: [(slow: Line, fast: Line)] = [(slow, fast)]
            while let (a, b) = open.popLast() {
                // Equal splits, or equal lines (X_a = X_b forces C_a = C_b), or a pair that only
                // rounding makes look inverted: nothing lies strictly below both in between.
                guard a.onDevice != b.onDevice, b.transferBytes > a.transferBytes, a.fixedSeconds > b.fixedSeconds else { continue }
                let crossing = SplitCost.bits(b.transferBytes - a.transferBytes) / (a.fixedSeconds - b.fixedSeconds)
                guard crossing.isFinite, crossing > a.probeBitsPerSecond, crossing < b.probeBitsPerSecond else { continue }
                let (middle, isNew) = try probe(crossing, planner)
                let level = min(a.delay(crossing), b.delay(crossing))
                if !isNew || middle.delay(crossing) >= level * (1 - PlanTable.tieTolerance) { continue }
                open.append((a, middle))
                open.append((middle, b))
            }
            return PlanTable(conditions: conditions, segments: Self.envelope(lines), plannerCalls: calls)
        }

        /// The exact lower envelope of `lines` over (0, ∞) as segments ordered by rate.
        static func envelope(_ lines: [Line]) -> [Segment] {
            let sorted = lines.sorted {
                ($0.transferBytes, $0.fixedSeconds) < ($1.transferBytes, $1.fixedSeconds)
            }
            func crossing(_ slow: Line, _ fast: Line) -> Double {
                SplitCost.bits(fast.transferBytes - slow.transferBytes) / (slow.fixedSeconds - fast.fixedSeconds)
            }
            var hull: [Line] = []
            for line in sorted {
                if let last = hull.last {
                    // More transfer and no less compute never wins; nor does a line that
                    // would win only beyond every finite rate.
                    if line.transferBytes == last.transferBytes || line.fixedSeconds >= last.fixedSeconds { continue }
                    if !crossing(last, line).isFinite { continue }
                }
                // Drop lines that are never strictly below both neighbours.
                while let last = hull.last {
                    let previous = hull.count >= 2 ? crossing(hull[hull.count - 2], last) : 0
                    guard previous >= crossing(last, line) else { break }
                    hull.removeLast()
                }
                hull.append(line)
            }
            var segments: [Segment] = []
            for (index, line) in hull.enumerated() {
                segments.append(
                    Segment(
                        minEffectiveBitsPerSecond: index == 0 ? 0 : crossing(hull[index - 1], line),
                        maxEffectiveBitsPerSecond: index == hull.count - 1 ? nil : crossing(line, hull[index + 1]),
                        deviceLayers: line.onDevice.indices.filter { line.onDevice[$0] }, cutLayers: line.cutLayers,
                        transferBytes: line.transferBytes, fixedSeconds: line.fixedSeconds))
            }
            return segments
        }
    }
}
