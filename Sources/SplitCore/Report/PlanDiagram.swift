import Foundation

/// What a drawing of a plan shows, decided before any DOT is written: which layers get a node of
/// their own, which labelled blocks collapse into one node, the edges between nodes, and how the
/// nodes wrap into rows.
///
/// A labelled block collapses unless the cut passes through it: it stays open (a cluster of its
/// layers) when it holds a cut layer or has layers on both sides. So every cut layer, and every
/// layer next to a transfer, is a node of its own, and a collapsed block lies wholly on one side.
/// The top-level sequence (layers outside blocks, collapsed blocks, open blocks), in topological
/// order, wraps into rows of about `1.2·√ranks` ranks, so deep models draw as a block of rows
/// rather than a strip.
struct PlanDiagram {
    /// One node of the drawing: a layer, or a collapsed block.
    struct Node {
        /// DOT identifier: `layer:NAME` or `block:NAME` (separate namespaces, so never clashing).
        var id: String
        /// Label lines, short enough to read at a glance.
        var lines: [String]
        var onDevice: Bool
        /// A device layer whose output is sent to the server.
        var isCut = false
        /// Number of layers a collapsed block stands for (nil for a layer).
        var blockLayerCount: Int?
        /// The open block (index into `clusters`) this layer is drawn in.
        var cluster: Int?
        /// The row it is drawn in, and its column in that row (0 first).
        var row = 0
        var position = 0
    }

    /// An open block: its name and its layers' nodes.
    struct Cluster {
        var name: String
        var nodes: [Int]
    }

    /// A drawn edge; `transfers` when some layer edge it stands for goes from device to server.
    struct Edge {
        var from: Int
        var to: Int
        var transfers: Bool
    }

    /// Longest label line, in characters, before a name wraps.
    static let lineLength = 16
    /// Most nodes for which implied edges are left out (the reduction keeps a bit matrix of
    /// reachability, `nodes²` bits).
    static let reductionNodeLimit = 4096

    private(set) var nodes: [Node] = []
    private(set) var clusters: [Cluster] = []
    private(set) var edges: [Edge] = []
    private(set) var rowCount = 0
    /// Edges left out because a longer path joins the same two nodes.
    private(set) var omittedEdgeCount = 0

