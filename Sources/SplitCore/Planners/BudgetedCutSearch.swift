/// The fastest partition of one cut instance's members (the whole graph for `dag`, one region
/// for `block`) whose device memory fits a budget: Lagrangian relaxation of the budget, closed by
/// branch and bound over min cuts. Exact.
///
/// ## The problem is NP-hard
/// Minimise f(X) (the instance's part of the delay T) over valid partitions X subject to
/// m(X) ≤ K (its part of the memory M, see `DeviceMemoryTerms`). With layers that all read one
/// input and feed one output, the valid partitions are all subsets and this is 0/1 knapsack;
/// in general it is a precedence-constrained knapsack (the device part is closed under
/// ancestors), NP-hard in the strong sense. No min cut alone can solve it; this search is exact
/// and fast on real models because the relaxation below is tight for almost every budget.
///
/// ## Why the answer is exact
/// 1. *m is a cut function on the same network.* M has the shape of T: a term r_v for every
///    device layer (like device time), nothing for server layers, and a term g_v paid once by a
///    device layer with a consumer on the server (like its transfer time). So for λ ≥ 0 the
///    capacities of T + λ·M (device arc dev_v + λ·r_v, server arc srv_v, transfer arc
///    tr_v + λ·g_v) give a network whose finite cuts cost exactly f(X) + λ·m(X), by the
///    argument in `CutInstance`; its min cut is argmin over valid X of f + λ·m, and with λ = ∞
///    (memory capacities alone, exact integers) it is the least memory of any valid partition.
/// 2. *Lower bounds.* For every λ ≥ 0 and every X with m(X) ≤ K,
///    f(X) ≥ f(X) + λ·(m(X) − K) ≥ L(λ) := min_Y [f(Y) + λ·m(Y)] − λ·K (weak duality). Capacities
///    are rounded to integer units (the cut is exact for the rounded capacities); a cut crosses at
///    most `termCount` rounded capacities, each off by at most half a unit, so the true minimum is
///    at least the evaluated one minus `termCount` units (`slack`). λ is chosen by the classic
///    dual ascent for a one-dimensional concave L: keep the best infeasible partition A
///    (m > K) and the best feasible one B, solve at the λ where their lines
///    f + λ·(m − K) meet, and replace A or B by the new partition until no line lies below the
///    meeting point (then λ maximises L). Every feasible partition seen updates the incumbent.
/// 3. *Branch and bound.* A node fixes some members to a side (infinite terminal arcs; the
///    infinite consumer → producer arcs carry the fix to ancestors or descendants), so its
///    partitions are exactly the valid ones that respect its fixes. A node is closed only when
///    (a) its bound is at least the incumbent (less a relative 1e-12), (b) its least memory exceeds
///    K (nothing fits), (c) its unconstrained optimum fits (it is the node's optimum), or (d) a
///    feasible partition is as fast as its unconstrained optimum. Otherwise A and B differ in a
///    member v (m(A) > K ≥ m(B)); v is not fixed, because both respect the node's fixes and their
///    closures. The children fix v on the device and on the server: together they hold exactly
///    the node's partitions, and each has one free member fewer, so the tree is finite. No
///    closed node hides a partition better than the incumbent, so the incumbent at the end is
///    the optimum (to within that 1e-12 and the rounding slack).
final class BudgetedCutSearch {
    /// Most dual-ascent steps per node; the bound stays valid if the ascent stops early.
    static let maximumDualSteps = 64
    /// Relative slack of the pruning test (as `SplitPlanner.pruningTolerance`).
    static let relativeTolerance = 1e-12

    /// The result of one search.
    struct Outcome {
        /// Whether a fitting partition faster than the cutoff exists (it is in `bestSides`).
        var found = false
        /// f and m of the best fitting partition.
        var delaySeconds = Double.infinity
        var memoryBytes: Int64 = 0
        /// f of the unconstrained optimum (the root's min cut without the budget).
        var unconstrainedSeconds = Double.nan
        /// The least memory of any partition, when the search had to compute it (always when
        /// the unconstrained optimum does not fit).
        var minimumMemoryBytes: Int64?
    }

    let instance: CutInstance
    let solver: MaxFlowSolver
    /// Per member: delay and memory terms of the current search.
    private var deviceSeconds: [Double], serverSeconds: [Double], transferSeconds: [Double]
    private var residentBytes: [Int64], gradientBytes: [Int64]
    /// Per external producer: its transfer time and gradient bytes.
    private var externalSeconds: [Double], externalBytes: [Int64]
    /// Sides of the latest solve, of the dual ascent's partitions A and B, and of the incumbent.
    private var sides: [Bool], sidesA: [Bool], sidesB: [Bool]
    private(set) var bestSides: [Bool]
    /// Members fixed by the branch and bound: (local index, on the device).
    private var fixes: [(member: Int, device: Bool)] = []
    private var budgetBytes: Int64 = 0
    private var cutoffSeconds = Double.infinity
    private var outcome = Outcome()
    /// Min cuts solved in the latest search (for benchmarks and tests).
    private(set) var solves = 0

