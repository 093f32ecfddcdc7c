/// Overlapping windows that cover every way a region between two boundaries can be split.
///
/// ## Why windows are enough (exactness)
/// Number a region's free layers 0..<m in topological order and let far(x) be the last layer
/// after x that does not descend from x (x itself if every later layer does). Take a valid split
/// whose mixed layers lie in this region (the decomposition guarantees at most one such region),
/// let x be its first server layer there and y its last device layer. If y > x, y is not a
/// descendant of x (the server part is closed under successors), so y ≤ far(x). Let r be the
/// *record* at or before x with the largest far (records are the layers whose far exceeds every
/// earlier far; the first layer is one). Then every layer before r is before x, so on the device,
/// and every layer after far(r) ≥ far(x) is after y, so on the server: the split agrees with the
/// candidate "layers before r on the device, window [r, far(r)] free, layers after on the server".
/// If y < x (the region is cut as a prefix at x), the last record r ≤ x has far(r) ≥ far(x − 1)
/// ≥ x − 1, so the same candidate contains it. Every candidate is itself a valid split family
/// (a prefix is closed under predecessors, a suffix under successors), so the best candidate is
/// the optimum. The windows of a region are its record windows.
///
/// Cells that read the outputs of the two previous cells (NASNet, AmoebaNet, DARTS) have no
/// boundary layers, but every layer of cell i is an ancestor of every layer of cell i + 2, so
/// their windows span about two cells: the decomposition finds these width-2 separators from
/// the graph alone. On series graphs every region is one window, as before.
enum RegionWindows {
    /// Regions up to this size stay one window, as before windows existed: a small region costs
    /// little to cut, and one candidate prices faster than several overlapping ones.
    static let smallestSplitRegion = 64
    /// Regions larger than this stay one window (the reachability bitsets grow quadratically).
    static let largestSplitRegion = 4096
    /// A region whose windows add up to more than this many times its size stays one window, and
    /// so does one whose largest window exceeds half of it (splitting would save little).
    static let overlapLimit = 4

    /// The windows of the region at free positions `first..<end`, as position ranges in order
    /// (first and end both increasing). `position[layer]` is a layer's free position or -1.
    /// `always` splits regardless of size and savings (tests use it on brute-force-sized graphs).
    static func windows(
        first: Int, end: Int, freeLayers: [Int], position: [Int32], graph: ModelGraph,
        always: Bool = false
    ) -> [Range<Int>] {
        let count = end - first
        guard count > (always ? 1 : smallestSplitRegion) && count <= largestSplitRegion else { return [first..<end] }
        let words = (count + 63) / 64
        // reach[i]: bitset of region layers that descend from layer i (i included).
        var reach = [UInt64](repeating: 0, count: count * words)
        var far = [Int](repeating: 0, count: count)
        reach.withUnsafeMutableBufferPointer { reach in
            for local in stride(from: count - 1, through: 0, by: -1) {
                let row = local * words
                reach[row + local / 64] |= 1 << UInt64(local % 64)
                for consumer in graph.successors(of: freeLayers[first + local]) {
                    let other = Int(position[consumer]) - first
                    guard other > local && other < count else { continue }
                    let otherRow = other * words
                    for word in (other / 64)..<words { reach[row + word] |= reach[otherRow + word] }
                }
                far[local] = lastMissing(reach, row: row, after: local, count: count)
            }
        }
        var windows: [Range<Int>] = []
        var farthest = -1
        for local in 0..<count where far[local] > farthest {
            farthest = far[local]
            windows.append((first + local)..<(first + farthest + 1))
        }
        let total = windows.reduce(0) { $0 + $1.count }
        let largest = windows.map(\.count).max() ?? count
        return total > overlapLimit * count || (!always && 2 * largest > count) ? [first..<end] : windows
    }

    /// The last position in `after + 1..<count` whose bit is clear in row `row`, or `after`.
    private static func lastMissing(_ reach: UnsafeMutableBufferPointer<UInt64>, row: Int, after: Int, count: Int) -> Int {
        var word = (count - 1) / 64
        while word >= 0 && word * 64 + 63 > after {
            var missing = ~reach[row + word]
            let top = count - word * 64
            if top < 64 { missing &= (1 << UInt64(top)) - 1 }
            // The loop condition keeps `low` below 64.
            let low = after + 1 - word * 64
            if low > 0 { missing &= ~((1 << UInt64(low)) - 1) }
            if missing != 0 { return word * 64 + 63 - missing.leadingZeroBitCount }
            word -= 1
        }
        return after
    }
}
