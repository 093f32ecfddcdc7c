/// Condition-independent sums that let the block planner price every candidate in O(1).
///
/// A layer's device time is `FLOPs × batch / deviceFLOPs` unless the device profile measured it
/// (then `seconds-per-sample × batch`); the same holds on the server, and transfer time is
/// `bytes × 8 × batch × (1/uplink + 1/downlink)`. So any sum of times over a fixed set of layers is
/// a combination of a FLOP sum, a measured-seconds sum and a byte sum, which depend only on the
/// graph and profiles. These tables hold those sums per candidate and per region.
final class BlockCostTables: Sendable {
    /// A set's unprofiled FLOPs and profiled seconds-per-sample on one side.
    struct Side: Sendable {
        var flops: Double = 0
        var measuredSecondsPerSample: Double = 0

        mutating func add(_ other: Side) {
            flops += other.flops
            measuredSecondsPerSample += other.measuredSecondsPerSample
        }

        /// Time of the set for the given seconds per FLOP and batch.
        @inline(__always)
        func seconds(secondsPerFLOP: Double, batch: Double) -> Double {
            flops * secondsPerFLOP + measuredSecondsPerSample * batch
        }
    }

    /// Everything the planner needs about one candidate, contiguous in memory.
    struct CandidateRow: Sendable {
        var deviceBefore = Side()
        var serverAfter = Side()
        var certainBytes = 0.0
        var regionDevice = Side()
        var regionServer = Side()
        var regionFLOPs = 0.0
        var externalBytes = 0.0
        var exitBytes = 0.0
        var separatorBytes = 0.0
        var regionProfiled = false
    }

    /// A candidate whose region is empty: its cost is `deviceFLOPs × deviceRate + serverFLOPs ×
    /// serverRate + bytes × byteRate + measured × batch`.
    struct BoundaryRow: Sendable {
        var deviceFLOPs = 0.0
        var serverFLOPs = 0.0
        var bytes = 0.0
        var measuredSecondsPerSample = 0.0
    }

    /// One row per candidate (the hot loop reads only these).
    let rows: FlatBuffer<CandidateRow>
    /// Candidates with an empty region (a cut exactly at a boundary) and their rows.
    let boundaryCandidates: FlatBuffer<Int32>
    let boundaryRows: FlatBuffer<BoundaryRow>
    /// Candidates whose region holds layers.
    let regionCandidates: FlatBuffer<Int32>
    /// Per candidate c: index into the free layers (topological order) of the first layer of
    /// region c, and of the first layer after it.
    let regionFirstFree: FlatBuffer<Int32>
    let regionEndFree: FlatBuffer<Int32>

    /// Per candidate c: device side of everything before region c (forced-device layers included).
    let deviceBefore: FlatBuffer<Side>
    /// Per candidate c: server side of everything after region c (forced-server layers included).
    let serverAfter: FlatBuffer<Side>
    /// Per candidate c: bytes of the transfers that are certain for c.
    let certainBytes: FlatBuffer<Double>
    /// Per region: its members' device and server sides.
    let regionDevice: FlatBuffer<Side>
    let regionServer: FlatBuffer<Side>
    /// Per region: total FLOPs of its members, and whether any member is profiled.
    let regionFLOPs: FlatBuffer<Double>
    let regionProfiled: FlatBuffer<Bool>
    /// Per region: output bytes of its external producers / of its exiting members.
    let externalBytes: FlatBuffer<Double>
    let exitBytes: FlatBuffer<Double>
    /// Per region: a lower bound on the bytes any partition of the region transfers (beyond the
    /// certain ones): the minimum byte-weighted cut separating the region's device-side producers
    /// from its server-side consumers, rounded down.
    let separatorBytes: FlatBuffer<Double>

