/// The structure the block-wise planner collapses: boundary layers, the regions between them,
/// and the windows that cover each region.
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
/// R(j-1) can be mixed. Inside that region the mixed layers lie in one of its *windows*
/// (`RegionWindows`; a series region is a single window). So every valid split agrees with some
/// *candidate* (a window, or an empty range right after a boundary): free layers before it on the
/// device, after it on the server. The optimum is the best, over the candidates, of (device time
/// of everything before) + (server time of everything after) + (transfers that are certain: a
/// device layer before the candidate with a consumer after it) + (min cut of the candidate's
/// layers alone, with layers before fixed on the device and after fixed on the server). A
/// candidate's cut costs at least the sum over its layers of min(device, server) time, which
/// bounds candidates from below, so candidates whose bound cannot beat the best known plan are
/// never cut (branch and bound — pruning, not approximation); `RegionEnvelope` prices the rest
/// without a max-flow.
public final class BlockDecomposition: Sendable {
    /// Layers the block planner places by their producer (see type documentation).
    public let isFollower: [Bool]
    /// Boundary layers in topological order.
    public let boundaries: [Int]
    /// Position of each free non-follower layer in `freeLayers`, -1 for other layers.
    let position: FlatBuffer<Int32>
    /// Free non-follower layers in topological order.
    let freeLayers: FlatBuffer<Int32>
    /// Forced layers: onto the device / onto the server.
    let forcedDeviceLayers: FlatBuffer<Int32>
    let forcedServerLayers: FlatBuffer<Int32>
    /// Followers in topological order, with their single producer.
    let followers: FlatBuffer<Int32>
    let followerProducers: FlatBuffer<Int32>
    /// Region r (between boundaries) spans free positions `regionFirst[r]..<regionEnd[r]`.
    let regionFirst: [Int]
    let regionEnd: [Int]
    /// Candidate c spans free positions `candidateFirst[c]..<candidateEnd[c]`; both increase with c.
    let candidateFirst: FlatBuffer<Int32>
    let candidateEnd: FlatBuffer<Int32>
    /// Device-side producers whose transfer is decided inside candidate c (they feed it, nothing later).
    let externalStart: FlatBuffer<Int32>
    let externalList: FlatBuffer<Int32>
    /// Members of candidate c that also feed a layer after it (pay their transfer when on the device).
    let exitStart: FlatBuffer<Int32>
    let exitList: FlatBuffer<Int32>
    /// Layers whose transfer is certainly paid for candidates `certainFirst...certainLast`.
    let certainLayers: FlatBuffer<Int32>
    let certainFirst: FlatBuffer<Int32>
    let certainLast: FlatBuffer<Int32>

    /// Number of regions between boundaries (boundaries + 1).
    public var regionCount: Int { boundaries.count + 1 }
    /// Number of regions that hold at least one layer.
    public var nonEmptyRegionCount: Int { (0..<regionCount).filter { regionEnd[$0] > regionFirst[$0] }.count }
    /// Size of the largest region.
    public var largestRegion: Int { (0..<regionCount).map { regionEnd[$0] - regionFirst[$0] }.max() ?? 0 }
    /// Members of region `region` in topological order.
    public func members(ofRegion region: Int) -> [Int] {
        (regionFirst[region]..<regionEnd[region]).map { Int(freeLayers[$0]) }
    }
    /// Number of candidates the block planner prices (windows and cuts right after a boundary).
    public var candidateCount: Int { candidateFirst.count }
    /// Number of candidates that hold layers (windows).
    public var windowCount: Int { (0..<candidateCount).filter { candidateEnd[$0] > candidateFirst[$0] }.count }
    /// Size of the largest window.
    public var largestWindow: Int { (0..<candidateCount).map { Int(candidateEnd[$0] - candidateFirst[$0]) }.max() ?? 0 }
    /// Members of candidate `candidate` in topological order.
    public func members(ofCandidate candidate: Int) -> [Int] {
        (Int(candidateFirst[candidate])..<Int(candidateEnd[candidate])).map { Int(freeLayers[$0]) }
    }
    /// External producers of candidate `candidate`.
    func externals(ofCandidate candidate: Int) -> [Int] {
        externalList.range(externalStart[candidate], externalStart[candidate + 1]).map { Int($0) }
    }

