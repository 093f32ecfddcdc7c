extension SplitPlanner {
    /// Relative delay increase above which a device memory limit counts as binding.
    public static let memoryBoundTolerance = 1e-9

    /// Plans with `algorithm` under a device memory limit; returns whether the limit binds.
    func solveUnderLimit(
        _ algorithm: PlanningAlgorithm, _ conditions: PlanningConditions, memory: DeviceMemoryTerms,
        limitBytes: Int64
    ) throws -> Bool {
        switch algorithm {
        case .dag:
            return try solveWholeGraphUnderLimit(conditions, memory: memory, limitBytes: limitBytes)
        case .block:
            return try solveBlockWiseUnderLimit(conditions, memory: memory, limitBytes: limitBytes)
        case .chain:
            model.computeCosts(conditions, into: &costs)
            return try solveChain(memory: memory, limitBytes: limitBytes)
        case .boundary:
            model.computeCosts(conditions, into: &costs)
            return try solveBoundary(memory: memory, limitBytes: limitBytes)
        case .serverOnly:
            solveServerOnly()
            guard memory.bytes(onDevice: onDevice, graph: model.graph) <= limitBytes else {
                throw PlanningError.noCandidateWithinMemory(algorithm: algorithm.rawValue, limitBytes: limitBytes)
            }
            return false
        case .brute:
            model.computeCosts(conditions, into: &costs)
            return try solveBruteForce(conditions: conditions, memory: memory, limitBytes: limitBytes)
        }
    }

    /// `dag` under a limit: the budgeted search (`BudgetedCutSearch`, exact) over the whole
    /// restructured graph. Its root solve is the unconstrained `dag` plan.
    private func solveWholeGraphUnderLimit(_ conditions: PlanningConditions, memory: DeviceMemoryTerms, limitBytes: Int64) throws -> Bool {
        model.computeCosts(conditions, into: &costs)
        let search: BudgetedCutSearch
        if let existing = wholeGraphSearch {
            search = existing
        } else {
            let solver = wholeGraphSolver ?? MaxFlowSolver(topology: model.wholeGraph.topology)
            wholeGraphSolver = solver
            search = BudgetedCutSearch(instance: model.wholeGraph, solver: solver)
            wholeGraphSearch = search
        }
        searchCosts.resize(model.graph.count)
        search.load(costs: costs, memory: memory)
        let outcome = search.search(budgetBytes: limitBytes, cutoffSeconds: .infinity, scratch: &searchCosts)
        guard outcome.found else {
            let required = outcome.minimumMemoryBytes ?? search.minimumMemory(scratch: &searchCosts)
            throw PlanningError.deviceMemoryExceeded(requiredBytes: required, limitBytes: limitBytes)
        }
        search.writeBest(into: &onDevice)
        return outcome.delaySeconds > outcome.unconstrainedSeconds * (1 + Self.memoryBoundTolerance)
    }

    /// `block` under a limit. Exact, by the candidate argument of `BlockDecomposition`, which is
    /// about the structure of valid splits alone (costs and memory play no part in it):
    ///
    /// 1. *Every valid split that fits agrees with a candidate.* Let X be an optimal split that
    ///    fits the limit K. Moving its followers to their producers' sides keeps it valid and
    ///    raises neither its delay nor its memory (`BlockDecomposition`, first paragraph), so take
    ///    X with followers placed so. At most one region between boundaries is mixed in X, and
    ///    inside it the mixed layers lie in one window Wc (`RegionWindows`): free layers before
    ///    Wc are on the device, after it on the server. (A split mixed in no region agrees with
    ///    the empty candidate after a boundary, or with a window whose members are all on one
    ///    side.) Windows overlap, so X may agree with several candidates; any one will do.
    /// 2. *Delay and memory split over the candidate.* For a split that agrees with c, the delay is
    ///    base(c) + f_c(Y) and the memory baseBytes(c) + m_c(Y), where Y is its partition of Wc:
    ///    layers before Wc are device layers whose gradient is certain (a consumer after Wc), or
    ///    decided inside Wc (an external of c, cut iff a consumer in Wc is on the server), or
    ///    never cut; members pay their resident bytes on the device and their gradient when a
    ///    member consumer is on the server or they feed a layer after Wc (`BlockCostTables`,
    ///    `BlockMemoryTables`). f_c and m_c are exactly the cut functions of Wc's network.
    /// 3. *Each candidate's search is exact and sound.* The budgeted search over Wc's network
    ///    with budget K − baseBytes(c) returns the fastest valid Y with m_c(Y) ≤ K − baseBytes(c)
    ///    (`BudgetedCutSearch`). Conversely every Y it may return, with the free layers before Wc
    ///    on the device and after it on the server, is a valid split (a prefix is closed under
    ///    predecessors, a suffix under successors) of exactly that delay and memory.
    ///
    /// So the optimum is the best over candidates c of base(c) + the search's answer for Wc: by
    /// 1 and 2, X's candidate offers a partition as fast as X; by 3, nothing better than X is
    /// offered. Candidates whose fixed memory already exceeds K are skipped; the others are
    /// priced in O(1) (a cut at a boundary, or the window wholly on one side) and searched in
    /// order of their delay lower bound (valid under any limit: it bounds every partition) until
    /// none can beat the incumbent (pruning, not approximation). The envelopes of the
    /// unconstrained planner are not used here: the budget couples the window's partition to
    /// memory, which a one-parameter envelope of time does not describe. When nothing fits, the
    /// least memory of any valid split is the least over candidates of their fixed memory plus
    /// their window's least memory (a min cut on memory capacities), by 1 and 2 again.
    private func solveBlockWiseUnderLimit(_ conditions: PlanningConditions, memory: DeviceMemoryTerms, limitBytes: Int64) throws -> Bool {
        costs.resize(model.graph.count)
        let fastest = solveBlockWise(conditions)
        if memory.bytes(onDevice: onDevice, graph: model.graph) <= limitBytes { return false }
        var memoryTables = blockMemoryTables ?? BlockMemoryTables(model: model, terms: memory)
        defer { blockMemoryTables = memoryTables }
        let tables = model.blockTables
        let work = blockWorkspace
        let coefficients = PreparedModel.Coefficients(conditions)
        let slack = 1 - Self.pruningTolerance
        var best = Double.infinity
        var bestCandidate = -1
        var bestPlacement = RegionPlacement.allServer
        searchCosts.resize(model.graph.count)
        for index in 0..<tables.boundaryCandidates.count {
            let candidate = Int(tables.boundaryCandidates[index])
            guard memoryTables.baseBytes[candidate] <= limitBytes else { continue }
            let row = tables.boundaryRows[index]
            let cost =
                row.deviceFLOPs * coefficients.deviceSecondsPerFLOP + row.serverFLOPs * coefficients.serverSecondsPerFLOP
                + row.bytes * coefficients.transferSecondsPerByte + row.measuredSecondsPerSample * coefficients.batch
            if cost < best { (best, bestCandidate) = (cost, candidate) }
        }
        work.order.removeAll(keepingCapacity: true)
        for index in 0..<tables.regionCandidates.count {
            let candidate = Int(tables.regionCandidates[index])
            let base = memoryTables.baseBytes[candidate]
            guard base <= limitBytes else { continue }
            work.order.append(Int32(candidate))
            if base + memoryTables.allServerBytes[candidate] <= limitBytes, work.base[candidate] + work.allServer[candidate] < best {
                (best, bestCandidate, bestPlacement) = (work.base[candidate] + work.allServer[candidate], candidate, .allServer)
            }
            if base + memoryTables.allDeviceBytes[candidate] <= limitBytes, work.base[candidate] + work.allDevice[candidate] < best {
                (best, bestCandidate, bestPlacement) = (work.base[candidate] + work.allDevice[candidate], candidate, .allDevice)
            }
        }
        let lower = work.lowerBound
        work.order.sort { lower[$0] < lower[$1] }
        for candidate in work.order {
            let candidate = Int(candidate)
            guard work.lowerBound[candidate] < best * slack else { break }
            let search = regionSearch(candidate)
            fillRegionSeconds(candidate, coefficients)
            search.load(costs: costs, memory: memory)
            let outcome = search.search(
                budgetBytes: limitBytes - memoryTables.baseBytes[candidate],
                cutoffSeconds: best - work.base[candidate], scratch: &searchCosts)
            if outcome.found && work.base[candidate] + outcome.delaySeconds < best {
                (best, bestCandidate, bestPlacement) = (work.base[candidate] + outcome.delaySeconds, candidate, .solved)
            }
        }
        guard bestCandidate >= 0 else {
            throw PlanningError.deviceMemoryExceeded(requiredBytes: minimumBlockMemory(&memoryTables), limitBytes: limitBytes)
        }
        if bestPlacement == .solved { regionSearch(bestCandidate).writeBest(into: &onDevice) }
        writeBlockPartition(
            candidate: bestCandidate, regionPlacement: bestPlacement == .solved ? nil : bestPlacement == .allDevice,
            touched: 0..<0)
        return best > fastest * (1 + Self.memoryBoundTolerance)
    }

    /// The least memory of any valid split, block-wise (see `solveBlockWiseUnderLimit`); caches
    /// each window's least memory in `tables`.
    private func minimumBlockMemory(_ tables: inout BlockMemoryTables) -> Int64 {
        let decomposition = model.decomposition
        var smallest = Int64.max
        for candidate in 0..<decomposition.candidateCount {
            var bytes = tables.baseBytes[candidate]
            if decomposition.candidateEnd[candidate] > decomposition.candidateFirst[candidate] {
                if tables.minimumRegionBytes[candidate] < 0 {
                    let search = regionSearch(candidate)
                    search.load(costs: costs, memory: tables.terms)
                    tables.minimumRegionBytes[candidate] = search.minimumMemory(scratch: &searchCosts)
                }
                bytes += tables.minimumRegionBytes[candidate]
            }
            smallest = min(smallest, bytes)
        }
        return smallest
    }

    /// The budgeted search over candidate `region`'s window (created on first use, sharing its solver).
    private func regionSearch(_ region: Int) -> BudgetedCutSearch {
        if let search = regionSearches[region] { return search }
        let instance = model.regions[region]
        let solver = regionSolvers[region] ?? MaxFlowSolver(topology: instance.topology)
        regionSolvers[region] = solver
        let search = BudgetedCutSearch(instance: instance, solver: solver)
        regionSearches[region] = search
        return search
    }
}
