import Foundation

/// Renders a plan as a Graphviz graph: device layers blue, server layers orange, cut edges red
/// and bold, labelled blocks as clusters.
public enum PlanDot {
    /// The DOT source for `plan` of `model`.
    public static func render(plan: Plan, model: PreparedModel) -> String {
        let graph = model.graph
        var lines = ["digraph \"\(escape(graph.name))\" {", "  rankdir=TB;", "  node [shape=box, style=filled, fontname=\"Helvetica\", fontsize=10];",
                     "  label=\"\(escape(graph.name)): \(plan.algorithm.rawValue), delay \(formatSeconds(plan.delaySeconds)), \(plan.cutLayers.count) cut layer(s)\";",
                     "  labelloc=t;"]
        func node(_ layer: Int) -> String {
            let colour = plan.onDevice[layer] ? "#9ecae1" : "#fdae6b"
            let name = graph.layers[layer].name
            let cut = plan.cutLayers.contains(layer) ? ", penwidth=3, color=\"#d62728\"" : ""
            return "\"\(escape(name))\" [fillcolor=\"\(colour)\"\(cut)];"
        }
        var clusterOf: [String: [Int]] = [:]
        var unclustered: [Int] = []
        for layer in 0..<graph.count {
            if let block = graph.layers[layer].block { clusterOf[block, default: []].append(layer) } else { unclustered.append(layer) }
        }
        for (index, block) in graph.blockLabels.enumerated() {
            lines.append("  subgraph cluster_\(index) {")
            lines.append("    label=\"\(escape(block))\"; style=rounded; color=\"#999999\";")
            for layer in clusterOf[block]! { lines.append("    " + node(layer)) }
            lines.append("  }")
        }
        for layer in unclustered { lines.append("  " + node(layer)) }
        for layer in 0..<graph.count {
            for consumer in graph.successors(of: layer) {
                let crosses = plan.onDevice[layer] && !plan.onDevice[consumer]
                let style = crosses ? " [color=\"#d62728\", penwidth=2.5]" : ""
                lines.append("  \"\(escape(graph.layers[layer].name))\" -> \"\(escape(graph.layers[consumer].name))\"\(style);")
            }
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
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