    /// Derives the decomposition. `hasZeroCompute[v]` tells whether v costs nothing: no compute on
    /// either side and no resident device memory. `splitEveryRegion` splits every region that has
    /// windows (see `RegionWindows.windows`).
    init(graph: ModelGraph, rules: PlacementRules, hasZeroCompute: [Bool], splitEveryRegion: Bool = false) {
        let count = graph.count
        var isFollower = [Bool](repeating: false, count: count)
        for layer in stride(from: count - 1, through: 0, by: -1)
        where rules.isFree(layer) && hasZeroCompute[layer] && graph.predecessors(of: layer).count == 1 {
            isFollower[layer] = graph.successors(of: layer).allSatisfy { isFollower[$0] }
        }
        let free = (0..<count).filter { rules.isFree($0) && !isFollower[$0] }
        var position = [Int32](repeating: -1, count: count)
        for (index, layer) in free.enumerated() { position[layer] = Int32(index) }
        let boundaryPositions = Self.boundaryPositions(graph: graph, free: free, position: position)

        // Regions between boundaries, and their windows (candidates; an empty region is the cut
        // right after its boundary).
        var regionFirst: [Int] = [], regionEnd: [Int] = []
        var candidates: [Range<Int>] = []
        for region in 0...boundaryPositions.count {
            let first = region == 0 ? 0 : boundaryPositions[region - 1] + 1
            let end = region == boundaryPositions.count ? free.count : boundaryPositions[region]
            regionFirst.append(first)
            regionEnd.append(end)
            if first == end {
                candidates.append(first..<end)
            } else {
                candidates += RegionWindows.windows(
                    first: first, end: end, freeLayers: free, position: position, graph: graph,
                    always: splitEveryRegion)
            }
        }
        let candidateFirst = candidates.map { Int32($0.lowerBound) }
        let candidateEnd = candidates.map { Int32($0.upperBound) }
        // Candidates whose first is above / at most a position, whose end is at most a position.
        func firstAbove(_ value: Int32) -> Int { Self.partition(candidateFirst) { $0 <= value } }
        func lastFirstAtMost(_ value: Int32) -> Int { Self.partition(candidateFirst) { $0 <= value } - 1 }
        func lastEndAtMost(_ value: Int32) -> Int { Self.partition(candidateEnd) { $0 <= value } - 1 }
        func firstEndAbove(_ value: Int32) -> Int { Self.partition(candidateEnd) { $0 <= value } }

        // Transfers of device-side producers (free, or forced onto the device). For candidate c,
        // a producer at position p (-1 if forced) is before it iff p < first(c); it certainly pays
        // iff it also feeds a layer after c (position >= end(c), or forced onto the server); if
        // instead its latest consumer is inside c, it is an external of c. A member pays when on
        // the device if it feeds a layer after c (an exit).
        let lastCandidate = candidates.count - 1
        var certainLayers: [Int32] = [], certainFirst: [Int32] = [], certainLast: [Int32] = []
        var externals = [[Int32]](repeating: [], count: candidates.count)
        var exits = [[Int32]](repeating: [], count: candidates.count)
        for layer in 0..<count where rules.forcedDevice[layer] || position[layer] >= 0 {
            var latestConsumer: Int32 = -1
            var feedsServer = false
            for consumer in graph.successors(of: layer) {
                if rules.forcedServer[consumer] { feedsServer = true }
                latestConsumer = max(latestConsumer, position[consumer])
            }
            let own = position[layer]
            let before = firstAbove(own)
            let lastCertain = feedsServer ? lastCandidate : lastEndAtMost(latestConsumer)
            if before <= lastCertain {
                certainLayers.append(Int32(layer))
                certainFirst.append(Int32(before))
                certainLast.append(Int32(lastCertain))
            }
            if !feedsServer && latestConsumer >= 0 {
                let firstExternal = max(before, firstEndAbove(latestConsumer))
                for candidate in stride(from: firstExternal, through: lastFirstAtMost(latestConsumer), by: 1) {
                    externals[candidate].append(Int32(layer))
                }
            }
            if own >= 0 {
                let lastExit = feedsServer ? lastFirstAtMost(own) : min(lastFirstAtMost(own), lastEndAtMost(latestConsumer))
                for candidate in stride(from: firstEndAbove(own), through: lastExit, by: 1) {
                    exits[candidate].append(Int32(layer))
                }
            }
        }
        func flatten(_ lists: [[Int32]]) -> (start: FlatBuffer<Int32>, list: FlatBuffer<Int32>) {
            var start: [Int32] = [0]
            for list in lists { start.append(start[start.count - 1] + Int32(list.count)) }
            return (FlatBuffer(start), FlatBuffer(lists.flatMap { $0 }))
        }
        self.isFollower = isFollower
        self.boundaries = boundaryPositions.map { free[$0] }
        self.position = FlatBuffer(position)
        self.freeLayers = FlatBuffer(free.map { Int32($0) })
        self.forcedDeviceLayers = FlatBuffer((0..<count).filter { rules.forcedDevice[$0] }.map { Int32($0) })
        self.forcedServerLayers = FlatBuffer((0..<count).filter { rules.forcedServer[$0] }.map { Int32($0) })
        let followers = (0..<count).filter { isFollower[$0] }
        self.followers = FlatBuffer(followers.map { Int32($0) })
        self.followerProducers = FlatBuffer(followers.map { Int32(graph.predecessors(of: $0).first ?? $0) })
        self.regionFirst = regionFirst
        self.regionEnd = regionEnd
        self.candidateFirst = FlatBuffer(candidateFirst)
        self.candidateEnd = FlatBuffer(candidateEnd)
        (externalStart, externalList) = flatten(externals)
        (exitStart, exitList) = flatten(exits)
        self.certainLayers = FlatBuffer(certainLayers)
        self.certainFirst = FlatBuffer(certainFirst)
        self.certainLast = FlatBuffer(certainLast)
    }