    init(graph: ModelGraph, decomposition: BlockDecomposition, rules: PlacementRules, regions: [CutInstance],
         deviceProfileSeconds: [Double], serverProfileSeconds: [Double]) {
        let candidates = decomposition.regionCount
        let slots = 2 * candidates - 1
        func side(_ layer: Int, _ measured: [Double]) -> Side {
            measured[layer].isNaN
                ? Side(flops: graph.layers[layer].trainingFLOPs, measuredSecondsPerSample: 0)
                : Side(flops: 0, measuredSecondsPerSample: measured[layer])
        }
        var slotDevice = [Side](repeating: Side(), count: slots)
        var slotServer = [Side](repeating: Side(), count: slots)
        var forcedDevice = Side(), forcedServer = Side()
        var regionFLOPs = [Double](repeating: 0, count: candidates)
        var regionProfiled = [Bool](repeating: false, count: candidates)
        for layer in 0..<graph.count {
            if rules.forcedDevice[layer] { forcedDevice.add(side(layer, deviceProfileSeconds)) }
            if rules.forcedServer[layer] { forcedServer.add(side(layer, serverProfileSeconds)) }
        }
        for layer in decomposition.freeLayers.all.map({ Int($0) }) {
            let slot = Int(decomposition.slot[layer] as Int32)
            slotDevice[slot].add(side(layer, deviceProfileSeconds))
            slotServer[slot].add(side(layer, serverProfileSeconds))
            if slot % 2 == 0 {
                regionFLOPs[slot / 2] += graph.layers[layer].trainingFLOPs
                if !deviceProfileSeconds[layer].isNaN || !serverProfileSeconds[layer].isNaN { regionProfiled[slot / 2] = true }
            }
        }
        var deviceBefore: [Side] = [], serverAfter = [Side](repeating: Side(), count: candidates)
        var running = forcedDevice
        for candidate in 0..<candidates {
            deviceBefore.append(running)
            running.add(slotDevice[2 * candidate])
            if 2 * candidate + 1 < slots { running.add(slotDevice[2 * candidate + 1]) }
        }
        running = forcedServer
        for candidate in stride(from: candidates - 1, through: 0, by: -1) {
            serverAfter[candidate] = running
            running.add(slotServer[2 * candidate])
            if candidate > 0 { running.add(slotServer[2 * candidate - 1]) }
        }
        var certainDelta = [Double](repeating: 0, count: candidates + 1)
        for index in 0..<decomposition.certainLayers.count {
            let bytes = graph.layers[Int(decomposition.certainLayers[index])].outputBytes
            certainDelta[Int(decomposition.certainFirst[index])] += bytes
            certainDelta[Int(decomposition.certainLast[index]) + 1] -= bytes
        }
        var certainBytes: [Double] = []
        var certain = 0.0
        for candidate in 0..<candidates {
            certain += certainDelta[candidate]
            certainBytes.append(certain)
        }
        func bytes(_ start: FlatBuffer<Int32>, _ list: FlatBuffer<Int32>) -> [Double] {
            (0..<candidates).map { region in
                list.range(start[region], start[region + 1]).reduce(0.0) { $0 + graph.layers[Int($1)].outputBytes }
            }
        }
        self.deviceBefore = FlatBuffer(deviceBefore)
        self.serverAfter = FlatBuffer(serverAfter)
        self.certainBytes = FlatBuffer(certainBytes)
        self.regionDevice = FlatBuffer((0..<candidates).map { slotDevice[2 * $0] })
        self.regionServer = FlatBuffer((0..<candidates).map { slotServer[2 * $0] })
        self.regionFLOPs = FlatBuffer(regionFLOPs)
        self.regionProfiled = FlatBuffer(regionProfiled)
        self.externalBytes = FlatBuffer(bytes(decomposition.externalStart, decomposition.externalList))
        self.exitBytes = FlatBuffer(bytes(decomposition.exitStart, decomposition.exitList))
        self.separatorBytes = FlatBuffer(Self.separatorBytes(graph: graph, regions: regions))
        var rows: [CandidateRow] = []
        for candidate in 0..<candidates {
            rows.append(CandidateRow(
                deviceBefore: deviceBefore[candidate], serverAfter: serverAfter[candidate],
                certainBytes: certainBytes[candidate], regionDevice: slotDevice[2 * candidate],
                regionServer: slotServer[2 * candidate], regionFLOPs: regionFLOPs[candidate],
                externalBytes: self.externalBytes[candidate], exitBytes: self.exitBytes[candidate],
                separatorBytes: self.separatorBytes[candidate], regionProfiled: regionProfiled[candidate]))
        }
        self.rows = FlatBuffer(rows)
        let empty = (0..<candidates).filter { decomposition.regionStart[$0 + 1] == decomposition.regionStart[$0] }
        self.boundaryCandidates = FlatBuffer(empty.map { Int32($0) })
        self.boundaryRows = FlatBuffer(empty.map { candidate in
            let row = rows[candidate]
            return BoundaryRow(
                deviceFLOPs: row.deviceBefore.flops, serverFLOPs: row.serverAfter.flops, bytes: row.certainBytes,
                measuredSecondsPerSample: row.deviceBefore.measuredSecondsPerSample + row.serverAfter.measuredSecondsPerSample)
        })
        self.regionCandidates = FlatBuffer((0..<candidates).filter { decomposition.regionStart[$0 + 1] > decomposition.regionStart[$0] }.map { Int32($0) })
        // Free layers are in topological order, which is also slot order.
        var first = [Int32](repeating: 0, count: candidates), end = [Int32](repeating: 0, count: candidates)
        var index = 0
        let free = decomposition.freeLayers
        for candidate in 0..<candidates {
            while index < free.count && Int(decomposition.slot[free[index]]) < 2 * candidate { index += 1 }
            first[candidate] = Int32(index)
            while index < free.count && Int(decomposition.slot[free[index]]) == 2 * candidate { index += 1 }
            end[candidate] = Int32(index)
        }
        self.regionFirstFree = FlatBuffer(first)
        self.regionEndFree = FlatBuffer(end)
    }

    /// The min cut of each region's network with compute costs zero and transfers in bytes.
    /// Capacities are bytes scaled to the region and rounded down, so the result never exceeds
    /// the true minimum: a valid lower bound for pruning.
    static func separatorBytes(graph: ModelGraph, regions: [CutInstance]) -> [Double] {
        var costs = LayerCosts()
        costs.resize(graph.count)
        return regions.map { instance in
            guard !instance.members.isEmpty else { return 0 }
            var total = 0.0
            for layer in instance.members + instance.externalLayers { total += graph.layers[Int(layer)].outputBytes }
            guard total > 0 else { return 0 }
            let scale = LayerCosts.unitBudget / total
            for layer in instance.members + instance.externalLayers {
                costs.transferUnits[Int(layer)] = Int64((graph.layers[Int(layer)].outputBytes * scale).rounded(.down))
                costs.deviceUnits[Int(layer)] = 0
                costs.serverUnits[Int(layer)] = 0
            }
            let solver = MaxFlowSolver(topology: instance.topology)
            instance.loadCapacities(into: solver, costs: costs)
            return Double(solver.maximumFlow()) / scale
        }
    }
}
