/// Exact integer max-flow / min-cut (Boykov–Kolmogorov) over a fixed `FlowTopology`.
///
/// The source and sink are implicit: every node has a terminal capacity, positive when it
/// comes from the source and negative when it goes to the sink (the shared part of a node's two
/// terminal arcs is routed directly and counted as flow, as in Kolmogorov's maxflow-v3).
/// Two search trees grow from the terminals; an augmenting path is found when they touch, and
/// after augmenting, the nodes cut off from their tree ("orphans") look for a new parent, so the
/// trees are reused rather than rebuilt for every path. Nodes carry a timestamp and a distance
/// to their terminal so orphans prefer short, recently verified paths.
///
/// One solver owns flat buffers sized for its topology and reuses them across solves; it is not
/// thread-safe. Capacities are `Int64`; `infinity` marks arcs that must never be cut. Callers
/// guarantee that a finite cut exists, so flow never approaches `infinity`.
public final class MaxFlowSolver {
    /// Capacity of arcs that may not be cut.
    public static let infinity: Int64 = 1 << 62

    private static let free: Int32 = -1
    private static let terminal: Int32 = -2
    private static let orphan: Int32 = -3
    private static let infiniteDistance: Int32 = .max

    /// The network shape this solver works on.
    public let topology: FlowTopology
    private let nodeCount: Int
    private let arcCount: Int
    private let firstArc: UnsafeMutablePointer<Int32>
    private let physicalArc: UnsafeMutablePointer<Int32>
    private let head: UnsafeMutablePointer<Int32>
    private let twin: UnsafeMutablePointer<Int32>
    private let residual: UnsafeMutablePointer<Int64>
    private let terminalCapacity: UnsafeMutablePointer<Int64>
    /// Arc from the node to its parent in its tree, or free / terminal / orphan.
    private let parent: UnsafeMutablePointer<Int32>
    private let inSinkTree: UnsafeMutablePointer<Bool>
    private let timestamp: UnsafeMutablePointer<Int32>
    private let distance: UnsafeMutablePointer<Int32>
    /// Active FIFO as a linked list: next node, the node itself at the tail, -1 when not queued.
    private let activeNext: UnsafeMutablePointer<Int32>
    private let orphans: UnsafeMutablePointer<Int32>
    private var activeHead: Int32 = -1
    private var activeTail: Int32 = -1
    private var orphanRead = 0
    private var orphanWrite = 0
    private var clock: Int32 = 0
    private var directFlow: Int64 = 0

    /// Allocates buffers for `topology`.
    public init(topology: FlowTopology) {
        self.topology = topology
        nodeCount = topology.nodeCount
        arcCount = topology.head.count
        func copy(_ array: [Int32]) -> UnsafeMutablePointer<Int32> {
            let pointer = UnsafeMutablePointer<Int32>.allocate(capacity: max(array.count, 1))
            pointer.initialize(from: array, count: array.count)
            return pointer
        }
        firstArc = copy(topology.firstArc)
        physicalArc = copy(topology.physicalArc)
        head = copy(topology.head)
        twin = copy(topology.twin)
        residual = .allocate(capacity: max(arcCount, 1))
        residual.initialize(repeating: 0, count: max(arcCount, 1))
        let nodes = max(nodeCount, 1)
        terminalCapacity = .allocate(capacity: nodes)
        terminalCapacity.initialize(repeating: 0, count: nodes)
        parent = .allocate(capacity: nodes)
        inSinkTree = .allocate(capacity: nodes)
        timestamp = .allocate(capacity: nodes)
        distance = .allocate(capacity: nodes)
        activeNext = .allocate(capacity: nodes)
        // Every node can be orphaned several times within one augmentation's adoption pass;
        // the queue is compacted whenever it drains, so this bound is per pass.
        orphans = .allocate(capacity: nodes * 2 + 8)
    }

    deinit {
        for pointer in [firstArc, physicalArc, head, twin, parent, timestamp, distance, activeNext, orphans] { pointer.deallocate() }
        residual.deallocate()
        terminalCapacity.deallocate()
        inSinkTree.deallocate()
    }

    /// Sets every capacity (arcs and terminals) to zero.
    public func clear() {
        residual.update(repeating: 0, count: arcCount)
        terminalCapacity.update(repeating: 0, count: nodeCount)
        directFlow = 0
    }

