/// Reusable per-candidate buffers of the block-wise planner.
final class BlockWorkspace {
    let base: FlatBuffer<Double>
    let lowerBound: FlatBuffer<Double>
    let upperBound: FlatBuffer<Double>
    /// Region part of the delay with the whole region on the server / on the device.
    let allServer: FlatBuffer<Double>
    let allDevice: FlatBuffer<Double>
    /// Candidates worth a region solve, best lower bound first.
    var order: [Int32] = []
    /// Region solves in the latest plan (for benchmarks and tests).
    var regionSolves = 0
    /// Sides of the best max-flow-cut window's members, kept because windows overlap and a later
    /// cut may overwrite them in `onDevice`.
    let bestSides: FlatBuffer<Bool>

    init(candidates: Int, largestWindow: Int) {
        base = FlatBuffer(repeating: 0, count: candidates)
        lowerBound = FlatBuffer(repeating: 0, count: candidates)
        upperBound = FlatBuffer(repeating: 0, count: candidates)
        allServer = FlatBuffer(repeating: 0, count: candidates)
        allDevice = FlatBuffer(repeating: 0, count: candidates)
        order.reserveCapacity(candidates)
        bestSides = FlatBuffer(repeating: false, count: largestWindow)
    }
}

extension SplitPlanner {
    /// Relative gap below which a region's lower bound cannot improve on the incumbent.
    static let pruningTolerance = 1e-12

    /// How the best candidate's region is placed: on one side, as a max-flow left it, or as a
    /// stored cut of its envelope.
    enum RegionPlacement: Equatable { case allServer, allDevice, solved, envelope(Int) }

