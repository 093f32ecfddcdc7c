import Foundation

/// Renders per-iteration delay over time, one line per policy, as a self-contained SVG.
public enum DelayChart {
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]

    /// The SVG document for `report`.
    public static func svg(_ report: SimulationReport, title: String) -> String {
        let width = 960.0, height = 480.0
        let left = 70.0, right = 180.0, top = 40.0, bottom = 50.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let maxTime = max(report.traceDurationSeconds, 1e-9)
        let maxDelay = max(report.policies.flatMap(\.iterationDelaySeconds).max() ?? 1, 1e-9) * 1.05
        func x(_ time: Double) -> Double { left + time / maxTime * plotWidth }
        func y(_ delay: Double) -> Double { top + plotHeight - delay / maxDelay * plotHeight }
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(left)" y="24" font-size="15" font-weight="bold">\(escape(title))</text>

            """
        // Axes and grid.
        for tick in ticks(maxDelay) {
            svg += "<line x1=\"\(left)\" y1=\"\(y(tick))\" x2=\"\(left + plotWidth)\" y2=\"\(y(tick))\" stroke=\"#e5e5e5\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(y(tick) + 4)\" text-anchor=\"end\">\(label(tick))</text>\n"
        }
        for tick in ticks(maxTime) {
            svg += "<line x1=\"\(x(tick))\" y1=\"\(top + plotHeight)\" x2=\"\(x(tick))\" y2=\"\(top + plotHeight + 4)\" stroke=\"#333\"/>"
            svg += "<text x=\"\(x(tick))\" y=\"\(top + plotHeight + 18)\" text-anchor=\"middle\">\(label(tick))</text>\n"
        }
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotWidth)\" height=\"\(plotHeight)\" fill=\"none\" stroke=\"#333\"/>\n"
        svg += "<text x=\"\(left + plotWidth / 2)\" y=\"\(height - 12)\" text-anchor=\"middle\">time in trace (s)</text>\n"
        svg += "<text transform=\"translate(18,\(top + plotHeight / 2)) rotate(-90)\" text-anchor=\"middle\">iteration delay (s)</text>\n"
        for (index, result) in report.policies.enumerated() {
            let colour = palette[index % palette.count]
            var points: [String] = []
            for (start, delay) in zip(result.iterationStartSeconds, result.iterationDelaySeconds) {
                points.append("\(format(x(start))),\(format(y(delay)))")
                points.append("\(format(x(start + delay))),\(format(y(delay)))")
            }
            let dash = result.policy == .block ? " stroke-dasharray=\"6,4\"" : ""
            svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.6\"\(dash) points=\"\(points.joined(separator: " "))\"/>\n"
            let legendY = top + 10 + Double(index) * 20
            svg += "<line x1=\"\(left + plotWidth + 14)\" y1=\"\(legendY)\" x2=\"\(left + plotWidth + 40)\" y2=\"\(legendY)\" stroke=\"\(colour)\" stroke-width=\"3\"\(dash)/>"
            svg += "<text x=\"\(left + plotWidth + 46)\" y=\"\(legendY + 4)\">\(result.policy.rawValue) (mean \(label(result.meanDelaySeconds)) s)</text>\n"
        }
        return svg + "</svg>\n"
    }

    static func ticks(_ maximum: Double) -> [Double] {
        let raw = maximum / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        return stride(from: 0, through: maximum, by: step).map { $0 }
    }

    static func label(_ value: Double) -> String {
        if value == 0 { return "0" }
        if abs(value) >= 100 { return String(format: "%.0f", value) }
        if abs(value) >= 1 { return String(format: "%.2g", value).replacingOccurrences(of: "e+0", with: "e") }
        return String(format: "%.3g", value)
    }

    static func format(_ value: Double) -> String { String(format: "%.1f", value) }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
