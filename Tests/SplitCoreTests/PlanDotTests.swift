import Foundation
import Testing

@testable import SplitCore

/// The parts of a `PlanDot` drawing the tests read back: node statements (id, label, fill,
/// outline, open block) and edges.
struct DotDrawing {
    struct Node {
        var id: String
        var label: String
        var attributes: String
        var cluster: String?
    }

    struct Edge {
        var from: String
        var to: String
        var attributes: String
    }

    var nodes: [String: Node] = [:]
    var declarations: [String] = []
    var edges: [Edge] = []
    let source: String

    /// Reads the statements `PlanDot` writes, one per line.
    init(_ source: String) {
        self.source = source
        var cluster: String?
        for rawLine in source.split(separator: "\n") {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("subgraph cluster_") {
                cluster = String(line.dropFirst("subgraph ".count).dropLast(2))
            } else if line == "}" {
                cluster = nil
            } else if let (first, rest) = Self.quoted(line) {
                if rest.hasPrefix(" -> "), let (second, tail) = Self.quoted(String(rest.dropFirst(4))) {
                    edges.append(Edge(from: first, to: second, attributes: tail))
                } else if rest.hasPrefix(" [") {
                    let label =
                        rest.range(of: "label=\"").map { range in
                            String(rest[range.upperBound...].prefix { $0 != "\"" })
                        } ?? ""
                    declarations.append(first)
                    nodes[first] = Node(id: first, label: label, attributes: rest, cluster: cluster)
                }
            }
        }
    }

    /// The leading DOT string literal of `line` (unescaped) and what follows it.
    static func quoted(_ line: String) -> (String, String)? {
        guard line.hasPrefix("\"") else { return nil }
        var value = "", escaped = false
        var index = line.index(after: line.startIndex)
        while index < line.endIndex {
            let character = line[index]
            if escaped {
                value.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "\"" {
                return (value, String(line[line.index(after: index)...]))
            } else {
                value.append(character)
            }
            index = line.index(after: index)
        }
        return nil
    }

    /// The model's nodes: layers and collapsed blocks (not row anchors or the legend).
    var modelNodes: [Node] { declarations.compactMap { nodes[$0] }.filter { $0.id.hasPrefix("layer:") || $0.id.hasPrefix("block:") } }
}

@Suite("PlanDot")
struct PlanDotTests {
    static let rates: [Double] = [1e6, 2e7, 1e8, 1e9, 1e10]

    /// Checks everything a drawing of `plan` must show: each layer drawn once, as its own node
    /// or inside a collapsed block of the right size lying wholly on one side; every cut layer
    /// its own outlined node; transfer edges red, from cut layers only; a left-to-right layout
    /// and a legend.
    static func expectFaithful(_ plan: Plan, model: PreparedModel, context: String) {
        let graph = model.graph
        let drawing = DotDrawing(PlanDot.render(plan: plan, model: model))
        #expect(drawing.source.contains("rankdir=LR"), "\(context)")
        for part in ["cluster_legend", "device layer", "server layer", "cut layer", "label=\"transfer\""] {
            #expect(drawing.source.contains(part), "\(context): legend lacks \(part)")
        }
        #expect(Set(drawing.declarations).count == drawing.declarations.count, "\(context): a node declared twice")
        let cut = Set(plan.cutLayers)
        var drawnLayers = 0
        for node in drawing.modelNodes {
            let colour = node.attributes.contains(PlanDot.deviceColour) ? true : node.attributes.contains(PlanDot.serverColour) ? false : nil
            if node.id.hasPrefix("layer:") {
                let layer = graph.index(of: String(node.id.dropFirst("layer:".count)))
                #expect(layer != nil, "\(context): \(node.id) is no layer")
                guard let layer else { continue }
                drawnLayers += 1
                #expect(colour == plan.onDevice[layer], "\(context): \(node.id) coloured for the wrong side")
                #expect(node.attributes.contains("penwidth=3") == cut.contains(layer), "\(context): \(node.id) cut outline")
            } else {
                let block = String(node.id.dropFirst("block:".count))
                let members = (0..<graph.count).filter { graph.layers[$0].block == block }
                drawnLayers += members.count
                #expect(!members.isEmpty, "\(context): \(node.id) is no block")
                #expect(members.allSatisfy { plan.onDevice[$0] == colour }, "\(context): collapsed \(block) is not wholly on its drawn side")
                #expect(!members.contains { cut.contains($0) }, "\(context): collapsed \(block) hides a cut layer")
                let side = colour == true ? "device" : "server"
                #expect(node.label.hasSuffix("\\n\(members.count) layer\(members.count == 1 ? "" : "s"), \(side)"), "\(context): \(node.label)")
            }
        }
        #expect(drawnLayers == graph.count, "\(context): \(drawnLayers) layers drawn of \(graph.count)")
        for layer in cut {
            #expect(drawing.nodes["layer:\(graph.layers[layer].name)"] != nil, "\(context): cut layer \(graph.layers[layer].name) has no node")
        }
        let modelEdges = drawing.edges.filter { !$0.from.hasPrefix("row:") && !$0.from.hasPrefix("legend:") }
        for edge in modelEdges {
            #expect(drawing.nodes[edge.from] != nil && drawing.nodes[edge.to] != nil, "\(context): edge to an undeclared node")
            if edge.attributes.contains(PlanDot.cutColour) {
                let layer = graph.index(of: String(edge.from.dropFirst("layer:".count)))
                #expect(layer.map(cut.contains) == true, "\(context): a transfer edge from \(edge.from), not a cut layer")
            }
        }
        #expect(modelEdges.contains { $0.attributes.contains(PlanDot.cutColour) } == !cut.isEmpty, "\(context): transfer edges")
        for layer in cut {
            let id = "layer:\(graph.layers[layer].name)"
            #expect(modelEdges.contains { $0.from == id && $0.attributes.contains(PlanDot.cutColour) }, "\(context): \(id) has no transfer edge")
        }
        // Implied edges may be left out, but every dependency of the model stays a path.
        func drawnNode(_ layer: Int) -> String {
            let id = "layer:\(graph.layers[layer].name)"
            return drawing.nodes[id] != nil ? id : "block:\(graph.layers[layer].block ?? "")"
        }
        var successors: [String: [String]] = [:]
        for edge in modelEdges { successors[edge.from, default: []].append(edge.to) }
        var reachable: [String: Set<String>] = [:]
        func reach(_ node: String) -> Set<String> {
            if let known = reachable[node] { return known }
            reachable[node] = []  // a cycle (not expected) ends the walk
            var result = Set<String>()
            for next in successors[node] ?? [] { result.insert(next); result.formUnion(reach(next)) }
            reachable[node] = result
            return result
        }
        for layer in 0..<graph.count {
            for consumer in graph.successors(of: layer) where drawnNode(layer) != drawnNode(consumer) {
                #expect(
                    reach(drawnNode(layer)).contains(drawnNode(consumer)),
                    "\(context): \(graph.layers[layer].name) -> \(graph.layers[consumer].name) is no longer a path")
            }
        }
    }

