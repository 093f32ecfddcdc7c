extension SplitPlanner {
    /// `chain`: Neurosurgeon-style. Layers in topological order; the device part is the pinned
    /// device layers plus a prefix of the free layers; the best prefix under the same cost formula
    /// (that fits `limit`, when given). Returns whether the limit binds.
    @discardableResult
    func solveChain(memory: DeviceMemoryTerms? = nil, limitBytes: Int64? = nil) throws -> Bool {
        let bound = try placeBestPrefix(of: model.chainOrder, allowedCuts: nil, memory: memory, limitBytes: limitBytes, algorithm: .chain)
        placeForced()
        return bound
    }

    /// `boundary`: like `chain`, but the device part may only end at a block boundary: a boundary
    /// layer of the decomposition that, when the graph has block labels, is not inside a block
    /// (unlabelled, or the last layer of its block). The layers of a block are never split.
    /// Returns whether `limit` binds.
    @discardableResult
    func solveBoundary(memory: DeviceMemoryTerms? = nil, limitBytes: Int64? = nil) throws -> Bool {
        let bound = try placeBestPrefix(
            of: model.boundaryOrder, allowedCuts: model.boundaryCuts, memory: memory,
            limitBytes: limitBytes, algorithm: .boundary)
        placeForced()
        placeFollowers()
        return bound
    }

    /// `server-only`: the smallest valid device part (only what the rules pin there).
    func solveServerOnly() {
        let forcedDevice = model.decomposition.forcedDeviceLayers
        onDevice.withUnsafeMutableBufferPointer { onDevice in
            onDevice.update(repeating: false)
            for layer in forcedDevice.all { onDevice[Int(layer)] = true }
        }
    }

    /// Puts `order[0..<L]` on the device and the rest on the server for the best L (in
    /// `allowedCuts`, or any). Layers outside `order` keep their side; consumers outside `order`
    /// that are not forced onto the server are treated as device-side (followers, which follow).
    /// With a limit, only prefixes whose device memory fits are candidates (memory per prefix is
    /// built exactly like the delay: resident bytes per device layer, gradients per cut layer);
    /// returns whether the limit excludes the best prefix.
    private func placeBestPrefix(
        of order: [Int], allowedCuts: [Int]?, memory: DeviceMemoryTerms?, limitBytes: Int64?,
        algorithm: PlanningAlgorithm
    ) throws -> Bool {
        let graph = model.graph
        let rules = model.rules
        let count = order.count
        var position = [Int32](repeating: -1, count: graph.count)
        for (index, layer) in order.enumerated() { position[layer] = Int32(index) }
        // cost[L] for L in 0...count, built from difference arrays.
        var delta = [Double](repeating: 0, count: count + 2)
        var memoryDelta = [Int64](repeating: 0, count: limitBytes == nil ? 0 : count + 2)
        let resident = memory?.residentBytes ?? [], gradient = memory?.gradientBytes ?? []
        var fixed = 0.0
        var fixedMemory: Int64 = 0
        for layer in 0..<graph.count {
            if rules.forcedDevice[layer] {
                fixed += costs.deviceSeconds[layer]
            } else if rules.forcedServer[layer] {
                fixed += costs.serverSeconds[layer]
            }
            if rules.forcedDevice[layer] && !memoryDelta.isEmpty { fixedMemory += resident[layer] }
        }
        var serverAll = 0.0
        for layer in order { serverAll += costs.serverSeconds[layer] }
        // Moving layer i to the device changes the cost for every L > i.
        for (index, layer) in order.enumerated() { delta[index + 1] += costs.deviceSeconds[layer] - costs.serverSeconds[layer] }
        if !memoryDelta.isEmpty {
            for (index, layer) in order.enumerated() { memoryDelta[index + 1] += resident[layer] }
        }
        // Transfers: a device-side producer pays when it has a consumer on the server.
        for layer in 0..<graph.count where rules.forcedDevice[layer] || position[layer] >= 0 {
            var latest = -1
            var feedsServer = false
            for consumer in graph.successors(of: layer) {
                if rules.forcedServer[consumer] { feedsServer = true }
                latest = max(latest, Int(position[consumer]))
            }
            let firstOnDevice = position[layer] >= 0 ? Int(position[layer]) + 1 : 0
            let lastPaying = feedsServer ? count : latest
            guard lastPaying >= firstOnDevice else { continue }
            delta[firstOnDevice] += costs.transferSeconds[layer]
            delta[lastPaying + 1] -= costs.transferSeconds[layer]
            if !memoryDelta.isEmpty {
                memoryDelta[firstOnDevice] += gradient[layer]
                memoryDelta[lastPaying + 1] -= gradient[layer]
            }
        }
        var cost = [Double](repeating: 0, count: count + 1)
        var running = fixed + serverAll
        for cut in 0...count {
            running += delta[cut]
            cost[cut] = running
        }
        func better(_ a: Int, _ b: Int) -> Bool { cost[a] < cost[b] || (cost[a] == cost[b] && a < b) }
        let candidates = allowedCuts ?? Array(0...count)
        var bestCut = candidates.min(by: better) ?? 0
        var bound = false
        if let limitBytes {
            var bytes = [Int64](repeating: 0, count: count + 1)
            var runningBytes = fixedMemory
            for cut in 0...count {
                runningBytes += memoryDelta[cut]
                bytes[cut] = runningBytes
            }
            guard let fitting = candidates.filter({ bytes[$0] <= limitBytes }).min(by: better) else {
                throw PlanningError.noCandidateWithinMemory(algorithm: algorithm.rawValue, limitBytes: limitBytes)
            }
            bound = cost[fitting] > cost[bestCut] * (1 + Self.memoryBoundTolerance)
            bestCut = fitting
        }
        for (index, layer) in order.enumerated() { onDevice[layer] = index < bestCut }
        return bound
    }

    /// `brute`: every valid partition of the free layers, evaluated with the Double cost model;
    /// with a limit, the fastest whose memory fits. Returns whether the limit binds.
    @discardableResult
    func solveBruteForce(conditions: PlanningConditions, memory: DeviceMemoryTerms? = nil, limitBytes: Int64? = nil) throws -> Bool {
        let graph = model.graph
        let rules = model.rules
        let free = (0..<graph.count).filter { rules.isFree($0) }
        guard free.count <= Self.bruteForceLimit else {
            throw PlanningError.tooManyFreeLayers(count: free.count, limit: Self.bruteForceLimit)
        }
        placeForced()
        var best = Double.infinity, fastest = Double.infinity
        var smallestMemory = Int64.max
        var bestAssignment = onDevice
        // Depth-first over free layers in topological order; a layer may join the device part
        // only if all its producers are there, which enumerates exactly the valid partitions.
        func visit(_ index: Int) {
            if index == free.count {
                let delay = model.evaluate(onDevice: onDevice, costs: costs, conditions: conditions).breakdown.totalSeconds
                fastest = min(fastest, delay)
                if let memory, let limitBytes {
                    let bytes = memory.bytes(onDevice: onDevice, graph: graph)
                    smallestMemory = min(smallestMemory, bytes)
                    guard bytes <= limitBytes else { return }
                }
                if delay < best {
                    best = delay
                    bestAssignment = onDevice
                }
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
        if let limitBytes, best == .infinity {
            throw PlanningError.deviceMemoryExceeded(requiredBytes: smallestMemory, limitBytes: limitBytes)
        }
        onDevice = bestAssignment
        return best > fastest * (1 + Self.memoryBoundTolerance)
    }
}