    /// Sets the capacity of logical arc `arc` (tail → head) and of its reverse (head → tail).
    @inline(__always)
    public func setCapacity(_ arc: Int, _ capacity: Int64, reverse: Int64 = 0) {
        let physical = Int(physicalArc[arc])
        residual[physical] = capacity
        residual[Int(twin[physical])] = reverse
    }

    /// Adds terminal arcs source → `node` and `node` → sink with the given capacities.
    @inline(__always)
    public func addTerminal(_ node: Int, fromSource: Int64, toSink: Int64) {
        let shared = min(fromSource, toSink)
        directFlow += shared
        terminalCapacity[node] += (fromSource - shared) - (toSink - shared)
    }

    /// Whether `node` is on the source side of the minimum cut found by the last `maximumFlow`
    /// (the source side is exactly the set reachable from the source in the residual network).
    @inline(__always)
    public func isSourceSide(_ node: Int) -> Bool {
        parent[node] != Self.free && !inSinkTree[node]
    }

    /// Computes the maximum flow (equal to the minimum cut capacity).
    public func maximumFlow() -> Int64 {
        var flow = directFlow
        activeHead = -1
        activeTail = -1
        orphanRead = 0
        orphanWrite = 0
        clock = 0
        for node in 0..<nodeCount {
            activeNext[node] = -1
            timestamp[node] = 0
            let capacity = terminalCapacity[node]
            if capacity != 0 {
                inSinkTree[node] = capacity < 0
                parent[node] = Self.terminal
                distance[node] = 1
                makeActive(Int32(node))
            } else {
                inSinkTree[node] = false
                parent[node] = Self.free
            }
        }
        var current: Int32 = -1
        while true {
            var node = current
            if node >= 0 {
                activeNext[Int(node)] = -1
                if parent[Int(node)] == Self.free { node = -1 }
            }
            if node < 0 {
                node = nextActive()
                if node < 0 { break }
            }
            let bridge = grow(from: node)
            clock += 1
            if bridge >= 0 {
                // Keep growing from this node next: it may have more arcs into the other tree.
                // Flag it active (without queueing it) so adoption does not queue it twice.
                activeNext[Int(node)] = node
                current = node
                flow += augment(through: bridge)
                adoptOrphans()
            } else {
                current = -1
            }
        }
        return flow
    }

    // MARK: - Queues

    @inline(__always)
    private func makeActive(_ node: Int32) {
        guard activeNext[Int(node)] < 0 else { return }
        if activeTail >= 0 { activeNext[Int(activeTail)] = node } else { activeHead = node }
        activeTail = node
        activeNext[Int(node)] = node
    }

    @inline(__always)
    private func nextActive() -> Int32 {
        while activeHead >= 0 {
            let node = activeHead
            let next = activeNext[Int(node)]
            activeHead = next == node ? -1 : next
            if activeHead < 0 { activeTail = -1 }
            activeNext[Int(node)] = -1
            if parent[Int(node)] != Self.free { return node }
        }
        return -1
    }

    @inline(__always)
    private func makeOrphan(_ node: Int32) {
        assert(orphanWrite < 2 * nodeCount + 8)
        parent[Int(node)] = Self.orphan
        orphans[orphanWrite] = node
        orphanWrite += 1
    }

    // MARK: - Growth, augmentation, adoption

    /// Grows the tree of `node` across residual arcs; returns an arc from the source tree to the
    /// sink tree when the trees meet, or -1.
    @inline(__always)
    private func grow(from node: Int32) -> Int32 {
        let index = Int(node)
        let sinkSide = inSinkTree[index]
        for arc in Int(firstArc[index])..<Int(firstArc[index + 1]) {
            // Source tree grows along node → other; sink tree along other → node.
            let capacity = sinkSide ? residual[Int(twin[arc])] : residual[arc]
            guard capacity > 0 else { continue }
            let other = Int(head[arc])
            if parent[other] == Self.free {
                inSinkTree[other] = sinkSide
                parent[other] = twin[arc]
                timestamp[other] = timestamp[index]
                distance[other] = distance[index] + 1
                makeActive(Int32(other))
            } else if inSinkTree[other] != sinkSide {
                return sinkSide ? twin[arc] : Int32(arc)
            } else if timestamp[other] <= timestamp[index] && distance[other] > distance[index] {
                // Shorter path to the terminal through `node`: re-parent.
                parent[other] = twin[arc]
                timestamp[other] = timestamp[index]
                distance[other] = distance[index] + 1
            }
        }
        return -1
    }

