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
    public internal(set) var costs = LayerCosts()
    var onDevice: [Bool]
    var wholeGraphSolver: MaxFlowSolver?
    var regionSolvers: [MaxFlowSolver?]
    let blockWorkspace: BlockWorkspace
    /// Whether `memoryCache` was computed saturating (for plans without a limit).
    var cachedSaturating = false
    /// Free-layer range of the region in `onDevice` when the block planner wrote it last, or nil
    /// when another planner has written `onDevice` since.
    var lastBlockRegion: (first: Int, end: Int)?
    /// Memory terms of the latest batch size and optimizer, and the block planner's sums of them.
    var memoryCache: DeviceMemoryTerms?
    var blockMemoryTables: BlockMemoryTables?
    /// Budgeted searches (created on first use) over the whole graph and over each region.
    var wholeGraphSearch: BudgetedCutSearch?
    var regionSearches: [BudgetedCutSearch?]
    /// Capacities of the budgeted searches.
    var searchCosts = LayerCosts()

    /// Creates a planner for `model`.
    public init(model: PreparedModel) {
        self.model = model
        onDevice = [Bool](repeating: false, count: model.graph.count)
        regionSolvers = [MaxFlowSolver?](repeating: nil, count: model.regions.count)
        regionSearches = [BudgetedCutSearch?](repeating: nil, count: model.regions.count)
        blockWorkspace = BlockWorkspace(candidates: model.decomposition.candidateCount, largestWindow: model.decomposition.largestWindow)
    }

    /// Plans one split with `algorithm` under `conditions`: the fastest split, or with a device
    /// memory limit the fastest split that fits (`dag`, `block` and `brute` exactly; the baselines
    /// their best candidate that fits).
    ///
    /// - Throws: `PlanningError` for out-of-range conditions, (brute) too many free layers,
    ///   `.deviceMemoryExceeded` with the least memory any valid split needs when none fits the
    ///   limit, or `.noCandidateWithinMemory` when a baseline has no candidate that fits.
    public func plan(_ algorithm: PlanningAlgorithm, conditions: PlanningConditions) throws -> Plan {
        try conditions.validate()
        let memory = try memoryTerms(for: conditions)
        let clock = ContinuousClock()
        let start = clock.now
        if algorithm != .block { lastBlockRegion = nil }
        var memoryBound = false
        if let limit = conditions.deviceMemoryLimitBytes {
            memoryBound = try solveUnderLimit(algorithm, conditions, memory: memory, limitBytes: limit)
        } else {
            switch algorithm {
            case .dag:
                model.computeCosts(conditions, into: &costs)
                solveWholeGraph()
            case .block:
                costs.resize(model.graph.count)
                solveBlockWise(conditions)
            case .chain:
                model.computeCosts(conditions, into: &costs)
                try solveChain()
            case .boundary:
                model.computeCosts(conditions, into: &costs)
                try solveBoundary()
            case .serverOnly:
                solveServerOnly()
            case .brute:
                model.computeCosts(conditions, into: &costs)
                try solveBruteForce(conditions: conditions)
            }
        }
        let elapsed = start.duration(to: clock.now)
        let microseconds = Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12
        // The reported delay is the cost model evaluated on the partition (not timed: it is the
        // same work for every planner).
        if algorithm == .block || algorithm == .serverOnly { model.computeCosts(conditions, into: &costs) }
        let evaluation = model.evaluate(onDevice: onDevice, costs: costs, conditions: conditions)
        return Plan(
            algorithm: algorithm, onDevice: onDevice, delaySeconds: evaluation.breakdown.totalSeconds,
            breakdown: evaluation.breakdown, cutLayers: evaluation.cutLayers,
            transferBytes: evaluation.transferBytes, solveMicroseconds: microseconds,
            deviceMemoryBytes: memory.bytes(onDevice: onDevice, graph: model.graph), memoryBound: memoryBound)
    }

    /// The memory terms for the conditions' batch size and optimizer (kept between calls).
    func memoryTerms(for conditions: PlanningConditions) throws -> DeviceMemoryTerms {
        let saturating = conditions.deviceMemoryLimitBytes == nil
        if let cached = memoryCache, cached.batchSize == conditions.batchSize, cached.optimizer == conditions.optimizer,
            cachedSaturating == saturating
        {
            return cached
        }
        let terms = try model.memoryTerms(batchSize: conditions.batchSize, optimizer: conditions.optimizer, saturating: saturating)
        cachedSaturating = saturating
        memoryCache = terms
        blockMemoryTables = nil
        return terms
    }

    /// `dag`: one min cut over the restructured whole graph.
    private func solveWholeGraph() {
        let instance = model.wholeGraph
        let solver = wholeGraphSolver ?? MaxFlowSolver(topology: instance.topology)
        wholeGraphSolver = solver
        _ = instance.solve(with: solver, costs: costs, onDevice: &onDevice)
    }

    /// Places every follower layer on its producer's side (see `BlockDecomposition`).
    func placeFollowers() {
        let decomposition = model.decomposition
        for index in 0..<decomposition.followers.count {
            onDevice[Int(decomposition.followers[index])] = onDevice[Int(decomposition.followerProducers[index])]
        }
    }

    /// Sets the forced layers to their sides.
    func placeForced() {
        for layer in model.decomposition.forcedDeviceLayers.all { onDevice[Int(layer)] = true }
        for layer in model.decomposition.forcedServerLayers.all { onDevice[Int(layer)] = false }
    }
}