    /// Positions (in `free`) of the boundary layers: free layer i is one iff every later free
    /// layer has a free producer at or after i (so it descends from i) and every earlier one has a
    /// free consumer at or before i.
    private static func boundaryPositions(graph: ModelGraph, free: [Int], position: [Int32]) -> [Int] {
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
        var suffixMinimumProducer = [Int32](repeating: Int32.max, count: freeCount + 1)
        for index in stride(from: freeCount - 1, through: 0, by: -1) {
            suffixMinimumProducer[index] = min(suffixMinimumProducer[index + 1], latestProducer[index])
        }
        var boundaries: [Int] = []
        var prefixMaximumConsumer: Int32 = -1
        for index in 0..<freeCount {
            if suffixMinimumProducer[index + 1] >= Int32(index) && prefixMaximumConsumer <= Int32(index) {
                boundaries.append(index)
            }
            prefixMaximumConsumer = max(prefixMaximumConsumer, earliestConsumer[index])
        }
        return boundaries
    }

    /// The number of leading elements of the sorted `values` for which `isLow` holds.
    private static func partition(_ values: [Int32], isLow: (Int32) -> Bool) -> Int {
        var low = 0, high = values.count
        while low < high {
            let middle = (low + high) / 2
            if isLow(values[middle]) { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// How a layer relates to the min-cut instance of candidate `candidate`.
    func membership(of layer: Int, candidate: Int, rules: PlacementRules) -> CutInstance.Membership {
        if isFollower[layer] { return .ignored }
        if rules.forcedDevice[layer] { return .deviceSide }
        if rules.forcedServer[layer] { return .serverSide }
        let own = position[layer]
        if own < candidateFirst[candidate] { return .deviceSide }
        if own >= candidateEnd[candidate] { return .serverSide }
        return .member(Int(own - candidateFirst[candidate]))
    }
}
