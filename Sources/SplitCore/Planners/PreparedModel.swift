/// A model graph made ready for repeated planning: profiles resolved per layer, placement rules,
/// the restructured network and the block decomposition, all computed once.
///
/// Immutable and `Sendable`: share one per (graph, profiles, raw-upload setting) across threads,
/// and give each thread its own `SplitPlanner` for the mutable solve buffers.
public final class PreparedModel: Sendable {
    /// The graph.
    public let graph: ModelGraph
    /// Which layers are pinned to a side.
    public let rules: PlacementRules
    /// Measured device times, if any.
    public let deviceProfile: LayerProfile?
    /// Measured server times, if any.
    public let serverProfile: LayerProfile?
    /// Series structure used by the block-wise planner.
    public let decomposition: BlockDecomposition

    /// Per-layer training FLOPs per sample.
    let trainingFLOPs: [Double]
    /// Per-layer measured seconds per sample, or NaN when the profile has no entry.
    let deviceProfileSeconds: [Double]
    let serverProfileSeconds: [Double]
    /// Per-layer output bytes per sample.
    let outputBytes: [Double]
    /// Per-layer parameter bytes.
    let parameterBytes: [Double]
    /// Per-layer activation bytes kept for backward per sample: the device profile's measured
    /// `memory_bytes` per sample, else the output bytes, or 0 for a layer that reaches no model
    /// output (see `DeviceMemoryTerms`).
    let keptBytesPerSample: [Double]
    /// Restructured network over the whole graph (the `dag` planner).
    let wholeGraph: CutInstance
    /// Restructured network per block candidate (the `block` planner).
    let regions: [CutInstance]
    /// Per block candidate: its min cut for every condition, when it has no measured layer.
    let envelopes: [RegionEnvelope?]
    /// Per-candidate cost sums for the `block` planner.
    let blockTables: BlockCostTables
    /// `chain`: the free layers in topological order (its prefixes are the candidate splits).
    let chainOrder: [Int]
    /// `boundary`: the free non-follower layers and the prefix lengths that end at a block boundary.
    let boundaryOrder: [Int]
    let boundaryCuts: [Int]

    /// Prepares `graph` for planning.
    ///
    /// - Throws: `PlanningError.conflictingConstraints` when no valid split exists.
    public convenience init(
        graph: ModelGraph, deviceProfile: LayerProfile? = nil, serverProfile: LayerProfile? = nil,
        allowRawUpload: Bool = false
    ) throws {
        try self.init(
            graph: graph, deviceProfile: deviceProfile, serverProfile: serverProfile, allowRawUpload: allowRawUpload,
            splitEveryRegion: false)
    }

    /// Prepares `graph`; `splitEveryRegion` splits even small regions into windows (tests use it
    /// to exercise windows on graphs small enough for brute force).
    init(
        graph: ModelGraph, deviceProfile: LayerProfile?, serverProfile: LayerProfile?, allowRawUpload: Bool,
        splitEveryRegion: Bool
    ) throws {
        let rules = try PlacementRules(graph: graph, allowRawUpload: allowRawUpload)
        self.graph = graph
        self.rules = rules
        self.deviceProfile = deviceProfile
        self.serverProfile = serverProfile
        trainingFLOPs = graph.layers.map(\.trainingFLOPs)
        outputBytes = graph.layers.map(\.outputBytes)
        parameterBytes = graph.layers.map(\.parameterBytes)
        // Layers from which no model output is reachable never take part in the backward pass.
        var reachesOutput = graph.isOutput
        for layer in stride(from: graph.count - 1, through: 0, by: -1) where !reachesOutput[layer] {
            reachesOutput[layer] = graph.successors(of: layer).contains { reachesOutput[$0] }
        }
        let keptBytesPerSample = (0..<graph.count).map { layer in
            deviceProfile?.memoryBytesPerSample[graph.layers[layer].name] ?? (reachesOutput[layer] ? graph.layers[layer].outputBytes : 0)
        }
        self.keptBytesPerSample = keptBytesPerSample
        let deviceProfileSeconds = graph.layers.map { deviceProfile?.secondsPerSample[$0.name] ?? .nan }
        let serverProfileSeconds = graph.layers.map { serverProfile?.secondsPerSample[$0.name] ?? .nan }
        self.deviceProfileSeconds = deviceProfileSeconds
        self.serverProfileSeconds = serverProfileSeconds
        // Layers that cost nothing anywhere: no compute on either side and no resident device
        // memory (the block planner may place them with their producer, see BlockDecomposition).
        let zeroCompute = (0..<graph.count).map { layer in
            graph.layers[layer].trainingFLOPs == 0
                && !(deviceProfileSeconds[layer] > 0) && !(serverProfileSeconds[layer] > 0)
                && graph.layers[layer].parameterBytes == 0 && keptBytesPerSample[layer] == 0
        }
        wholeGraph = CutInstance(
            graph: graph, members: Array(0..<graph.count), externals: [],
            membership: { .member($0) },
            pinnedDevice: { rules.forcedDevice[$0] }, pinnedServer: { rules.forcedServer[$0] })
        let decomposition = BlockDecomposition(
            graph: graph, rules: rules, hasZeroCompute: zeroCompute,
            splitEveryRegion: splitEveryRegion)
        self.decomposition = decomposition
        let regions = (0..<decomposition.candidateCount).map { candidate in
            CutInstance(
                graph: graph, members: decomposition.members(ofCandidate: candidate),
                externals: decomposition.externals(ofCandidate: candidate),
                membership: { decomposition.membership(of: $0, candidate: candidate, rules: rules) })
        }
        let isMeasured = (0..<graph.count).map { !deviceProfileSeconds[$0].isNaN || !serverProfileSeconds[$0].isNaN }
        self.regions = regions
        var budget = RegionEnvelope.modelBudget
        var workspace = RegionEnvelope.Workspace(layerCount: graph.count)
        var envelopes: [RegionEnvelope?] = []
        for (candidate, instance) in regions.enumerated() {
            envelopes.append(
                RegionEnvelope.build(
                    instance: instance, candidate: candidate, decomposition: decomposition, graph: graph,
                    rules: rules, isMeasured: isMeasured, workspace: &workspace, budget: &budget))
        }
        self.envelopes = envelopes
        chainOrder = (0..<graph.count).filter { rules.isFree($0) }
        (boundaryOrder, boundaryCuts) = Self.boundaryCuts(graph: graph, decomposition: decomposition)
        blockTables = BlockCostTables(
            graph: graph, decomposition: decomposition, rules: rules, regions: regions,
            deviceProfileSeconds: deviceProfileSeconds, serverProfileSeconds: serverProfileSeconds)
    }