    /// `block`: exact block-wise planning (argument in `BlockDecomposition`).
    ///
    /// Every candidate c (a window Wc, or an empty range after a boundary) costs base(c) + cut(c),
    /// where base(c) sums the device time before Wc, the server time after it and the transfers
    /// certain for c, and cut(c) is Wc's min cut. base(c) and the bounds below come from
    /// `BlockCostTables` in O(1) per candidate, without touching individual layers. cut(c) lies
    /// between sum(min(device, server)) over Wc and min(all-server, all-device), so the best upper
    /// bound is the incumbent and windows are cut in order of their lower bound until none can beat
    /// it: priced from their `RegionEnvelope` when they have one (no max-flow), otherwise by exact
    /// integer max-flow. Candidate totals are compared in Double: the optimum matches `dag` to
    /// within `pruningTolerance` relative (tests check 1e-12 on thousands of graphs). Returns the best
    /// total (the delay without the round trip).
    @discardableResult
    func solveBlockWise(_ conditions: PlanningConditions) -> Double {
        let tables = model.blockTables
        let work = blockWorkspace
        let coefficients = PreparedModel.Coefficients(conditions)
        let batch = coefficients.batch
        let deviceRate = coefficients.deviceSecondsPerFLOP
        let serverRate = coefficients.serverSecondsPerFLOP
        let byteRate = coefficients.transferSecondsPerByte
        let cheaperRate = min(deviceRate, serverRate)
        var best = Double.infinity
        var bestCandidate = 0
        var bestPlacement = RegionPlacement.allServer
        // Cuts exactly at a boundary: cost is known, nothing to bound.
        for index in 0..<tables.boundaryCandidates.count {
            let row = tables.boundaryRows.base + index
            let cost =
                row.pointee.deviceFLOPs * deviceRate + row.pointee.serverFLOPs * serverRate
                + row.pointee.bytes * byteRate + row.pointee.measuredSecondsPerSample * batch
            if cost < best {
                best = cost
                bestCandidate = Int(tables.boundaryCandidates[index])
            }
        }
        for index in 0..<tables.regionCandidates.count {
            let candidate = Int(tables.regionCandidates[index])
            let row = tables.rows.base + candidate
            let base =
                row.pointee.deviceBefore.seconds(secondsPerFLOP: deviceRate, batch: batch)
                + row.pointee.serverAfter.seconds(secondsPerFLOP: serverRate, batch: batch)
                + row.pointee.certainBytes * byteRate
            let allServer =
                row.pointee.regionServer.seconds(secondsPerFLOP: serverRate, batch: batch)
                + row.pointee.externalBytes * byteRate
            let allDevice =
                row.pointee.regionDevice.seconds(secondsPerFLOP: deviceRate, batch: batch)
                + row.pointee.exitBytes * byteRate
            work.base[candidate] = base
            work.allServer[candidate] = allServer
            work.allDevice[candidate] = allDevice
            let upper = base + min(allServer, allDevice)
            work.upperBound[candidate] = upper
            let computeMinimum =
                row.pointee.regionProfiled
                ? profiledMinimum(region: candidate, coefficients) : row.pointee.regionFLOPs * cheaperRate
            work.lowerBound[candidate] = base + computeMinimum + row.pointee.separatorBytes * byteRate
            if upper < best {
                best = upper
                bestCandidate = candidate
                bestPlacement = allServer <= allDevice ? .allServer : .allDevice
            }
        }
        // A region is worth solving only if its bound beats both the incumbent and its own upper
        // bound by more than rounding noise (relative 1e-12, far inside the 1e-6 contract).
        let slack = 1 - Self.pruningTolerance
        work.order.removeAll(keepingCapacity: true)
        for index in 0..<tables.regionCandidates.count {
            let candidate = tables.regionCandidates[index]
            if work.lowerBound[candidate] < min(best, work.upperBound[candidate]) * slack { work.order.append(candidate) }
        }
        if work.order.count > 1 {
            let lower = work.lowerBound
            work.order.sort { lower[$0] < lower[$1] }
        }
        work.regionSolves = 0
        // Free-layer range whose sides region solves overwrote (they must be rewritten below).
        var touchedLow = Int.max, touchedHigh = Int.min
        var lastSolved = -1
        for candidate in work.order {
            guard work.lowerBound[candidate] < best * slack else { break }
            work.regionSolves += 1
            let total: Double
            let placement: RegionPlacement
            if let envelope = model.envelopes[Int(candidate)] {
                let cut = envelope.cheapest(deviceSecondsPerFLOP: deviceRate, serverSecondsPerFLOP: serverRate, secondsPerByte: byteRate)
                total = work.base[candidate] + cut.seconds
                placement = .envelope(cut.cut)
            } else {
                touchedLow = min(touchedLow, Int(tables.regionFirstFree[candidate]))
                touchedHigh = max(touchedHigh, Int(tables.regionEndFree[candidate]))
                total = work.base[candidate] + solveRegion(Int(candidate), coefficients)
                placement = .solved
                lastSolved = Int(candidate)
            }
            if total < best {
                best = total
                bestCandidate = Int(candidate)
                bestPlacement = placement
                if placement == .solved { copySides(of: bestCandidate, toWorkspace: true) }
            }
        }
        // Windows overlap: a later max-flow may have overwritten the best one's layers.
        if bestPlacement == .solved && lastSolved != bestCandidate { copySides(of: bestCandidate, toWorkspace: false) }
        if case .envelope(let cut) = bestPlacement {
            writeEnvelopeCut(candidate: bestCandidate, cut: cut)
            touchedLow = min(touchedLow, Int(tables.regionFirstFree[bestCandidate]))
            touchedHigh = max(touchedHigh, Int(tables.regionEndFree[bestCandidate]))
        }
        let regionPlacement: Bool? =
            switch bestPlacement {
            case .allServer: false
            case .allDevice: true
            case .solved, .envelope: nil
            }
        writeBlockPartition(candidate: bestCandidate, regionPlacement: regionPlacement, touched: touchedLow..<max(touchedLow, touchedHigh))
        return best
    }

    /// Copies candidate `candidate`'s members' sides from `onDevice` into the workspace, or back.
    private func copySides(of candidate: Int, toWorkspace: Bool) {
        let members = model.regions[candidate].members
        let saved = blockWorkspace.bestSides
        onDevice.withUnsafeMutableBufferPointer { onDevice in
            for local in 0..<members.count {
                if toWorkspace { saved[local] = onDevice[Int(members[local])] } else { onDevice[Int(members[local])] = saved[local] }
            }
        }
    }

