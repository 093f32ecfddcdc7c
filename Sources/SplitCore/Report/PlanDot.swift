import Foundation

/// Renders a plan as a Graphviz graph a person can read: left to right in wrapped rows, labelled
/// blocks collapsed into one node unless the cut passes through them (`PlanDiagram`), device
/// layers blue, server layers orange, cut layers outlined and transfer edges drawn red and bold,
/// and a legend.
public enum PlanDot {
    static let deviceColour = "#9ecae1"
    static let serverColour = "#fdae6b"
    static let cutColour = "#d62728"

    /// The DOT source for `plan` of `model`.
    public static func render(plan: Plan, model: PreparedModel) -> String {
        let graph = model.graph
        let diagram = PlanDiagram(plan: plan, graph: graph)
        let deviceCount = plan.onDevice.filter { $0 }.count
        let sent =
            plan.transferBytes.isFinite && plan.transferBytes >= 0 && plan.transferBytes < 9e18
            ? ByteQuantity.short(Int64(plan.transferBytes)) : "\(plan.transferBytes) B"
        let title = [
            "\(graph.name): \(plan.algorithm.rawValue) plan, \(formatSeconds(plan.delaySeconds)) per iteration; "
                + "\(plan.cutLayers.count) cut layer\(plan.cutLayers.count == 1 ? "" : "s"), \(sent) each way",
            "\(graph.count) layers: \(deviceCount) on the device, \(graph.count - deviceCount) on the server",
        ]
        var lines = [
            "digraph \(quote(graph.name)) {",
            """
              graph [rankdir=LR, labelloc=t, fontname=\"Helvetica\", fontsize=13, nodesep=0.3, ranksep=0.25, splines=line, \
            label=\(label(title))];
            """,
            "  node [shape=box, style=filled, fontname=\"Helvetica\", fontsize=10, margin=\"0.06,0.03\", height=0.3];",
            "  edge [color=\"#555555\", arrowsize=0.6, fontname=\"Helvetica\"];",
        ]
        for (index, cluster) in diagram.clusters.enumerated() {
            lines.append("  subgraph cluster_\(index) {")
            lines.append("    label=\(quote(cluster.name)); style=rounded; color=\"#999999\"; fontsize=10;")
            for node in cluster.nodes { lines.append("    " + statement(diagram.nodes[node])) }
            lines.append("  }")
        }
        for node in diagram.nodes where node.cluster == nil { lines.append("  " + statement(node)) }

        // Rows: an invisible anchor per row, anchors stacked in order in the first rank; a node
        // whose column no predecessor in its row fixes hangs from its row's anchor at that column.
        let legendRow = diagram.rowCount
        lines.append("  node [shape=point, style=invis, width=0, height=0, label=\"\"];")
        let anchors = (0...legendRow).map { quote("row:\($0)") }
        lines.append("  { rank=same; \(anchors.joined(separator: "; ")); }")
        lines.append("  \(anchors.joined(separator: " -> ")) [style=invis];")
        var placed = [Bool](repeating: false, count: diagram.nodes.count)
        for edge in diagram.edges {
            let from = diagram.nodes[edge.from], to = diagram.nodes[edge.to]
            if from.row == to.row && from.position + 1 == to.position { placed[edge.to] = true }
        }
        for (index, node) in diagram.nodes.enumerated() where !placed[index] {
            lines.append("  \(anchors[node.row]) -> \(quote(node.id)) [style=invis, minlen=\(node.position + 1)];")
        }

        for edge in diagram.edges {
            let from = diagram.nodes[edge.from], to = diagram.nodes[edge.to]
            var attributes: [String] = []
            if edge.transfers { attributes += ["color=\"\(cutColour)\"", "penwidth=2.5"] }
            // Between rows: out of the bottom, into the top, not ranked (the row wraps).
            if from.row != to.row { attributes += ["constraint=false", "tailport=s", "headport=n"] }
            let suffix = attributes.isEmpty ? "" : " [\(attributes.joined(separator: ", "))]"
            lines.append("  \(quote(from.id)) -> \(quote(to.id))\(suffix);")
        }
        lines += legend(anchor: anchors[legendRow], omittedEdges: diagram.omittedEdgeCount)
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The node statement for `node`.
    static func statement(_ node: PlanDiagram.Node) -> String {
        var attributes = ["label=\(label(node.lines))", "fillcolor=\"\(node.onDevice ? deviceColour : serverColour)\""]
        if node.blockLayerCount != nil { attributes.append("style=\"rounded,filled\"") }
        // Nodes outside open blocks line up along their row.
        if node.cluster == nil { attributes.append("group=\"row \(node.row)\"") }
        if node.isCut { attributes += ["penwidth=3", "color=\"\(cutColour)\""] }
        return "\(quote(node.id)) [\(attributes.joined(separator: ", "))];"
    }

    /// The legend, one row below the plan: a device layer, a cut layer sending to a server
    /// layer over a transfer edge, a collapsed block, and how many implied edges were left out.
    static func legend(anchor: String, omittedEdges: Int) -> [String] {
        let note = omittedEdges == 0 ? "" : "\\n\(omittedEdges) edge\(omittedEdges == 1 ? "" : "s") implied by longer paths not drawn"
        return [
            "  subgraph cluster_legend {",
            "    label=\"legend\(note)\"; style=rounded; color=\"#999999\"; fontsize=10;",
            "    node [shape=box, style=filled, width=0.75, height=0.3];",
            "    \"legend:device\" [label=\"device layer\", fillcolor=\"\(deviceColour)\"];",
            "    \"legend:cut\" [label=\"cut layer\", fillcolor=\"\(deviceColour)\", penwidth=3, color=\"\(cutColour)\"];",
            "    \"legend:server\" [label=\"server layer\", fillcolor=\"\(serverColour)\"];",
            "    \"legend:block\" [label=\"block name\\nN layers, side\", style=\"rounded,filled\", fillcolor=\"#e0e0e0\"];",
            "    \"legend:device\" -> \"legend:cut\";",
            """
                \"legend:cut\" -> \"legend:server\" [color=\"\(cutColour)\", penwidth=2.5, label=\"transfer\", fontsize=9, \
            fontcolor=\"\(cutColour)\"];
            """,
            "    \"legend:server\" -> \"legend:block\" [style=invis];",
            "  }",
            "  \(anchor) -> \"legend:device\" [style=invis];",
        ]
    }

    /// A DOT string literal of `lines`, one per line.
    static func label(_ lines: [String]) -> String {
        "\"" + lines.map(escape).joined(separator: "\\n") + "\""
    }

    /// A DOT string literal.
    static func quote(_ text: String) -> String { "\"" + escape(text) + "\"" }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: " ")
    }
}

/// Formats a duration for people: `812 µs`, `41.2 ms`, `3.05 s`.
public func formatSeconds(_ seconds: Double) -> String {
    if seconds < 1e-3 { return String(format3(seconds * 1e6)) + " µs" }
    if seconds < 1 { return String(format3(seconds * 1e3)) + " ms" }
    return String(format3(seconds)) + " s"
}

/// Three significant digits (more for large values, never scientific notation).
func format3(_ value: Double) -> String {
    guard value.isFinite, value != 0 else { return value == 0 ? "0" : "\(value)" }
    let magnitude = Int(log10(abs(value)).rounded(.down))
    return String(format: "%.\(max(0, 2 - magnitude))f", value)
}