    /// Cut positions for the `boundary` baseline: after a decomposition boundary that, when the
    /// graph has block labels, is not inside a block (unlabelled, or the last layer of its block).
    static func boundaryCuts(graph: ModelGraph, decomposition: BlockDecomposition) -> (order: [Int], cuts: [Int]) {
        var lastOfBlock: [String: Int] = [:]
        for layer in 0..<graph.count { if let block = graph.layers[layer].block { lastOfBlock[block] = layer } }
        let free = decomposition.freeLayers.all.map { Int($0) }
        var position = [Int: Int]()
        for (index, layer) in free.enumerated() { position[layer] = index }
        var cuts = [0, free.count]
        for boundary in decomposition.boundaries {
            if let block = graph.layers[boundary].block, lastOfBlock[block] != boundary { continue }
            cuts.append(position[boundary]! + 1)
        }
        return (free, cuts)
    }

    /// Per-iteration time coefficients under `conditions`.
    struct Coefficients {
        let batch: Double
        let deviceSecondsPerFLOP: Double
        let serverSecondsPerFLOP: Double
        let transferSecondsPerByte: Double

        init(_ conditions: PlanningConditions) {
            batch = Double(conditions.batchSize)
            deviceSecondsPerFLOP = batch / conditions.deviceFLOPsPerSecond
            serverSecondsPerFLOP = batch / conditions.serverFLOPsPerSecond
            transferSecondsPerByte =
                batch
                * SplitCost.roundTripSecondsPerByte(
                    uplinkBitsPerSecond: conditions.uplinkBitsPerSecond, downlinkBitsPerSecond: conditions.downlinkBitsPerSecond)
        }
    }

    /// Fills `costs` with every layer's times under `conditions` (seconds and integer units).
    public func computeCosts(_ conditions: PlanningConditions, into costs: inout LayerCosts) {
        costs.resize(graph.count)
        let coefficients = Coefficients(conditions)
        fillSeconds(UnsafeBufferPointer(start: nil, count: 0), allLayers: true, coefficients, into: &costs)
        costs.quantize()
    }

    /// Fills the second-valued costs of `layers` (or of every layer).
    func fillSeconds(_ layers: UnsafeBufferPointer<Int32>, allLayers: Bool, _ coefficients: Coefficients, into costs: inout LayerCosts) {
        let batch = coefficients.batch
        let deviceSecondsPerFLOP = coefficients.deviceSecondsPerFLOP
        let serverSecondsPerFLOP = coefficients.serverSecondsPerFLOP
        let transferSecondsPerByte = coefficients.transferSecondsPerByte
        trainingFLOPs.withUnsafeBufferPointer { flops in
            deviceProfileSeconds.withUnsafeBufferPointer { deviceMeasured in
                serverProfileSeconds.withUnsafeBufferPointer { serverMeasured in
                    outputBytes.withUnsafeBufferPointer { bytes in
                        costs.deviceSeconds.withUnsafeMutableBufferPointer { device in
                            costs.serverSeconds.withUnsafeMutableBufferPointer { server in
                                costs.transferSeconds.withUnsafeMutableBufferPointer { transfer in
                                    @inline(__always) func fill(_ layer: Int) {
                                        device[layer] =
                                            deviceMeasured[layer].isNaN ? flops[layer] * deviceSecondsPerFLOP : deviceMeasured[layer] * batch
                                        server[layer] =
                                            serverMeasured[layer].isNaN ? flops[layer] * serverSecondsPerFLOP : serverMeasured[layer] * batch
                                        transfer[layer] = bytes[layer] * transferSecondsPerByte
                                    }
                                    if allLayers {
                                        for layer in 0..<flops.count { fill(layer) }
                                    } else {
                                        for layer in layers { fill(Int(layer)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