    /// The diagram of `plan` on `graph`.
    init(plan: Plan, graph: ModelGraph) {
        var isCut = [Bool](repeating: false, count: graph.count)
        for layer in plan.cutLayers { isCut[layer] = true }
        var layersOfBlock: [String: [Int]] = [:]
        for layer in 0..<graph.count {
            if let block = graph.layers[layer].block { layersOfBlock[block, default: []].append(layer) }
        }
        var isOpen: [String: Bool] = [:]
        for (block, layers) in layersOfBlock {
            isOpen[block] = layers.contains { isCut[$0] } || layers.contains { plan.onDevice[$0] != plan.onDevice[layers[0]] }
        }

        // Nodes, in topological order of their first layer.
        var nodeOfLayer = [Int](repeating: -1, count: graph.count)
        var nodeOfBlock: [String: Int] = [:]
        for layer in 0..<graph.count where nodeOfLayer[layer] < 0 {
            let block = graph.layers[layer].block
            if let block, isOpen[block] == false {
                if let node = nodeOfBlock[block] {
                    nodeOfLayer[layer] = node
                    continue
                }
                let members = layersOfBlock[block] ?? [layer]
                nodeOfBlock[block] = nodes.count
                nodeOfLayer[layer] = nodes.count
                let side = plan.onDevice[layer] ? "device" : "server"
                nodes.append(
                    Node(
                        id: "block:\(block)", lines: Self.wrap(block) + ["\(members.count) layer\(members.count == 1 ? "" : "s"), \(side)"],
                        onDevice: plan.onDevice[layer], blockLayerCount: members.count))
            } else if let block {
                // An open block: all its layers now, named without the block's prefix.
                let members = layersOfBlock[block] ?? [layer]
                let prefix = String(block.map { $0.isLetter || $0.isNumber ? $0 : "_" }) + "_"
                var clusterNodes: [Int] = []
                for member in members {
                    let name = graph.layers[member].name
                    let shown = name.hasPrefix(prefix) && name.count > prefix.count ? String(name.dropFirst(prefix.count)) : name
                    nodeOfLayer[member] = nodes.count
                    clusterNodes.append(nodes.count)
                    nodes.append(
                        Node(
                            id: "layer:\(name)", lines: Self.wrap(shown), onDevice: plan.onDevice[member], isCut: isCut[member],
                            cluster: clusters.count))
                }
                clusters.append(Cluster(name: block, nodes: clusterNodes))
            } else {
                nodeOfLayer[layer] = nodes.count
                nodes.append(
                    Node(
                        id: "layer:\(graph.layers[layer].name)", lines: Self.wrap(graph.layers[layer].name),
                        onDevice: plan.onDevice[layer], isCut: isCut[layer]))
            }
        }

        // Edges between nodes, each once; a transfer if any layer edge behind it crosses the cut.
        var edgeIndex: [Int: Int] = [:]
        for layer in 0..<graph.count {
            for consumer in graph.successors(of: layer) {
                let from = nodeOfLayer[layer], to = nodeOfLayer[consumer]
                guard from != to else { continue }
                let transfers = plan.onDevice[layer] && !plan.onDevice[consumer]
                if let index = edgeIndex[from * nodes.count + to] {
                    edges[index].transfers = edges[index].transfers || transfers
                } else {
                    edgeIndex[from * nodes.count + to] = edges.count
                    edges.append(Edge(from: from, to: to, transfers: transfers))
                }
            }
        }
        let order = topologicalOrder()
        if let order { omitImpliedEdges(order: order) }
        assignRows(order: order)
    }

    /// The nodes in an order where every edge goes forward, or nil when the node graph has a
    /// cycle (a collapsed block that is not convex: a path leaves it and comes back).
    private func topologicalOrder() -> [Int]? {
        var indegree = [Int](repeating: 0, count: nodes.count)
        var successors = [[Int]](repeating: [], count: nodes.count)
        for edge in edges {
            successors[edge.from].append(edge.to)
            indegree[edge.to] += 1
        }
        var order = (0..<nodes.count).filter { indegree[$0] == 0 }
        var next = 0
        while next < order.count {
            for successor in successors[order[next]] {
                indegree[successor] -= 1
                if indegree[successor] == 0 { order.append(successor) }
            }
            next += 1
        }
        return order.count == nodes.count ? order : nil
    }

    /// Leaves out an edge when a longer path joins the same two nodes (a transitive reduction):
    /// DenseNet's dense connections and GPT-2's broadcast mask would otherwise stack dozens of
    /// parallel skip edges over every row. Which layers depend on which is unchanged (the path
    /// remains). A transfer edge is left out only when the same cut layer has another transfer
    /// edge on such a path (its output is sent once however many server layers read it), so
    /// every cut layer keeps one; every edge into an open block, where the cut is, is drawn.
    /// Skipped when the node graph has a cycle (a block that is not convex) or more than
    /// `reductionNodeLimit` nodes.
    private mutating func omitImpliedEdges(order: [Int]) {
        let count = nodes.count
        guard count <= Self.reductionNodeLimit else { return }
        var successors = [[Int]](repeating: [], count: count)
        for edge in edges { successors[edge.from].append(edge.to) }
        // reach[v]: the nodes reachable from v by a path of one or more edges, as bits.
        let words = (count + 63) / 64
        var reach = [UInt64](repeating: 0, count: count * words)
        for node in order.reversed() {
            for successor in successors[node] {
                reach[node * words + successor / 64] |= 1 << UInt64(successor % 64)
                for word in 0..<words { reach[node * words + word] |= reach[successor * words + word] }
            }
        }
        func reaches(_ from: Int, _ to: Int) -> Bool { reach[from * words + to / 64] & (1 << UInt64(to % 64)) != 0 }
        let before = edges.count
        var transferSuccessors = [[Int]](repeating: [], count: count)
        for edge in edges where edge.transfers { transferSuccessors[edge.from].append(edge.to) }
        edges.removeAll { edge in
            guard nodes[edge.to].cluster == nil else { return false }
            let alternatives = edge.transfers ? transferSuccessors[edge.from] : successors[edge.from]
            return alternatives.contains { $0 != edge.to && reaches($0, edge.to) }
        }
        omittedEdgeCount = before - edges.count
    }

