/// Per-candidate device-memory sums of the block planner, for one batch size and optimizer.
///
/// M(D) has the shape of the delay (a term per device layer, a term per cut layer; see
/// `DeviceMemoryTerms`), so it splits over the candidates exactly as the delay does in
/// `BlockCostTables`: for candidate c (window Wc, or an empty range after a boundary), M =
/// base(c) + the window's own part, where base(c) sums the resident bytes of every layer before
/// Wc (forced device layers included) and the gradients of the layers that are cut layers for
/// every split of candidate c (a device layer before Wc with a consumer after it). Followers hold
/// no memory and are never cut layers.
struct BlockMemoryTables {
    /// The terms the tables were built from.
    let terms: DeviceMemoryTerms
    /// Per candidate: memory that every split of candidate c needs.
    let baseBytes: [Int64]
    /// Per candidate: window part with the whole window on the device (its members' resident
    /// bytes and the gradients of members that feed later layers).
    let allDeviceBytes: [Int64]
    /// Per candidate: window part with the whole window on the server (the gradients of its
    /// external producers).
    let allServerBytes: [Int64]
    /// Per candidate: least window part of any partition, or -1 until computed.
    var minimumRegionBytes: [Int64]

    init(model: PreparedModel, terms: DeviceMemoryTerms) {
        let decomposition = model.decomposition
        let candidates = decomposition.candidateCount
        // Resident bytes of the forced device layers and of the free layers before each position.
        var forcedResident: Int64 = 0
        for layer in decomposition.forcedDeviceLayers.all { forcedResident += terms.residentBytes[Int(layer)] }
        var prefixResident: [Int64] = [forcedResident]
        for layer in decomposition.freeLayers.all {
            prefixResident.append(prefixResident[prefixResident.count - 1] + terms.residentBytes[Int(layer)])
        }
        var certainDelta = [Int64](repeating: 0, count: candidates + 1)
        for index in 0..<decomposition.certainLayers.count {
            let bytes = terms.gradientBytes[Int(decomposition.certainLayers[index])]
            certainDelta[Int(decomposition.certainFirst[index])] += bytes
            certainDelta[Int(decomposition.certainLast[index]) + 1] -= bytes
        }
        func gradients(_ start: FlatBuffer<Int32>, _ list: FlatBuffer<Int32>, _ candidate: Int) -> Int64 {
            list.range(start[candidate], start[candidate + 1]).reduce(0) { $0 + terms.gradientBytes[Int($1)] }
        }
        var base: [Int64] = [], allDevice: [Int64] = [], allServer: [Int64] = []
        var certain: Int64 = 0
        for candidate in 0..<candidates {
            let first = Int(decomposition.candidateFirst[candidate]), end = Int(decomposition.candidateEnd[candidate])
            certain += certainDelta[candidate]
            base.append(prefixResident[first] + certain)
            allDevice.append(
                prefixResident[end] - prefixResident[first]
                    + gradients(decomposition.exitStart, decomposition.exitList, candidate))
            allServer.append(gradients(decomposition.externalStart, decomposition.externalList, candidate))
        }
        self.terms = terms
        baseBytes = base
        allDeviceBytes = allDevice
        allServerBytes = allServer
        minimumRegionBytes = [Int64](repeating: -1, count: candidates)
    }
}