    /// Pushes the bottleneck along source-terminal → tail(bridge) → head(bridge) → sink-terminal.
    private func augment(through bridge: Int32) -> Int64 {
        var bottleneck = residual[Int(bridge)]
        // Source tree: parent arcs point child → parent; flow runs parent → child (their twins).
        var node = Int(head[Int(twin[Int(bridge)])])
        while parent[node] != Self.terminal {
            let arc = Int(parent[node])
            bottleneck = min(bottleneck, residual[Int(twin[arc])])
            node = Int(head[arc])
        }
        bottleneck = min(bottleneck, terminalCapacity[node])
        node = Int(head[Int(bridge)])
        while parent[node] != Self.terminal {
            let arc = Int(parent[node])
            bottleneck = min(bottleneck, residual[arc])
            node = Int(head[arc])
        }
        bottleneck = min(bottleneck, -terminalCapacity[node])

        residual[Int(twin[Int(bridge)])] += bottleneck
        residual[Int(bridge)] -= bottleneck
        node = Int(head[Int(twin[Int(bridge)])])
        while parent[node] != Self.terminal {
            let arc = Int(parent[node])
            residual[arc] += bottleneck
            residual[Int(twin[arc])] -= bottleneck
            if residual[Int(twin[arc])] == 0 { makeOrphan(Int32(node)) }
            node = Int(head[arc])
        }
        terminalCapacity[node] -= bottleneck
        if terminalCapacity[node] == 0 { makeOrphan(Int32(node)) }
        node = Int(head[Int(bridge)])
        while parent[node] != Self.terminal {
            let arc = Int(parent[node])
            residual[Int(twin[arc])] += bottleneck
            residual[arc] -= bottleneck
            if residual[arc] == 0 { makeOrphan(Int32(node)) }
            node = Int(head[arc])
        }
        terminalCapacity[node] += bottleneck
        if terminalCapacity[node] == 0 { makeOrphan(Int32(node)) }
        return bottleneck
    }

    private func adoptOrphans() {
        while orphanRead < orphanWrite {
            let node = orphans[orphanRead]
            orphanRead += 1
            adopt(node)
        }
        orphanRead = 0
        orphanWrite = 0
    }

    /// Finds `node` a new parent in its own tree whose path reaches the terminal, preferring the
    /// shortest; otherwise frees it, activating neighbours that could regrow into it and
    /// orphaning its children.
    private func adopt(_ node: Int32) {
        let index = Int(node)
        let sinkSide = inSinkTree[index]
        var bestArc = Self.free
        var bestDistance = Self.infiniteDistance
        for arc in Int(firstArc[index])..<Int(firstArc[index + 1]) {
            // A parent must be able to send flow to `node` (source tree) or receive it (sink tree).
            let capacity = sinkSide ? residual[arc] : residual[Int(twin[arc])]
            guard capacity > 0 else { continue }
            var other = Int(head[arc])
            guard inSinkTree[other] == sinkSide, parent[other] != Self.free else { continue }
            // Walk to the terminal to make sure `other` is not itself cut off.
            var length: Int32 = 0
            while true {
                if timestamp[other] == clock { length += distance[other]; break }
                let up = parent[other]
                length += 1
                if up == Self.terminal {
                    timestamp[other] = clock
                    distance[other] = 1
                    break
                }
                if up == Self.orphan { length = Self.infiniteDistance; break }
                other = Int(head[Int(up)])
            }
            guard length < Self.infiniteDistance else { continue }
            if length < bestDistance {
                bestArc = Int32(arc)
                bestDistance = length
            }
            // Stamp the verified path so later walks stop early.
            var mark = Int(head[arc])
            var markDistance = length
            while timestamp[mark] != clock {
                timestamp[mark] = clock
                distance[mark] = markDistance
                markDistance -= 1
                mark = Int(head[Int(parent[mark])])
            }
        }
        parent[index] = bestArc
        if bestArc >= 0 {
            timestamp[index] = clock
            distance[index] = bestDistance + 1
            return
        }
        for arc in Int(firstArc[index])..<Int(firstArc[index + 1]) {
            let other = Int(head[arc])
            guard inSinkTree[other] == sinkSide else { continue }
            let up = parent[other]
            guard up != Self.free else { continue }
            let capacity = sinkSide ? residual[arc] : residual[Int(twin[arc])]
            if capacity > 0 { makeActive(Int32(other)) }
            if up >= 0 && Int(head[Int(up)]) == index { makeOrphan(Int32(other)) }
        }
    }
}