    @Test("optimal plans of every sample model over a sweep of link rates draw faithfully", arguments: SampleModels.names)
    func optimalPlans(name: String) throws {
        let model = try PreparedModel(graph: SampleModels.graph(name))
        let planner = SplitPlanner(model: model)
        for rate in Self.rates {
            let conditions = PlanningConditions(
                batchSize: 32, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 2e13,
                uplinkBitsPerSecond: rate, downlinkBitsPerSecond: 2 * rate, rttSeconds: 0.01)
            Self.expectFaithful(try planner.plan(.dag, conditions: conditions), model: model, context: "\(name) at \(rate) bit/s")
        }
    }

    @Test("splits through the middle of blocks open exactly those blocks", arguments: SampleModels.names)
    func splitsThroughBlocks(name: String) throws {
        let model = try PreparedModel(graph: SampleModels.graph(name), allowRawUpload: true)
        let graph = model.graph
        let conditions = PlanningConditions(
            batchSize: 32, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 2e13,
            uplinkBitsPerSecond: 1e8, downlinkBitsPerSecond: 2e8, rttSeconds: 0.01)
        var opened = 0
        for prefix in stride(from: 1, to: graph.count, by: max(1, graph.count / 40)) {
            // The first `prefix` layers in topological order, with every ancestor of a device layer.
            var onDevice = (0..<graph.count).map { $0 < prefix || model.rules.forcedDevice[$0] }
            for layer in stride(from: graph.count - 1, through: 0, by: -1) where onDevice[layer] {
                for producer in graph.predecessors(of: layer) { onDevice[producer] = true }
            }
            guard model.violation(of: onDevice) == nil else { continue }
            let plan = try model.plan(forSplit: onDevice, conditions: conditions)
            Self.expectFaithful(plan, model: model, context: "\(name) with the first \(prefix) layers on the device")
            let drawing = DotDrawing(PlanDot.render(plan: plan, model: model))
            for block in graph.blockLabels {
                let members = (0..<graph.count).filter { graph.layers[$0].block == block }
                let throughIt = members.contains { plan.cutLayers.contains($0) } || Set(members.map { onDevice[$0] }).count == 2
                #expect((drawing.nodes["block:\(block)"] == nil) == throughIt, "\(name) \(prefix): block \(block)")
                if throughIt {
                    opened += 1
                    #expect(members.allSatisfy { drawing.nodes["layer:\(graph.layers[$0].name)"]?.cluster != nil }, "\(name): open block \(block)")
                }
            }
        }
        #expect(opened > 0 || graph.blockLabels.isEmpty, "\(name): the sweep never cut through a block")
    }

    @Test("ResNet-50 at 100/200 Mbit/s draws left to right with a legend, in far fewer nodes than layers")
    func resnet50Readme() throws {
        let model = try PreparedModel(graph: SampleModels.graph("resnet50"))
        let conditions = PlanningConditions(
            batchSize: 32, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 2e13,
            uplinkBitsPerSecond: 1e8, downlinkBitsPerSecond: 2e8, rttSeconds: 0.01)
        let plan = try SplitPlanner(model: model).plan(.dag, conditions: conditions)
        let drawing = DotDrawing(PlanDot.render(plan: plan, model: model))
        #expect(drawing.source.contains("rankdir=LR"))
        #expect(drawing.modelNodes.count * 4 < model.graph.count, "\(drawing.modelNodes.count) nodes for \(model.graph.count) layers")
        #expect(!plan.cutLayers.isEmpty)
    }

    @Test("long names wrap at separators into lines of at most 16 characters, losing nothing")
    func wrapping() {
        for name in ["features_denseblock1_denselayer1_norm1", "layer1_0_conv1", "x", "averyveryverylongnamewithoutseparators", "a.b/c_d"] {
            let lines = PlanDiagram.wrap(name)
            #expect(lines.joined() == name)
            #expect(lines.allSatisfy { $0.count <= PlanDiagram.lineLength })
        }
        #expect(PlanDiagram.wrap("features_denseblock1_denselayer1_norm1") == ["features_", "denseblock1_", "denselayer1_", "norm1"])
    }
}
