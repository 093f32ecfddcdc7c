/// Reusable per-candidate buffers of the block-wise planner.
struct BlockScratch {
    var base: [Int64] = []
    var lowerBound: [Int64] = []
    var upperBound: [Int64] = []
    var upperKind: [UInt8] = []
    var slotDevice: [Int64] = []
    var slotServer: [Int64] = []
    var order: [Int32] = []

    mutating func resize(candidates: Int) {
        guard base.count != candidates + 1 else { return }
        base = [Int64](repeating: 0, count: candidates + 1)
        lowerBound = base
        upperBound = base
        upperKind = [UInt8](repeating: 0, count: candidates + 1)
        slotDevice = [Int64](repeating: 0, count: 2 * candidates)
        slotServer = slotDevice
        order.reserveCapacity(candidates)
    }
}

extension SplitPlanner {
    /// How the best candidate's region is placed.
    private enum RegionPlacement: UInt8 { case allServer = 0, allDevice = 1, solved = 2 }

    /// `block`: exact block-wise planning (argument in `BlockDecomposition`).
    ///
    /// Every candidate region c costs base(c) + cut(c), where base(c) sums the device time before
    /// Rc, the server time after it and the transfers certain for c, and cut(c) is Rc's min cut.
    /// cut(c) lies between sum(min(device, server)) and min(all-server, all-device) over Rc, so the
    /// best upper bound is the incumbent and regions are solved in order of their lower bound until
    /// none can beat it. All arithmetic is in the same integer units as `dag`.
    func solveBlockWise() {
        let decomposition = model.decomposition
        let candidates = decomposition.regionCount
        var scratch = blockScratch
        blockScratch = BlockScratch()
        defer { blockScratch = scratch }
        scratch.resize(candidates: candidates)
        let device = costs.deviceUnits, server = costs.serverUnits, transfer = costs.transferUnits
        let slot = decomposition.slot
        let slots = 2 * candidates - 1

        var fixed: Int64 = 0
        for layer in decomposition.forcedDeviceLayers { fixed += device[Int(layer)] }
        for layer in decomposition.forcedServerLayers { fixed += server[Int(layer)] }
        for index in 0..<slots {
            scratch.slotDevice[index] = 0
            scratch.slotServer[index] = 0
        }
        var serverAfter: Int64 = 0
        for layer in decomposition.freeLayers {
            let index = Int(slot[Int(layer)])
            scratch.slotDevice[index] += device[Int(layer)]
            scratch.slotServer[index] += server[Int(layer)]
            serverAfter += server[Int(layer)]
        }
        // Certain transfers as a difference array over candidates.
        for candidate in 0...candidates { scratch.base[candidate] = 0 }
        for (index, layer) in decomposition.certainLayers.enumerated() {
            let amount = transfer[Int(layer)]
            scratch.base[Int(decomposition.certainFirst[index])] += amount
            scratch.base[Int(decomposition.certainLast[index]) + 1] -= amount
        }
        var best = Int64.max
        var bestCandidate = 0
        var bestPlacement = RegionPlacement.allServer
        var certain: Int64 = 0
        var deviceBefore: Int64 = 0
        for candidate in 0..<candidates {
            certain += scratch.base[candidate]
            let regionSlot = 2 * candidate
            serverAfter -= scratch.slotServer[regionSlot]
            let base = fixed + deviceBefore + serverAfter + certain
            var minimum: Int64 = 0
            for member in decomposition.regionList[Int(decomposition.regionStart[candidate])..<Int(decomposition.regionStart[candidate + 1])] {
                minimum += min(device[Int(member)], server[Int(member)])
            }
            var allServer = scratch.slotServer[regionSlot]
            for producer in decomposition.externalList[Int(decomposition.externalStart[candidate])..<Int(decomposition.externalStart[candidate + 1])] {
                allServer += transfer[Int(producer)]
            }
            var allDevice = scratch.slotDevice[regionSlot]
            for member in decomposition.exitList[Int(decomposition.exitStart[candidate])..<Int(decomposition.exitStart[candidate + 1])] {
                allDevice += transfer[Int(member)]
            }
            scratch.base[candidate] = base
            scratch.lowerBound[candidate] = base + minimum
            let upper = base + min(allServer, allDevice)
            scratch.upperBound[candidate] = upper
            if upper < best {
                best = upper
                bestCandidate = candidate
                bestPlacement = allServer <= allDevice ? .allServer : .allDevice
            }
            // Move past Rc and the boundary after it.
            deviceBefore += scratch.slotDevice[regionSlot]
            if regionSlot + 1 < slots {
                deviceBefore += scratch.slotDevice[regionSlot + 1]
                serverAfter -= scratch.slotServer[regionSlot + 1]
            }
        }
        scratch.order.removeAll(keepingCapacity: true)
        for candidate in 0..<candidates
        where scratch.lowerBound[candidate] < best && scratch.lowerBound[candidate] < scratch.upperBound[candidate] {
            scratch.order.append(Int32(candidate))
        }
        if scratch.order.count > 1 {
            let lower = scratch.lowerBound
            scratch.order.sort { lower[Int($0)] < lower[Int($1)] }
        }
        for candidate in scratch.order {
            guard scratch.lowerBound[Int(candidate)] < best else { break }
            let total = scratch.base[Int(candidate)] + solveRegion(Int(candidate))
            if total < best {
                best = total
                bestCandidate = Int(candidate)
                bestPlacement = .solved
            }
        }

        let regionSlot = Int32(2 * bestCandidate)
        onDevice.withUnsafeMutableBufferPointer { onDevice in
            for layer in decomposition.freeLayers {
                let own = slot[Int(layer)]
                if own < regionSlot { onDevice[Int(layer)] = true } else if own > regionSlot { onDevice[Int(layer)] = false }
                else if bestPlacement != .solved { onDevice[Int(layer)] = bestPlacement == .allDevice }
            }
            for layer in decomposition.forcedDeviceLayers { onDevice[Int(layer)] = true }
            for layer in decomposition.forcedServerLayers { onDevice[Int(layer)] = false }
            for (index, layer) in decomposition.followers.enumerated() {
                onDevice[Int(layer)] = onDevice[Int(decomposition.followerProducers[index])]
            }
        }
    }
}