    /// Wraps the drawing into rows. Each node's column is its longest-path depth (`position`
    /// within its row), so a row is a band of consecutive depths about `1.2·√depth` wide; a
    /// break goes where the fewest edges cross (a series point of the model, ideally one edge),
    /// never through an open block. Without a topological order everything stays in one row.
    private mutating func assignRows(order: [Int]?) {
        guard let order else {
            rowCount = 1
            return
        }
        var depth = [Int](repeating: 0, count: nodes.count)
        var successors = [[Int]](repeating: [], count: nodes.count)
        for edge in edges { successors[edge.from].append(edge.to) }
        for node in order {
            for successor in successors[node] { depth[successor] = max(depth[successor], depth[node] + 1) }
        }
        let depthCount = (depth.max() ?? 0) + 1
        let width = max(4, Int((1.2 * Double(depthCount).squareRoot()).rounded()))
        // crossing[b]: edges from depth < b to depth >= b; allowed[b]: no open block spans b.
        var crossing = [Int](repeating: 0, count: depthCount + 1)
        for edge in edges {
            crossing[depth[edge.from] + 1] += 1
            crossing[depth[edge.to] + 1] -= 1
        }
        for index in crossing.indices.dropFirst() { crossing[index] += crossing[index - 1] }
        var allowed = [Bool](repeating: true, count: depthCount + 1)
        for cluster in clusters {
            let depths = cluster.nodes.map { depth[$0] }
            for boundary in ((depths.min() ?? 0) + 1)..<((depths.max() ?? 0) + 1) { allowed[boundary] = false }
        }
        var breaks: [Int] = []
        var start = 0
        while depthCount - start > width + width / 3 {
            let window = (start + max(1, width * 3 / 5))...(min(depthCount - 1, start + width * 7 / 5))
            let candidates = window.filter { allowed[$0] }
            let fallback = ((start + width * 7 / 5 + 1)..<max(depthCount, start + width * 7 / 5 + 1)).first { allowed[$0] }
            guard let boundary = candidates.min(by: { (crossing[$0], abs($0 - start - width)) < (crossing[$1], abs($1 - start - width)) }) ?? fallback
            else { break }
            breaks.append(boundary)
            start = boundary
        }
        var rowOfDepth = [Int](repeating: 0, count: depthCount)
        var row = 0
        for index in 0..<depthCount {
            while row < breaks.count && breaks[row] <= index { row += 1 }
            rowOfDepth[index] = row
        }
        for node in nodes.indices {
            let row = rowOfDepth[depth[node]]
            nodes[node].row = row
            nodes[node].position = depth[node] - (row == 0 ? 0 : breaks[row - 1])
        }
        rowCount = breaks.count + 1
    }

    /// `name` in lines of at most `lineLength` characters, broken after `_`, `.` or `/` where
    /// possible.
    static func wrap(_ name: String) -> [String] {
        var pieces: [String] = []
        var piece = ""
        for character in name {
            piece.append(character)
            if "_./".contains(character) || piece.count == lineLength {
                pieces.append(piece)
                piece = ""
            }
        }
        if !piece.isEmpty { pieces.append(piece) }
        var lines: [String] = []
        for piece in pieces {
            if let last = lines.last, last.count + piece.count <= lineLength {
                lines[lines.count - 1] = last + piece
            } else {
                lines.append(piece)
            }
        }
        return lines.isEmpty ? [""] : lines
    }
}