    /// Prepares a search over `instance`, solving its cuts with `solver` (built for its topology).
    init(instance: CutInstance, solver: MaxFlowSolver) {
        self.instance = instance
        self.solver = solver
        let members = instance.members.count, externals = instance.externalLayers.count
        deviceSeconds = [Double](repeating: 0, count: members)
        serverSeconds = deviceSeconds
        transferSeconds = deviceSeconds
        residentBytes = [Int64](repeating: 0, count: members)
        gradientBytes = residentBytes
        externalSeconds = [Double](repeating: 0, count: externals)
        externalBytes = [Int64](repeating: 0, count: externals)
        sides = [Bool](repeating: false, count: members)
        sidesA = sides
        sidesB = sides
        bestSides = sides
    }

    /// Takes the members' and externals' terms: times from `costs` (seconds, filled for them),
    /// memory from `memory`.
    func load(costs: LayerCosts, memory: DeviceMemoryTerms) {
        for (local, layer) in instance.members.enumerated() {
            let layer = Int(layer)
            deviceSeconds[local] = costs.deviceSeconds[layer]
            serverSeconds[local] = costs.serverSeconds[layer]
            transferSeconds[local] = costs.transferSeconds[layer]
            residentBytes[local] = memory.residentBytes[layer]
            gradientBytes[local] = memory.gradientBytes[layer]
        }
        for (index, layer) in instance.externalLayers.enumerated() {
            externalSeconds[index] = costs.transferSeconds[Int(layer)]
            externalBytes[index] = memory.gradientBytes[Int(layer)]
        }
    }

    /// The fastest partition with memory ≤ `budgetBytes` and delay < `cutoffSeconds`, using
    /// `scratch` (sized for the whole graph) for capacities. Call `load` first.
    func search(budgetBytes: Int64, cutoffSeconds: Double, scratch: inout LayerCosts) -> Outcome {
        self.budgetBytes = budgetBytes
        self.cutoffSeconds = cutoffSeconds
        outcome = Outcome()
        fixes.removeAll(keepingCapacity: true)
        solves = 0
        explore(root: true, scratch: &scratch)
        return outcome
    }

    /// The least memory of any partition of the members (their sides go to `bestSides`).
    func minimumMemory(scratch: inout LayerCosts) -> Int64 {
        fixes.removeAll(keepingCapacity: true)
        let bytes = solveMemory(scratch: &scratch).bytes
        copy(sides, into: &bestSides)
        return bytes
    }

    /// Writes the incumbent's sides into `onDevice` (global layer indices).
    func writeBest(into onDevice: inout [Bool]) {
        for (local, layer) in instance.members.enumerated() { onDevice[Int(layer)] = bestSides[local] }
    }

    // MARK: - Branch and bound

    /// Nodes whose lower bound reaches this cannot hold a better partition: the incumbent (or the
    /// cutoff) less a relative 1e-12 for rounding.
    private var threshold: Double {
        let target = min(cutoffSeconds, outcome.found ? outcome.delaySeconds : .infinity)
        return target.isFinite ? target - Self.relativeTolerance * abs(target) : target
    }

    private func explore(root: Bool, scratch: inout LayerCosts) {
        let unconstrained = solve(lambda: 0, scratch: &scratch)
        if root { outcome.unconstrainedSeconds = unconstrained.seconds }
        var lower = unconstrained.seconds - unconstrained.slack
        guard lower < threshold else { return }
        if unconstrained.bytes <= budgetBytes { return offer(unconstrained) }  // (c)
        var a = (seconds: unconstrained.seconds, bytes: unconstrained.bytes)
        copy(sides, into: &sidesA)
        let smallest = solveMemory(scratch: &scratch)
        if root { outcome.minimumMemoryBytes = smallest.bytes }
        guard smallest.bytes <= budgetBytes else { return }  // (b)
        offer(smallest)
        var b = (seconds: smallest.seconds, bytes: smallest.bytes)
        copy(sides, into: &sidesB)
        for _ in 0..<Self.maximumDualSteps {
            guard lower < threshold else { return }  // (a)
            guard b.seconds > a.seconds else { return }  // (d)
            let lambda = (b.seconds - a.seconds) / Double(a.bytes - b.bytes)
            let step = solve(lambda: lambda, scratch: &scratch)
            if step.bytes <= budgetBytes { offer(step) }
            let value = step.seconds + lambda * Double(step.bytes - budgetBytes)
            let meet = a.seconds + lambda * Double(a.bytes - budgetBytes)
            lower = max(lower, value - step.slack)
            if value >= meet - step.slack - 1e-12 * abs(meet) { break }
            if step.bytes > budgetBytes {
                a = (step.seconds, step.bytes)
                copy(sides, into: &sidesA)
            } else {
                b = (step.seconds, step.bytes)
                copy(sides, into: &sidesB)
            }
        }
        guard lower < threshold else { return }
        // Branch on the middle (in topological order) of the members where A and B differ.
        var differing = 0
        for local in 0..<sidesA.count where sidesA[local] != sidesB[local] { differing += 1 }
        guard differing > 0 else { return }
        var member = -1, seen = 0
        for local in 0..<sidesA.count where sidesA[local] != sidesB[local] {
            if seen == differing / 2 {
                member = local
                break
            }
            seen += 1
        }
        let feasibleSide = sidesB[member]
        for side in [feasibleSide, !feasibleSide] {
            fixes.append((member, side))
            explore(root: false, scratch: &scratch)
            fixes.removeLast()
        }
    }

