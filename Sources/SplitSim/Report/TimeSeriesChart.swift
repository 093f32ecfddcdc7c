import Foundation

/// Values over time as a self-contained SVG line chart, with vertical markers for events (a
/// device's link rates with its plan changes, say). Axes, ticks, labels and colours are
/// `DelayChart`'s, so every chart splitd draws reads the same; each point is also drawn as a dot
/// (class `point`, with a tooltip) when a series has few enough to tell apart.
public enum TimeSeriesChart {
    /// One line of the chart: values at times (seconds from the start of the chart's span).
    public struct Series: Sendable {
        public var name: String
        public var times: [Double]
        public var values: [Double]

        /// A series; `times` and `values` pair up in order.
        public init(name: String, times: [Double], values: [Double]) {
            self.name = name
            self.times = times
            self.values = values
        }
    }

    /// A vertical line at a time, labelled (a plan change, say).
    public struct Marker: Sendable {
        public var time: Double
        public var label: String

        /// A marker at `time` seconds from the start of the span.
        public init(time: Double, label: String) {
            self.time = time
            self.label = label
        }
    }

    /// Most points per series drawn as dots as well as a line.
    static let maximumDots = 600

    /// The SVG document: `series` over `[0, spanSeconds]`, values scaled by `valueScale` for the
    /// axis (1e-6 for Mbit/s), `timeLabel(seconds)` naming each time tick.
    public static func svg(
        title: String, valueAxis: String, series: [Series], markers: [Marker] = [], spanSeconds: Double, valueScale: Double = 1,
        width: Int = 960, height: Int = 320, timeLabel: (Double) -> String
    ) -> String {
        let left = 70.0, right = 20.0, top = 48.0, bottom = 44.0
        let plotWidth = Double(width) - left - right, plotHeight = Double(height) - top - bottom
        let span = max(spanSeconds, 1e-9)
        let maximum = max((series.flatMap(\.values).max() ?? 0) * valueScale, 1e-9) * 1.05
        func x(_ time: Double) -> Double { left + min(max(time / span, 0), 1) * plotWidth }
        func y(_ value: Double) -> Double { top + plotHeight - value * valueScale / maximum * plotHeight }
        let format = DelayChart.format, escape = DelayChart.escape
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" class="chart" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" \
            font-family="Helvetica, Arial, sans-serif" font-size="\(Int(DelayChart.fontSize))" role="img">
            <title>\(escape(title))</title>
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(format(left))" y="20" font-size="15" font-weight="bold">\(escape(title))</text>

            """
        for tick in DelayChart.ticks(maximum) {
            svg += "<line x1=\"\(format(left))\" y1=\"\(format(y(tick / valueScale)))\" x2=\"\(format(left + plotWidth))\" "
            svg += "y2=\"\(format(y(tick / valueScale)))\" stroke=\"#e5e5e5\"/>"
            svg += "<text x=\"\(format(left - 6))\" y=\"\(format(y(tick / valueScale) + 4))\" text-anchor=\"end\">\(DelayChart.label(tick))</text>\n"
        }
        for tick in DelayChart.ticks(span) {
            svg += "<line x1=\"\(format(x(tick)))\" y1=\"\(format(top + plotHeight))\" x2=\"\(format(x(tick)))\" "
            svg += "y2=\"\(format(top + plotHeight + 4))\" stroke=\"#333\"/>"
            svg += "<text x=\"\(format(x(tick)))\" y=\"\(format(top + plotHeight + 18))\" text-anchor=\"middle\">\(escape(timeLabel(tick)))</text>\n"
        }
        svg +=
            "<rect x=\"\(format(left))\" y=\"\(format(top))\" width=\"\(format(plotWidth))\" height=\"\(format(plotHeight))\" "
            + "fill=\"none\" stroke=\"#333\"/>\n"
        svg += "<text transform=\"translate(18,\(format(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">\(escape(valueAxis))</text>\n"
        for marker in markers {
            svg += "<g class=\"marker\"><title>\(escape(marker.label))</title>"
            svg += "<line x1=\"\(format(x(marker.time)))\" y1=\"\(format(top))\" x2=\"\(format(x(marker.time)))\" y2=\"\(format(top + plotHeight))\" "
            svg += "stroke=\"#555555\" stroke-dasharray=\"3,3\"/>"
            // Labels near the right edge go left of their line, so none is clipped.
            let leftOfLine = x(marker.time) + DelayChart.textWidth(marker.label) * 10 / DelayChart.fontSize + 3 > left + plotWidth
            svg += "<text x=\"\(format(x(marker.time) + (leftOfLine ? -3 : 3)))\" y=\"\(format(top + 11))\" font-size=\"10\" fill=\"#555555\""
            svg += "\(leftOfLine ? " text-anchor=\"end\"" : "")>\(escape(marker.label))</text></g>\n"
        }
        if series.allSatisfy({ $0.values.isEmpty }) {
            svg += "<text x=\"\(format(left + plotWidth / 2))\" y=\"\(format(top + plotHeight / 2))\" text-anchor=\"middle\" fill=\"#777777\">"
            svg += "no samples in this window</text>\n"
        }
        var legendLeft = left + plotWidth
        for (index, line) in series.enumerated().reversed() {
            legendLeft -= DelayChart.textWidth(line.name) + DelayChart.legendSwatchWidth + DelayChart.legendSwatchGap + 16
            let colour = DelayChart.palette[index % DelayChart.palette.count]
            svg += "<line x1=\"\(format(legendLeft))\" y1=\"\(format(top - 12))\" x2=\"\(format(legendLeft + DelayChart.legendSwatchWidth))\" "
            svg += "y2=\"\(format(top - 12))\" stroke=\"\(colour)\" stroke-width=\"3\"/>"
            svg += "<text x=\"\(format(legendLeft + DelayChart.legendSwatchWidth + DelayChart.legendSwatchGap))\" y=\"\(format(top - 8))\">"
            svg += "\(escape(line.name))</text>\n"
        }
        for (index, line) in series.enumerated() {
            let colour = DelayChart.palette[index % DelayChart.palette.count]
            let points = zip(line.times, line.values).map { "\(format(x($0))),\(format(y($1)))" }
            svg += "<g class=\"series\">"
            svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.6\" points=\"\(points.joined(separator: " "))\"/>\n"
            if line.values.count <= maximumDots {
                for (time, value) in zip(line.times, line.values) {
                    svg += "<circle class=\"point\" cx=\"\(format(x(time)))\" cy=\"\(format(y(value)))\" r=\"2.2\" fill=\"\(colour)\">"
                    svg += "<title>\(escape(timeLabel(time))): \(DelayChart.label(value * valueScale))</title></circle>"
                }
            }
            svg += "</g>\n"
        }
        return svg + "</svg>\n"
    }
}
