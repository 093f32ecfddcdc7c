/// The fixed shape of a flow network: nodes and directed arcs, without capacities.
///
/// Built once per graph; every solve only rewrites capacities. Arcs are stored in
/// compressed-sparse-row order (all arcs leaving node 0, then node 1, ...), each paired with its
/// residual twin, so a solve touches only flat integer arrays.
public struct FlowTopology: Sendable {
    /// Number of nodes (the source and sink included).
    public let nodeCount: Int
    /// Number of arcs the caller added; capacities are addressed by these indices.
    public let logicalArcCount: Int
    /// First physical arc of each node; `firstArc[nodeCount]` is the physical arc count.
    let firstArc: [Int32]
    /// Head (target node) of each physical arc.
    let head: [Int32]
    /// Index of each physical arc's residual twin.
    let twin: [Int32]
    /// Physical position of each logical arc (its twin is the reverse residual arc).
    let physicalArc: [Int32]

    /// Collects arcs for a topology.
    public struct Builder {
        private var tails: [Int32] = []
        private var heads: [Int32] = []
        /// Number of nodes.
        public let nodeCount: Int

        /// Starts a topology with `nodeCount` nodes.
        public init(nodeCount: Int) { self.nodeCount = nodeCount }

        /// Adds an arc from `tail` to `head` and returns its logical index.
        @discardableResult
        public mutating func addArc(from tail: Int, to head: Int) -> Int {
            precondition(tail >= 0 && tail < nodeCount && head >= 0 && head < nodeCount && tail != head)
            tails.append(Int32(tail))
            heads.append(Int32(head))
            return tails.count - 1
        }

        /// Lays the arcs out in CSR order.
        public func build() -> FlowTopology {
            let logical = tails.count
            var degree = [Int32](repeating: 0, count: nodeCount + 1)
            for index in 0..<logical {
                degree[Int(tails[index]) + 1] += 1
                degree[Int(heads[index]) + 1] += 1
            }
            for node in 0..<nodeCount { degree[node + 1] += degree[node] }
            let firstArc = degree
            var fill = degree
            var head = [Int32](repeating: 0, count: 2 * logical)
            var twin = [Int32](repeating: 0, count: 2 * logical)
            var physicalArc = [Int32](repeating: 0, count: logical)
            for index in 0..<logical {
                let forward = fill[Int(tails[index])]
                fill[Int(tails[index])] += 1
                let backward = fill[Int(heads[index])]
                fill[Int(heads[index])] += 1
                head[Int(forward)] = heads[index]
                head[Int(backward)] = tails[index]
                twin[Int(forward)] = backward
                twin[Int(backward)] = forward
                physicalArc[index] = forward
            }
            return FlowTopology(
                nodeCount: nodeCount, logicalArcCount: logical,
                firstArc: firstArc, head: head, twin: twin, physicalArc: physicalArc)
        }
    }
}
