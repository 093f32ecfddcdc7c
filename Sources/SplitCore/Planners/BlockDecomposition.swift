/// The series structure the block-wise planner collapses: boundary layers and the regions between.
///
/// ## Why the block-wise optimum is exact
/// Layers fall into four kinds: forced onto the device (inputs, raw-input readers and their
/// ancestors), forced onto the server (outputs and their descendants), *followers* and the *free*
/// rest. A follower is a layer that costs nothing (no compute on either side, no resident device
/// memory r_v) with exactly one producer and only followers as consumers (assertion and guard
/// nodes of traced graphs). Moving every follower to its producer's side never raises the delay
/// nor the device memory M(D): it adds no compute and no memory, a follower never becomes a cut
/// layer (its consumers move with it), and its producer can only stop being one. So for any split,
/// with or without a memory limit, an equally good one places followers with their producers,
/// and followers can be left out and put back at the end.
///
/// A *boundary* is a free layer that is comparable with every other free layer: each is its
/// ancestor or its descendant. In a topological order of the free layers this means every layer
/// before it reaches it and every layer after it is reached from it, which is checked in linear
/// time with prefix maxima and suffix minima. Boundaries b1 < ... < bk cut the free layers into
/// regions R0, b1, R1, ..., bk, Rk. In a valid split the device part is closed under ancestors and
/// the server part under descendants, so if bj is the first boundary on the server, b(j-1) and
/// everything before it are on the device, bj and everything after are on the server, and only
/// R(j-1) can be mixed. The optimum is therefore the best, over the k+1 candidate regions c, of
/// (device time of everything before Rc) + (server time of everything after) + (transfers that
/// are certain: a device layer before Rc with a consumer after it) + (min cut of Rc alone, with
/// layers before it fixed on the device and after it fixed on the server). The last term is solved
/// by a small restructured max-flow; a region's cut costs at least the sum over its layers of
/// min(device, server) time, which bounds candidates from below, so regions whose bound cannot beat
/// the best known plan are never solved (branch and bound — pruning, not approximation).
public final class BlockDecomposition: Sendable {
    /// Layers the block planner places by their producer (see type documentation).
    public let isFollower: [Bool]
    /// Boundary layers in topological order.
    public let boundaries: [Int]
    /// Slot of each free layer: region c has slot 2c, boundary bi slot 2i-1; -1 for other layers.
    let slot: FlatBuffer<Int32>
    /// Free non-follower layers in topological order.
    let freeLayers: FlatBuffer<Int32>
    /// Forced layers: onto the device / onto the server.
    let forcedDeviceLayers: FlatBuffer<Int32>
    let forcedServerLayers: FlatBuffer<Int32>
    /// Followers in topological order, with their single producer.
    let followers: FlatBuffer<Int32>
    let followerProducers: FlatBuffer<Int32>
    /// Members of region c: `regionList[regionStart[c]..<regionStart[c+1]]`, topological order.
    let regionStart: FlatBuffer<Int32>
    let regionList: FlatBuffer<Int32>
    /// Device-side producers whose transfer is decided inside region c (they feed it, nothing later).
    let externalStart: FlatBuffer<Int32>
    let externalList: FlatBuffer<Int32>
    /// Members of region c that also feed a layer after it (pay their transfer when on the device).
    let exitStart: FlatBuffer<Int32>
    let exitList: FlatBuffer<Int32>
    /// Layers whose transfer is certainly paid for candidates `certainFirst...certainLast`.
    let certainLayers: FlatBuffer<Int32>
    let certainFirst: FlatBuffer<Int32>
    let certainLast: FlatBuffer<Int32>

    /// Number of candidate regions (boundaries + 1).
    public var regionCount: Int { boundaries.count + 1 }
    /// Number of regions that hold at least one layer.
    public var nonEmptyRegionCount: Int { (0..<regionCount).filter { regionStart[$0 + 1] > regionStart[$0] }.count }
    /// Size of the largest region.
    public var largestRegion: Int { (0..<regionCount).map { Int(regionStart[$0 + 1] - regionStart[$0]) }.max() ?? 0 }
    /// Members of region `region` in topological order.
    public func members(ofRegion region: Int) -> [Int] {
        regionList.range(regionStart[region], regionStart[region + 1]).map { Int($0) }
    }
    /// External producers of region `region`.
    func externals(ofRegion region: Int) -> [Int] {
        externalList.range(externalStart[region], externalStart[region + 1]).map { Int($0) }
    }

