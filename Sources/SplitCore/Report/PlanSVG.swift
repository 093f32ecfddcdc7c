import Foundation

/// Draws a plan as a self-contained SVG, from the same `PlanDiagram` as `PlanDot` (blocks the cut
/// does not pass through collapsed, the sequence wrapped into rows), laid out without Graphviz:
/// each node sits at its row and column, nodes sharing a column stack, open blocks are boxed.
/// Device layers blue, server layers orange, cut layers outlined red, transfer edges red and bold;
/// every node's full name is its tooltip. No scripts, no styles: attributes only.
public enum PlanSVG {
    static let nodeWidth = 118.0, columnGap = 34.0, lineHeight = 12.0, nodePadding = 8.0, laneGap = 10.0, rowGap = 34.0
    static let margin = 20.0, titleHeight = 46.0, legendHeight = 40.0

    /// The SVG of the split of `graph` that puts `onDevice[v]` layers on the device; `title` lines
    /// head the drawing (the caller's numbers: delay, transfer, conditions).
    public static func render(graph: ModelGraph, onDevice: [Bool], title: [String]) -> String {
        precondition(onDevice.count == graph.count, "onDevice must have one entry per layer")
        let cutLayers = (0..<graph.count).filter { layer in onDevice[layer] && graph.successors(of: layer).contains { !onDevice[$0] } }
        let plan = Plan(
            algorithm: .dag, onDevice: onDevice, delaySeconds: 0,
            breakdown: DelayBreakdown(deviceComputeSeconds: 0, serverComputeSeconds: 0, uplinkSeconds: 0, downlinkSeconds: 0, rttSeconds: 0),
            cutLayers: cutLayers, transferBytes: 0, solveMicroseconds: 0, deviceMemoryBytes: 0, memoryBound: false)
        return render(PlanDiagram(plan: plan, graph: graph), graph: graph, title: title)
    }

