/// The planners splitd offers. `dag` and `block` are exact; the rest are baselines for comparison.
public enum PlanningAlgorithm: String, Sendable, CaseIterable, Codable, Hashable {
    /// Min cut of the restructured DAG over the whole graph (exact).
    case dag
    /// Block-wise: best candidate region by prefix sums, min cut inside it (exact, faster).
    case block
    /// Neurosurgeon-style best prefix of a topological order.
    case chain
    /// Best cut at block boundaries only, never inside a block.
    case boundary
    /// The smallest valid device part.
    case serverOnly = "server-only"
    /// Exhaustive search over valid partitions (at most `SplitPlanner.bruteForceLimit` free layers).
    case brute
}

/// Computes plans for one prepared model, reusing its buffers between calls.
///
/// Not thread-safe: create one planner per thread or task (they are cheap next to the model).
public final class SplitPlanner {
    /// The largest number of free layers `brute` accepts.
    public static let bruteForceLimit = 25

    /// The model this planner plans.
    public let model: PreparedModel
    /// Costs of the latest solve.
    public private(set) var costs = LayerCosts()
    var onDevice: [Bool]
    var wholeGraphSolver: MaxFlowSolver?
    var regionSolvers: [MaxFlowSolver?]
    var blockScratch = BlockScratch()

    /// Creates a planner for `model`.
    public init(model: PreparedModel) {
        self.model = model
        onDevice = [Bool](repeating: false, count: model.graph.count)
        regionSolvers = [MaxFlowSolver?](repeating: nil, count: model.regions.count)
    }

    /// Plans one split with `algorithm` under `conditions`.
    ///
    /// - Throws: `PlanningError` for out-of-range conditions or (brute) too many free layers.
    public func plan(_ algorithm: PlanningAlgorithm, conditions: PlanningConditions) throws -> Plan {
        try conditions.validate()
        let clock = ContinuousClock()
        let start = clock.now
        model.computeCosts(conditions, into: &costs)
        switch algorithm {
        case .dag: solveWholeGraph()
        case .block: solveBlockWise()
        case .chain: solveChain()
        case .boundary: solveBoundary()
        case .serverOnly: solveServerOnly()
        case .brute: try solveBruteForce(conditions: conditions)
        }
        let evaluation = model.evaluate(onDevice: onDevice, costs: costs, conditions: conditions)
        let elapsed = start.duration(to: clock.now)
        let microseconds = Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12
        return Plan(
            algorithm: algorithm, onDevice: onDevice, delaySeconds: evaluation.breakdown.totalSeconds,
            breakdown: evaluation.breakdown, cutLayers: evaluation.cutLayers,
            transferBytes: evaluation.transferBytes, solveMicroseconds: microseconds)
    }

    /// `dag`: one min cut over the restructured whole graph.
    private func solveWholeGraph() {
        let instance = model.wholeGraph
        let solver = wholeGraphSolver ?? MaxFlowSolver(topology: instance.topology)
        wholeGraphSolver = solver
        _ = instance.solve(with: solver, costs: costs, onDevice: &onDevice)
    }

    /// Solves region `region`'s min cut, writing its members' sides into `onDevice`.
    func solveRegion(_ region: Int) -> Int64 {
        let instance = model.regions[region]
        let solver = regionSolvers[region] ?? MaxFlowSolver(topology: instance.topology)
        regionSolvers[region] = solver
        return instance.solve(with: solver, costs: costs, onDevice: &onDevice)
    }

    /// Places every follower layer on its producer's side (see `BlockDecomposition`).
    func placeFollowers() {
        let decomposition = model.decomposition
        for (index, layer) in decomposition.followers.enumerated() {
            onDevice[Int(layer)] = onDevice[Int(decomposition.followerProducers[index])]
        }
    }

    /// Sets the forced layers to their sides.
    func placeForced() {
        for layer in model.decomposition.forcedDeviceLayers { onDevice[Int(layer)] = true }
        for layer in model.decomposition.forcedServerLayers { onDevice[Int(layer)] = false }
    }
}
