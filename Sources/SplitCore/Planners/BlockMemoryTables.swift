/// Per-candidate device-memory sums of the block planner, for one batch size and optimizer.
///
/// M(D) has the shape of the delay (a term per device layer, a term per cut layer; see
/// `DeviceMemoryTerms`), so it splits over the series decomposition exactly as the delay does in
/// `BlockCostTables`: for candidate region c, M = base(c) + the region's own part, where base(c)
/// sums the resident bytes of every layer before Rc (forced device layers included) and the
/// gradients of the layers that are cut layers for every split of candidate c (a device layer
/// before Rc with a consumer after it). Followers hold no memory and are never cut layers.
struct BlockMemoryTables {
    /// The terms the tables were built from.
    let terms: DeviceMemoryTerms
    /// Per candidate: memory that every split of candidate c needs.
    let baseBytes: [Int64]
    /// Per candidate: region part with the whole region on the device (its members' resident
    /// bytes and the gradients of members that feed later layers).
    let allDeviceBytes: [Int64]
    /// Per candidate: region part with the whole region on the server (the gradients of its
    /// external producers).
    let allServerBytes: [Int64]
    /// Per candidate: least region part of any partition, or -1 until computed.
    var minimumRegionBytes: [Int64]

    init(model: PreparedModel, terms: DeviceMemoryTerms) {
        let decomposition = model.decomposition
        let candidates = decomposition.regionCount
        var slotResident = [Int64](repeating: 0, count: 2 * candidates - 1)
        var forcedResident: Int64 = 0
        for layer in decomposition.forcedDeviceLayers.all { forcedResident += terms.residentBytes[Int(layer)] }
        for layer in decomposition.freeLayers.all {
            slotResident[Int(decomposition.slot[Int(layer)])] += terms.residentBytes[Int(layer)]
        }
        var certainDelta = [Int64](repeating: 0, count: candidates + 1)
        for index in 0..<decomposition.certainLayers.count {
            let bytes = terms.gradientBytes[Int(decomposition.certainLayers[index])]
            certainDelta[Int(decomposition.certainFirst[index])] += bytes
            certainDelta[Int(decomposition.certainLast[index]) + 1] -= bytes
        }
        func gradients(_ start: FlatBuffer<Int32>, _ list: FlatBuffer<Int32>, _ region: Int) -> Int64 {
            list.range(start[region], start[region + 1]).reduce(0) { $0 + terms.gradientBytes[Int($1)] }
        }
        var base: [Int64] = [], allDevice: [Int64] = [], allServer: [Int64] = []
        var before = forcedResident, certain: Int64 = 0
        for candidate in 0..<candidates {
            certain += certainDelta[candidate]
            base.append(before + certain)
            allDevice.append(slotResident[2 * candidate] + gradients(decomposition.exitStart, decomposition.exitList, candidate))
            allServer.append(gradients(decomposition.externalStart, decomposition.externalList, candidate))
            before += slotResident[2 * candidate]
            if 2 * candidate + 1 < slotResident.count { before += slotResident[2 * candidate + 1] }
        }
        self.terms = terms
        baseBytes = base
        allDeviceBytes = allDevice
        allServerBytes = allServer
        minimumRegionBytes = [Int64](repeating: -1, count: candidates)
    }
}