    static func render(_ diagram: PlanDiagram, graph: ModelGraph, title: [String]) -> String {
        let nodes = diagram.nodes
        // Lanes: nodes sharing a row and column stack in the order they come.
        var lane = [Int](repeating: 0, count: nodes.count)
        var lanes: [Int: Int] = [:]
        var columns = 0
        for (index, node) in nodes.enumerated() {
            let key = node.row * 1_000_000 + node.position
            lane[index] = lanes[key, default: 0]
            lanes[key] = lane[index] + 1
            columns = max(columns, node.position + 1)
        }
        func height(_ node: PlanDiagram.Node) -> Double { Double(node.lines.count) * lineHeight + nodePadding }
        let laneHeight = (nodes.map(height).max() ?? lineHeight) + laneGap
        var rowTop = [Double](repeating: 0, count: max(diagram.rowCount, 1) + 1)
        rowTop[0] = margin + titleHeight + Double(title.count) * 16
        for row in 0..<max(diagram.rowCount, 1) {
            let deepest = nodes.indices.filter { nodes[$0].row == row }.map { lane[$0] + 1 }.max() ?? 1
            rowTop[row + 1] = rowTop[row] + Double(deepest) * laneHeight + rowGap
        }
        func frame(_ index: Int) -> (x: Double, y: Double, width: Double, height: Double) {
            let node = nodes[index]
            return (
                margin + Double(node.position) * (nodeWidth + columnGap), rowTop[node.row] + Double(lane[index]) * laneHeight + 14,
                nodeWidth, height(node)
            )
        }
        let width = (margin * 2 + Double(max(columns, 4)) * (nodeWidth + columnGap)).rounded(.up)
        let totalHeight = (rowTop[max(diagram.rowCount, 1)] + legendHeight + margin).rounded(.up)
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" class="plan" width="\(Int(width))" height="\(Int(totalHeight))" \
            viewBox="0 0 \(Int(width)) \(Int(totalHeight))" font-family="Helvetica, Arial, sans-serif" font-size="10" role="img">
            <title>\(escape(graph.name)): split plan</title>
            <rect width="100%" height="100%" fill="white"/>

            """
        for (index, line) in title.enumerated() {
            svg += "<text x=\"\(f(margin))\" y=\"\(f(margin + 14 + Double(index) * 16))\" font-size=\"\(index == 0 ? 14 : 12)\""
            svg += index == 0 ? " font-weight=\"bold\">" : ">"
            svg += "\(escape(line))</text>\n"
        }
        // Open blocks: a box around their layers.
        for cluster in diagram.clusters where !cluster.nodes.isEmpty {
            let frames = cluster.nodes.map(frame)
            let minX = frames.map(\.x).min()! - 6, minY = frames.map(\.y).min()! - 14
            let maxX = frames.map { $0.x + $0.width }.max()! + 6, maxY = frames.map { $0.y + $0.height }.max()! + 5
            svg += "<g class=\"block\"><rect x=\"\(f(minX))\" y=\"\(f(minY))\" width=\"\(f(maxX - minX))\" height=\"\(f(maxY - minY))\" rx=\"6\" "
            svg +=
                "fill=\"none\" stroke=\"#999999\"/><text x=\"\(f(minX + 4))\" y=\"\(f(minY + 10))\" fill=\"#666666\">"
                + "\(escape(cluster.name))</text></g>\n"
        }
        // Edges first, so nodes draw over their ends.
        for edge in diagram.edges {
            let from = frame(edge.from), to = frame(edge.to)
            let colour = edge.transfers ? PlanDot.cutColour : "#888888"
            let stroke = edge.transfers ? "2.5" : "1"
            let path: String
            if nodes[edge.from].row == nodes[edge.to].row && nodes[edge.to].position > nodes[edge.from].position {
                let startX = from.x + from.width, startY = from.y + from.height / 2, endX = to.x, endY = to.y + to.height / 2
                let bend = (endX - startX) / 2
                path = "M\(f(startX)),\(f(startY)) C\(f(startX + bend)),\(f(startY)) \(f(endX - bend)),\(f(endY)) \(f(endX)),\(f(endY))"
            } else {
                let startX = from.x + from.width / 2, startY = from.y + from.height, endX = to.x + to.width / 2, endY = to.y
                path = "M\(f(startX)),\(f(startY)) C\(f(startX)),\(f(startY + 24)) \(f(endX)),\(f(endY - 24)) \(f(endX)),\(f(endY))"
            }
            svg +=
                "<path class=\"\(edge.transfers ? "transfer" : "edge")\" d=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" "
                + "stroke-width=\"\(stroke)\"/>\n"
        }
        for index in nodes.indices {
            let node = nodes[index], box = frame(index)
            let fill = node.onDevice ? PlanDot.deviceColour : PlanDot.serverColour
            let outline = node.isCut ? "stroke=\"\(PlanDot.cutColour)\" stroke-width=\"3\"" : "stroke=\"#555555\" stroke-width=\"0.8\""
            let kind = node.isCut ? "node cut" : node.onDevice ? "node device" : "node server"
            let name = node.id.split(separator: ":", maxSplits: 1).last.map(String.init) ?? node.id
            svg += "<g class=\"\(kind)\"><title>\(escape(name))\(node.blockLayerCount.map { " (\($0) layers)" } ?? "")</title>"
            svg += "<rect x=\"\(f(box.x))\" y=\"\(f(box.y))\" width=\"\(f(box.width))\" height=\"\(f(box.height))\" "
            svg += "rx=\"\(node.blockLayerCount == nil ? 2 : 8)\" fill=\"\(fill)\" \(outline)/>"
            for (line, text) in node.lines.enumerated() {
                svg += "<text x=\"\(f(box.x + 5))\" y=\"\(f(box.y + nodePadding / 2 + lineHeight * Double(line + 1) - 2))\">\(escape(text))</text>"
            }
            svg += "</g>\n"
        }
        svg += legend(top: rowTop[max(diagram.rowCount, 1)], omittedEdges: diagram.omittedEdgeCount)
        return svg + "</svg>\n"
    }

    /// The legend below the drawing: a device layer, a cut layer, a server layer, a transfer edge.
    static func legend(top: Double, omittedEdges: Int) -> String {
        var svg = "<g class=\"legend\">"
        let entries: [(String, String, String)] = [
            ("device layer", deviceFill, "stroke=\"#555555\" stroke-width=\"0.8\""),
            ("cut layer (sends its output)", deviceFill, "stroke=\"\(PlanDot.cutColour)\" stroke-width=\"3\""),
            ("server layer", serverFill, "stroke=\"#555555\" stroke-width=\"0.8\""),
        ]
        var x = margin
        for (label, fill, outline) in entries {
            svg += "<rect x=\"\(f(x))\" y=\"\(f(top))\" width=\"22\" height=\"14\" fill=\"\(fill)\" \(outline)/>"
            svg += "<text x=\"\(f(x + 28))\" y=\"\(f(top + 11))\">\(escape(label))</text>"
            x += 40 + Double(label.count) * 6
        }
        svg +=
            "<line x1=\"\(f(x))\" y1=\"\(f(top + 7))\" x2=\"\(f(x + 26))\" y2=\"\(f(top + 7))\" "
            + "stroke=\"\(PlanDot.cutColour)\" stroke-width=\"2.5\"/>"
        svg += "<text x=\"\(f(x + 32))\" y=\"\(f(top + 11))\">transfer</text>"
        if omittedEdges > 0 {
            svg += "<text x=\"\(f(margin))\" y=\"\(f(top + 30))\" fill=\"#666666\">"
            svg += "\(omittedEdges) edge\(omittedEdges == 1 ? "" : "s") implied by longer paths not drawn</text>"
        }
        return svg + "</g>\n"
    }

    static var deviceFill: String { PlanDot.deviceColour }
    static var serverFill: String { PlanDot.serverColour }

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    /// Text for SVG content and attribute values.
    static func escape(_ text: String) -> String {
        var escaped = ""
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
