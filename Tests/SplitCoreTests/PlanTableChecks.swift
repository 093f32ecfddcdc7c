import Foundation
import Testing

@testable import SplitCore

/// Checks shared by the plan-table tests.
enum PlanTableChecks {
    /// A log-uniform rate in [low, high].
    static func logUniform(_ random: inout SplitMix64, _ low: Double, _ high: Double) -> Double {
        exp(Double.random(in: log(low)...log(high), using: &random))
    }

    /// The structural promises of a table: ordered, contiguous, from 0 to unbounded, neighbours
    /// differing in split and line (more transfer, less fixed time) with equal delays at their
    /// breakpoint, and every segment a valid split whose numbers are its own evaluation.
    static func checkStructure(_ table: PlanTable, model: PreparedModel, _ label: String) {
        let segments = table.segments
        guard let first = segments.first, let last = segments.last else {
            Issue.record("\(label): empty table")
            return
        }
        #expect(first.minEffectiveBitsPerSecond == 0, "\(label)")
        #expect(last.maxEffectiveBitsPerSecond == nil, "\(label)")
        var costs = LayerCosts()
        let probe = table.conditions.conditions(effectiveBitsPerSecond: 1e6)
        model.computeCosts(probe, into: &costs)
        for (index, segment) in segments.enumerated() {
            let onDevice = segment.onDevice(layerCount: model.graph.count)
            #expect(model.violation(of: onDevice) == nil, "\(label) segment \(index): \(model.violation(of: onDevice) ?? "")")
            let evaluation = model.evaluate(onDevice: onDevice, costs: costs, conditions: probe)
            let fixed = evaluation.breakdown.deviceComputeSeconds + evaluation.breakdown.serverComputeSeconds + evaluation.breakdown.rttSeconds
            #expect(relativeDifference(fixed, segment.fixedSeconds) <= 1e-12, "\(label) segment \(index): fixed")
            #expect(evaluation.transferBytes == segment.transferBytes, "\(label) segment \(index): transfer")
            #expect(evaluation.cutLayers == segment.cutLayers, "\(label) segment \(index): cut layers")
            if index > 0 {
                let previous = segments[index - 1]
                let breakpoint = segment.minEffectiveBitsPerSecond
                #expect(previous.maxEffectiveBitsPerSecond == breakpoint, "\(label): segments \(index - 1) and \(index) not contiguous")
                #expect(breakpoint > previous.minEffectiveBitsPerSecond && breakpoint.isFinite, "\(label): breakpoint \(index) not increasing")
                #expect(previous.deviceLayers != segment.deviceLayers, "\(label): segments \(index - 1) and \(index) have the same split")
                #expect(
                    segment.transferBytes > previous.transferBytes && segment.fixedSeconds < previous.fixedSeconds,
                    "\(label): segments \(index - 1) and \(index) are not a crossing of two lines")
                #expect(
                    relativeDifference(
                        previous.delaySeconds(effectiveBitsPerSecond: breakpoint),
                        segment.delaySeconds(effectiveBitsPerSecond: breakpoint)) <= 1e-12,
                    "\(label): delays differ at breakpoint \(index)")
            }
        }
    }

    /// At `pairs` log-uniform (uplink, downlink) pairs in [1 kbit/s, 100 Gbit/s], plus just
    /// around every breakpoint and inside every segment, the table's split is as fast as
    /// `planner`'s plan (relative 1e-9). Returns the number of rate pairs checked.
    @discardableResult
    static func checkAgainstPlanner(
        _ table: PlanTable, planner: SplitPlanner, algorithm: PlanningAlgorithm,
        pairs: Int, seed: UInt64, _ label: String
    ) throws -> Int {
        var random = SplitMix64.property(seed: seed)
        var rates: [(Double, Double)] = (0..<pairs).map { _ in (logUniform(&random, 1e3, 1e11), logUniform(&random, 1e3, 1e11)) }
        for segment in table.segments {
            let low = max(segment.minEffectiveBitsPerSecond, 1)
            let high = segment.maxEffectiveBitsPerSecond ?? low * 1e3
            rates.append((2 * (low * high).squareRoot(), 2 * (low * high).squareRoot()))
            for factor in [1 - 1e-6, 1 + 1e-6] where segment.minEffectiveBitsPerSecond > 0 {
                rates.append((2 * low * factor, 2 * low * factor))
            }
        }
        for (uplink, downlink) in rates {
            var conditions = table.conditions.conditions(uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: downlink)
            conditions.isTableProbe = true  // breakpoints may lie beyond any real link rate; the table covers (0, ∞)
            let optimum = try planner.plan(algorithm, conditions: conditions).delaySeconds
            let segment = table.segment(forUplink: uplink, downlink: downlink)
            let delay = segment.delaySeconds(uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: downlink)
            #expect(relativeDifference(delay, optimum) <= 1e-9, "\(label) at \(uplink)/\(downlink): table \(delay) vs \(algorithm) \(optimum)")
        }
        return rates.count
    }

    /// Every valid split of `model` (free layers in topological order; a layer joins the device
    /// only when all its producers are there), optionally filtered.
    static func allSplits(_ model: PreparedModel, where keep: ([Bool]) -> Bool = { _ in true }) -> [[Bool]] {
        let graph = model.graph
        let free = (0..<graph.count).filter { model.rules.isFree($0) }
        var onDevice = model.rules.forcedDevice
        var splits: [[Bool]] = []
        func visit(_ index: Int) {
            if index == free.count {
                if keep(onDevice) { splits.append(onDevice) }
                return
            }
            let layer = free[index]
            onDevice[layer] = false
            visit(index + 1)
            if graph.predecessors(of: layer).allSatisfy({ onDevice[$0] }) {
                onDevice[layer] = true
                visit(index + 1)
            }
        }
        visit(0)
        return splits
    }

    /// Proves the table optimal over `splits` (to 1e-9) for every rate, not just sampled ones:
    /// the table's delay is concave and piecewise linear in s = 1/R with vertices at its
    /// breakpoints, so for any split's line L, L − table is convex in s and smallest at a vertex
    /// or in a limit (s → 0: compare fixed times; s → ∞: compare transfers).
    static func checkAgainstBruteForce(_ table: PlanTable, model: PreparedModel, splits: [[Bool]], _ label: String) {
        var costs = LayerCosts()
        let probe = table.conditions.conditions(effectiveBitsPerSecond: 1e6)
        model.computeCosts(probe, into: &costs)
        let breakpoints = table.segments.dropFirst().map(\.minEffectiveBitsPerSecond)
        guard let first = table.segments.first, let last = table.segments.last else {
            Issue.record("\(label): empty table")
            return
        }
        for split in splits {
            let evaluation = model.evaluate(onDevice: split, costs: costs, conditions: probe)
            let fixed = evaluation.breakdown.deviceComputeSeconds + evaluation.breakdown.serverComputeSeconds + evaluation.breakdown.rttSeconds
            let transfer = evaluation.transferBytes
            #expect(fixed >= last.fixedSeconds * (1 - 1e-9), "\(label): a split is faster than the last segment on fast links")
            #expect(transfer >= first.transferBytes * (1 - 1e-9), "\(label): a split sends less than the first segment on slow links")
            if transfer == 0 {
                #expect(
                    first.transferBytes == 0,
                    "\(label): a zero-transfer split exists but the slowest segment sends \(first.transferBytes) B")
            }
            for rate in breakpoints {
                let table = table.segments[table.segmentIndex(forEffectiveBitsPerSecond: rate)].delaySeconds(effectiveBitsPerSecond: rate)
                let line = fixed + 8 * transfer / rate
                #expect(line >= table * (1 - 1e-9), "\(label) at R=\(rate): a split beats the table (\(line) < \(table))")
            }
        }
    }
}