    /// Derives the decomposition. `hasZeroCompute[v]` tells whether v costs nothing: no compute on
    /// either side and no resident device memory.
    init(graph: ModelGraph, rules: PlacementRules, hasZeroCompute: [Bool]) {
        let count = graph.count
        var isFollower = [Bool](repeating: false, count: count)
        for layer in stride(from: count - 1, through: 0, by: -1)
        where rules.isFree(layer) && hasZeroCompute[layer] && graph.predecessors(of: layer).count == 1 {
            isFollower[layer] = graph.successors(of: layer).allSatisfy { isFollower[$0] }
        }
        let free = (0..<count).filter { rules.isFree($0) && !isFollower[$0] }
        var position = [Int32](repeating: -1, count: count)
        for (index, layer) in free.enumerated() { position[layer] = Int32(index) }

        // latestProducer[i]: latest free producer of free layer i (-1 if none);
        // earliestConsumer[i]: earliest free consumer (free.count if none).
        let freeCount = free.count
        var latestProducer = [Int32](repeating: -1, count: freeCount)
        var earliestConsumer = [Int32](repeating: Int32(freeCount), count: freeCount)
        for (index, layer) in free.enumerated() {
            for producer in graph.predecessors(of: layer) where position[producer] >= 0 {
                latestProducer[index] = max(latestProducer[index], position[producer])
            }
            for consumer in graph.successors(of: layer) where position[consumer] >= 0 {
                earliestConsumer[index] = min(earliestConsumer[index], position[consumer])
            }
        }
        // Free layer i is a boundary iff every later free layer has a free producer at or after i
        // (so it descends from i) and every earlier one has a free consumer at or before i.
        var suffixMinimumProducer = [Int32](repeating: Int32.max, count: freeCount + 1)
        for index in stride(from: freeCount - 1, through: 0, by: -1) {
            suffixMinimumProducer[index] = min(suffixMinimumProducer[index + 1], latestProducer[index])
        }
        var boundaries: [Int] = []
        var prefixMaximumConsumer: Int32 = -1
        for index in 0..<freeCount {
            if suffixMinimumProducer[index + 1] >= Int32(index) && prefixMaximumConsumer <= Int32(index) {
                boundaries.append(free[index])
            }
            prefixMaximumConsumer = max(prefixMaximumConsumer, earliestConsumer[index])
        }

        let regionCount = boundaries.count + 1
        var slot = [Int32](repeating: -1, count: count)
        var regionMembers = [[Int32]](repeating: [], count: regionCount)
        var boundariesSeen: Int32 = 0
        var nextBoundary = 0
        for layer in free {
            if nextBoundary < boundaries.count && boundaries[nextBoundary] == layer {
                nextBoundary += 1
                boundariesSeen += 1
                slot[layer] = 2 * boundariesSeen - 1
            } else {
                slot[layer] = 2 * boundariesSeen
                regionMembers[Int(boundariesSeen)].append(Int32(layer))
            }
        }

        // Transfers of device-side producers (free, or forced onto the device) per candidate c:
        // the producer is before Rc iff slot < 2c; it certainly pays iff it also feeds a layer
        // after Rc (slot > 2c, or forced onto the server); if instead its latest consumer is in Rc
        // it is an external of Rc.
        let lastCandidate = Int32(boundaries.count)
        var certainLayers: [Int32] = [], certainFirst: [Int32] = [], certainLast: [Int32] = []
        var regionExternals = [[Int32]](repeating: [], count: regionCount)
        var regionExits = [[Int32]](repeating: [], count: regionCount)
        for layer in 0..<count where rules.forcedDevice[layer] || slot[layer] >= 0 {
            var latestConsumerSlot: Int32 = -1
            var feedsServer = false
            for consumer in graph.successors(of: layer) {
                if rules.forcedServer[consumer] { feedsServer = true }
                latestConsumerSlot = max(latestConsumerSlot, slot[consumer])
            }
            let ownSlot = slot[layer]
            if ownSlot >= 0 && ownSlot % 2 == 0 && (feedsServer || latestConsumerSlot > ownSlot) {
                regionExits[Int(ownSlot / 2)].append(Int32(layer))
            }
            let firstBefore: Int32 = ownSlot < 0 ? 0 : ownSlot / 2 + 1
            let lastCertain: Int32 = feedsServer ? lastCandidate : (latestConsumerSlot >= 1 ? (latestConsumerSlot - 1) / 2 : -1)
            if firstBefore <= min(lastCertain, lastCandidate) {
                certainLayers.append(Int32(layer))
                certainFirst.append(firstBefore)
                certainLast.append(min(lastCertain, lastCandidate))
            }
            if !feedsServer && latestConsumerSlot >= 0 && latestConsumerSlot % 2 == 0
                && latestConsumerSlot / 2 >= firstBefore {
                regionExternals[Int(latestConsumerSlot / 2)].append(Int32(layer))
            }
        }
        func flatten(_ lists: [[Int32]]) -> (start: FlatBuffer<Int32>, list: FlatBuffer<Int32>) {
            var start: [Int32] = [0]
            for list in lists { start.append(start.last! + Int32(list.count)) }
            return (FlatBuffer(start), FlatBuffer(lists.flatMap { $0 }))
        }
        self.isFollower = isFollower
        self.boundaries = boundaries
        self.slot = FlatBuffer(slot)
        self.freeLayers = FlatBuffer(free.map { Int32($0) })
        self.forcedDeviceLayers = FlatBuffer((0..<count).filter { rules.forcedDevice[$0] }.map { Int32($0) })
        self.forcedServerLayers = FlatBuffer((0..<count).filter { rules.forcedServer[$0] }.map { Int32($0) })
        let followers = (0..<count).filter { isFollower[$0] }
        self.followers = FlatBuffer(followers.map { Int32($0) })
        self.followerProducers = FlatBuffer(followers.map { Int32(graph.predecessors(of: $0).first!) })
        (regionStart, regionList) = flatten(regionMembers)
        (externalStart, externalList) = flatten(regionExternals)
        (exitStart, exitList) = flatten(regionExits)
        self.certainLayers = FlatBuffer(certainLayers)
        self.certainFirst = FlatBuffer(certainFirst)
        self.certainLast = FlatBuffer(certainLast)
    }

    /// How a layer relates to the min-cut instance of region `region`.
    func membership(of layer: Int, region: Int, rules: PlacementRules, localIndex: [Int32]) -> CutInstance.Membership {
        if isFollower[layer] { return .ignored }
        if rules.forcedDevice[layer] { return .deviceSide }
        if rules.forcedServer[layer] { return .serverSide }
        let own = Int(slot[layer] as Int32)
        if own < 2 * region { return .deviceSide }
        if own > 2 * region { return .serverSide }
        return .member(Int(localIndex[layer]))
    }
}
