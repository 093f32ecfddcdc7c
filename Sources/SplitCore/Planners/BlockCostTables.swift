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

    init(
        graph: ModelGraph, decomposition: BlockDecomposition, rules: PlacementRules, regions: [CutInstance],
        deviceProfileSeconds: [Double], serverProfileSeconds: [Double]
    ) {
        let candidates = decomposition.candidateCount
        func side(_ layer: Int, _ measured: [Double]) -> Side {
            measured[layer].isNaN
                ? Side(flops: graph.layers[layer].trainingFLOPs, measuredSecondsPerSample: 0)
                : Side(flops: 0, measuredSecondsPerSample: measured[layer])
        }
        var forcedDevice = Side(), forcedServer = Side()
        for layer in 0..<graph.count {
            if rules.forcedDevice[layer] { forcedDevice.add(side(layer, deviceProfileSeconds)) }
            if rules.forcedServer[layer] { forcedServer.add(side(layer, serverProfileSeconds)) }
        }
        // Device side of the free layers before each position, server side from it on.
        let free = decomposition.freeLayers.all.map { Int($0) }
        var prefixDevice = [forcedDevice], suffixServer = [Side](repeating: forcedServer, count: free.count + 1)
        for layer in free {
            var next = prefixDevice[prefixDevice.count - 1]
            next.add(side(layer, deviceProfileSeconds))
            prefixDevice.append(next)
        }
        for index in stride(from: free.count - 1, through: 0, by: -1) {
            suffixServer[index] = suffixServer[index + 1]
            suffixServer[index].add(side(free[index], serverProfileSeconds))
        }
        var deviceBefore: [Side] = [], serverAfter: [Side] = []
        var regionDevice: [Side] = [], regionServer: [Side] = []
        var regionFLOPs: [Double] = [], regionProfiled: [Bool] = []
        for candidate in 0..<candidates {
            let first = Int(decomposition.candidateFirst[candidate]), end = Int(decomposition.candidateEnd[candidate])
            deviceBefore.append(prefixDevice[first])
            serverAfter.append(suffixServer[end])
            var device = Side(), server = Side(), flops = 0.0, profiled = false
            for layer in free[first..<end] {
                device.add(side(layer, deviceProfileSeconds))
                server.add(side(layer, serverProfileSeconds))
                flops += graph.layers[layer].trainingFLOPs
                if !deviceProfileSeconds[layer].isNaN || !serverProfileSeconds[layer].isNaN { profiled = true }
            }
            regionDevice.append(device)
            regionServer.append(server)
            regionFLOPs.append(flops)
            regionProfiled.append(profiled)
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
        self.regionDevice = FlatBuffer(regionDevice)
        self.regionServer = FlatBuffer(regionServer)
        self.regionFLOPs = FlatBuffer(regionFLOPs)
        self.regionProfiled = FlatBuffer(regionProfiled)
        self.externalBytes = FlatBuffer(bytes(decomposition.externalStart, decomposition.externalList))
        self.exitBytes = FlatBuffer(bytes(decomposition.exitStart, decomposition.exitList))
        self.separatorBytes = FlatBuffer(Self.separatorBytes(graph: graph, regions: regions))
        var rows: [CandidateRow] = []
        for candidate in 0..<candidates {
            rows.append(
                CandidateRow(
                    deviceBefore: deviceBefore[candidate], serverAfter: serverAfter[candidate],
                    certainBytes: certainBytes[candidate], regionDevice: regionDevice[candidate],
                    regionServer: regionServer[candidate], regionFLOPs: regionFLOPs[candidate],
                    externalBytes: self.externalBytes[candidate], exitBytes: self.exitBytes[candidate],
                    separatorBytes: self.separatorBytes[candidate], regionProfiled: regionProfiled[candidate]))
        }
        self.rows = FlatBuffer(rows)
        let empty = (0..<candidates).filter { decomposition.candidateEnd[$0] == decomposition.candidateFirst[$0] }
        self.boundaryCandidates = FlatBuffer(empty.map { Int32($0) })
        self.boundaryRows = FlatBuffer(
            empty.map { candidate in
                let row = rows[candidate]
                return BoundaryRow(
                    deviceFLOPs: row.deviceBefore.flops, serverFLOPs: row.serverAfter.flops, bytes: row.certainBytes,
                    measuredSecondsPerSample: row.deviceBefore.measuredSecondsPerSample + row.serverAfter.measuredSecondsPerSample)
            })
        self.regionCandidates = FlatBuffer(
            (0..<candidates).filter { decomposition.candidateEnd[$0] > decomposition.candidateFirst[$0] }.map { Int32($0) })
        self.regionFirstFree = FlatBuffer(decomposition.candidateFirst.all.map { $0 })
        self.regionEndFree = FlatBuffer(decomposition.candidateEnd.all.map { $0 })
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