    private func offer(_ partition: (seconds: Double, bytes: Int64, slack: Double)) {
        guard partition.bytes <= budgetBytes, partition.seconds < cutoffSeconds,
            !outcome.found || partition.seconds < outcome.delaySeconds
        else { return }
        outcome.found = true
        outcome.delaySeconds = partition.seconds
        outcome.memoryBytes = partition.bytes
        copy(sides, into: &bestSides)
    }

    /// Copies element by element, so the buffers keep their own storage (no copy-on-write churn).
    private func copy(_ source: [Bool], into target: inout [Bool]) {
        for index in 0..<source.count { target[index] = source[index] }
    }

    // MARK: - Min cuts

    /// Capacities cut at most once per member side and per transfer.
    private var termCount: Double { Double(2 * instance.members.count + instance.externalLayers.count) }

    /// Min cut of f + λ·m under the current fixes; returns f, m and the rounding slack (seconds).
    private func solve(lambda: Double, scratch: inout LayerCosts) -> (seconds: Double, bytes: Int64, slack: Double) {
        for (local, layer) in instance.members.enumerated() {
            let layer = Int(layer)
            scratch.deviceSeconds[layer] = deviceSeconds[local] + lambda * Double(residentBytes[local])
            scratch.serverSeconds[layer] = serverSeconds[local]
            scratch.transferSeconds[layer] = transferSeconds[local] + lambda * Double(gradientBytes[local])
        }
        for (index, layer) in instance.externalLayers.enumerated() {
            scratch.transferSeconds[Int(layer)] = externalSeconds[index] + lambda * Double(externalBytes[index])
        }
        let scale = instance.members.withUnsafeBufferPointer { members in
            instance.externalLayers.withUnsafeBufferPointer { externals in
                scratch.quantize(members: members, transferOnly: externals)
            }
        }
        cut(scratch)
        let (seconds, bytes) = evaluate()
        return (seconds, bytes, termCount / scale)
    }

    /// Min cut of m alone (exact integers) under the current fixes.
    private func solveMemory(scratch: inout LayerCosts) -> (seconds: Double, bytes: Int64, slack: Double) {
        for (local, layer) in instance.members.enumerated() {
            let layer = Int(layer)
            scratch.deviceUnits[layer] = residentBytes[local]
            scratch.serverUnits[layer] = 0
            scratch.transferUnits[layer] = gradientBytes[local]
        }
        for (index, layer) in instance.externalLayers.enumerated() { scratch.transferUnits[Int(layer)] = externalBytes[index] }
        cut(scratch)
        let (seconds, bytes) = evaluate()
        return (seconds, bytes, 0)
    }

    private func cut(_ scratch: LayerCosts) {
        instance.loadCapacities(into: solver, costs: scratch)
        for fix in fixes {
            solver.addTerminal(
                fix.member, fromSource: fix.device ? MaxFlowSolver.infinity : 0,
                toSink: fix.device ? 0 : MaxFlowSolver.infinity)
        }
        _ = solver.maximumFlow()
        solves += 1
        for local in 0..<sides.count { sides[local] = solver.isSourceSide(local) }
    }

    /// f and m of the partition in `sides`, from the members' terms.
    private func evaluate() -> (seconds: Double, bytes: Int64) {
        var seconds = 0.0
        var bytes: Int64 = 0
        let consumerStart = instance.consumerStart, consumers = instance.consumerList
        for local in 0..<sides.count {
            guard sides[local] else {
                seconds += serverSeconds[local]
                continue
            }
            seconds += deviceSeconds[local]
            bytes += residentBytes[local]
            var isCut = instance.feedsServerSide[local]
            var index = Int(consumerStart[local])
            while !isCut && index < Int(consumerStart[local + 1]) {
                isCut = !sides[Int(consumers[index])]
                index += 1
            }
            if isCut {
                seconds += transferSeconds[local]
                bytes += gradientBytes[local]
            }
        }
        let externalStart = instance.externalConsumerStart, externalConsumers = instance.externalConsumerList
        for external in 0..<externalSeconds.count {
            for index in Int(externalStart[external])..<Int(externalStart[external + 1]) where !sides[Int(externalConsumers[index])] {
                seconds += externalSeconds[external]
                bytes += externalBytes[external]
                break
            }
        }
        return (seconds, bytes)
    }
}