    /// Writes stored cut `cut` of candidate `candidate`'s envelope into its members' sides.
    private func writeEnvelopeCut(candidate: Int, cut: Int) {
        guard let envelope = model.envelopes[candidate] else { return }
        let members = model.regions[candidate].members
        let offset = cut * envelope.memberCount
        onDevice.withUnsafeMutableBufferPointer { onDevice in
            for local in 0..<members.count { onDevice[Int(members[local])] = envelope.sides[offset + local] }
        }
    }

    /// Writes the partition of candidate `candidate` into `onDevice`: free layers before its region
    /// on the device, after it on the server, the region's own layers all on one side (or as the
    /// region solve left them when `regionPlacement` is nil). Free layers are stored in topological order,
    /// so only the layers between the previous block partition's region and this one change, plus
    /// the `touched` range that this plan's region solves overwrote.
    func writeBlockPartition(candidate: Int, regionPlacement: Bool?, touched: Range<Int>) {
        let decomposition = model.decomposition
        let tables = model.blockTables
        let free = decomposition.freeLayers
        let first = Int(tables.regionFirstFree[candidate])
        let end = Int(tables.regionEndFree[candidate])
        var low = 0, high = free.count
        if let previous = lastBlockRegion {
            low = min(first, previous.first)
            high = max(end, previous.end)
            if !touched.isEmpty {
                low = min(low, touched.lowerBound)
                high = max(high, touched.upperBound)
            }
        }
        onDevice.withUnsafeMutableBufferPointer { onDevice in
            if lastBlockRegion == nil {
                for layer in decomposition.forcedDeviceLayers.all { onDevice[Int(layer)] = true }
                for layer in decomposition.forcedServerLayers.all { onDevice[Int(layer)] = false }
            }
            for index in low..<first { onDevice[Int(free[index])] = true }
            for index in end..<high { onDevice[Int(free[index])] = false }
            if let regionPlacement {
                for index in first..<end { onDevice[Int(free[index])] = regionPlacement }
            }
            for index in 0..<decomposition.followers.count {
                onDevice[Int(decomposition.followers[index])] = onDevice[Int(decomposition.followerProducers[index])]
            }
        }
        lastBlockRegion = (first, end)
    }

    /// Sum over region members of min(device, server) time, when some member is profiled.
    private func profiledMinimum(region: Int, _ coefficients: PreparedModel.Coefficients) -> Double {
        let instance = model.regions[region]
        instance.members.withUnsafeBufferPointer { model.fillSeconds($0, allLayers: false, coefficients, into: &costs) }
        var minimum = 0.0
        for layer in instance.members { minimum += min(costs.deviceSeconds[Int(layer)], costs.serverSeconds[Int(layer)]) }
        return minimum
    }

    /// Solves region `region`'s min cut on integer costs scaled to the region, writes its
    /// members' sides into `onDevice`, and returns the cut's cost in seconds.
    func solveRegion(_ region: Int, _ coefficients: PreparedModel.Coefficients) -> Double {
        let instance = model.regions[region]
        let solver = regionSolvers[region] ?? MaxFlowSolver(topology: instance.topology)
        regionSolvers[region] = solver
        fillRegionSeconds(region, coefficients)
        let scale = instance.members.withUnsafeBufferPointer { members in
            instance.externalLayers.withUnsafeBufferPointer { externals in
                costs.quantize(members: members, transferOnly: externals)
            }
        }
        let cut = instance.solve(with: solver, costs: costs, onDevice: &onDevice)
        return Double(cut) / scale
    }

    /// Fills the second-valued costs of region `region`'s members and external producers.
    func fillRegionSeconds(_ region: Int, _ coefficients: PreparedModel.Coefficients) {
        let instance = model.regions[region]
        instance.members.withUnsafeBufferPointer { model.fillSeconds($0, allLayers: false, coefficients, into: &costs) }
        instance.externalLayers.withUnsafeBufferPointer { model.fillSeconds($0, allLayers: false, coefficients, into: &costs) }
    }
}
