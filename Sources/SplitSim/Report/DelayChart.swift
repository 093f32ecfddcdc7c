import Foundation

/// Renders per-iteration delay over time, one line per policy, as a self-contained SVG.
///
/// Nothing the mean counts is left out: the iteration in progress when the trace ends (often a
/// migration, or a slow link, that dominates a short run's mean) is drawn dotted at its whole
/// delay up to the trace's end, named in the legend when it is slower than every completed one,
/// and the delay axis reaches the largest delay drawn, so no point is clipped.
///
/// The legend sits right of the plot in a box sized from its longest entry (text width
/// estimated at `characterWidthEm` per character, generous for Helvetica/Arial), and the chart
/// grows wider or taller when the legend needs it, so no entry is clipped however many policies
/// there are.
public enum DelayChart {
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]
    /// Font size of labels and legend, px.
    static let fontSize = 12.0
    /// Upper estimate of a character's advance in the chart's font, in em (Helvetica averages
    /// about 0.5 em over lower-case letters and digits; only `m`, `w` and capitals exceed 0.6).
    static let characterWidthEm = 0.6
    /// Height of one legend entry, px.
    static let legendRowHeight = 20.0
    /// Space inside the legend box around its entries, px.
    static let legendPadding = 8.0
    /// Length of a legend entry's line sample, and the gap before its text, px.
    static let legendSwatchWidth = 26.0, legendSwatchGap = 6.0

    /// The SVG document for `report`.
    public static func svg(_ report: SimulationReport, title: String) -> String {
        let legendTexts = report.policies.map { result in
            "\(result.policy.rawValue) (mean \(label(result.meanDelaySeconds)) s"
                + (result.unfinishedIterationIsSlowest
                    ? "; unfinished at the end: \(label(result.unfinishedIterationDelaySeconds ?? .nan)) s, dotted" : "") + ")"
        }
        let legendWidth = 2 * legendPadding + legendSwatchWidth + legendSwatchGap + (legendTexts.map(textWidth).max() ?? 0)
        let legendHeight = 2 * legendPadding + Double(legendTexts.count) * legendRowHeight
        let left = 70.0, top = 40.0, bottom = 50.0, legendGap = 14.0, minimumPlotWidth = 600.0
        let right = legendGap + legendWidth + 10
        let width = max(960, left + minimumPlotWidth + right).rounded(.up)
        let height = max(480, top + legendHeight + bottom).rounded(.up)
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let maxTime = max(report.traceDurationSeconds, 1e-9)
        let maxDelay = max(report.policies.compactMap { $0.largestDelaySeconds }.max() ?? 1, 1e-9) * 1.05
        func x(_ time: Double) -> Double { left + time / maxTime * plotWidth }
        func y(_ delay: Double) -> Double { top + plotHeight - delay / maxDelay * plotHeight }
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" \
            font-family="Helvetica, Arial, sans-serif" font-size="\(Int(fontSize))">
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
        let legendLeft = left + plotWidth + legendGap
        var legend = """
            <g id=\"legend\">\n<rect x=\"\(format(legendLeft))\" y=\"\(format(top))\" width=\"\(format(legendWidth))\" \
            height=\"\(format(legendHeight))\" fill=\"white\" stroke=\"#cccccc\"/>\n
            """
        for (index, result) in report.policies.enumerated() {
            let colour = palette[index % palette.count]
            var points: [String] = []
            for (start, delay) in zip(result.iterationStartSeconds, result.iterationDelaySeconds) {
                points.append("\(format(x(start))),\(format(y(delay)))")
                points.append("\(format(x(start + delay))),\(format(y(delay)))")
            }
            let dash = result.policy == .block ? " stroke-dasharray=\"6,4\"" : ""
            svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.6\"\(dash) points=\"\(points.joined(separator: " "))\"/>\n"
            if let start = result.unfinishedIterationStartSeconds, let delay = result.unfinishedIterationDelaySeconds {
                // From the level of the last completed iteration (or the axis) up to the whole
                // delay, then along it to the trace's end, where the iteration is still running.
                let previous = result.iterationDelaySeconds.last ?? 0
                let unfinished = [(start, previous), (start, delay), (maxTime, delay)].map { "\(format(x($0.0))),\(format(y($0.1)))" }
                svg += """
                    <polyline class="unfinished" fill="none" stroke="\(colour)" stroke-width="1.6" stroke-dasharray="2,3" \
                    points="\(unfinished.joined(separator: " "))"><title>\(escape(result.policy.rawValue)): iteration unfinished at the \
                    trace's end, \(label(delay)) s</title></polyline>\n
                    """
            }
            let rowMiddle = top + legendPadding + (Double(index) + 0.5) * legendRowHeight
            let swatchLeft = legendLeft + legendPadding
            legend += """
                <line x1=\"\(format(swatchLeft))\" y1=\"\(format(rowMiddle))\" x2=\"\(format(swatchLeft + legendSwatchWidth))\" \
                y2=\"\(format(rowMiddle))\" stroke=\"\(colour)\" stroke-width=\"3\"\(dash)/>
                """
            legend += """
                <text x=\"\(format(swatchLeft + legendSwatchWidth + legendSwatchGap))\" \
                y=\"\(format(rowMiddle + fontSize / 3))\">\(escape(legendTexts[index]))</text>\n
                """
        }
        svg += legend + "</g>\n"
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

    /// Upper estimate of the width of `text` in the chart's font, px.
    static func textWidth(_ text: String) -> Double { Double(text.count) * characterWidthEm * fontSize }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}

extension PolicyResult {
    /// The largest delay a chart draws for this policy: every completed iteration and the unfinished one.
    var largestDelaySeconds: Double? {
        (iterationDelaySeconds + [unfinishedIterationDelaySeconds].compactMap { $0 }).max()
    }
}
