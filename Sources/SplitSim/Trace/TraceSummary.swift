import Foundation

/// What `splitctl trace summarize` reports of a trace: its length and, per direction, the mean
/// capacity, percentiles of the capacity over windows of `windowSeconds`, the seconds of outage
/// and a sparkline.
public struct TraceSummary: Sendable, Equatable {
    /// One direction.
    public struct Direction: Sendable, Equatable {
        /// Bits carried over the trace divided by its length, bit/s.
        public var meanBitsPerSecond: Double
        /// Percentile → capacity over a window (5, 25, 50, 75, 95), bit/s.
        public var percentiles: [Int: Double]
        /// Windows that carried nothing, in seconds (each whole window counts its length).
        public var outageSeconds: Double
        /// Mean capacity of each window, bit/s.
        public var windowBitsPerSecond: [Double]
    }

    public var durationSeconds: Double
    public var windowSeconds: Double
    public var uplink: Direction
    public var downlink: Direction
    /// The trace's mean round trip, when it has one.
    public var meanRTTSeconds: Double?

    /// The percentiles reported.
    public static let percentileLevels = [5, 25, 50, 75, 95]

    /// Summarizes `trace` over windows of `windowSeconds` (1 s by default: per-millisecond traces
    /// such as mahimahi's are mostly zeros at their own resolution).
    public init(_ trace: NetworkTrace, windowSeconds: Double = 1) throws {
        let timeline = try LinkTimeline(trace, defaultRTTSeconds: 0)
        let start = timeline.start, end = timeline.end
        self.durationSeconds = end - start
        self.windowSeconds = windowSeconds
        self.meanRTTSeconds = trace.meanRTTSeconds
        func direction(_ link: LinkCapacity) -> Direction {
            var windows: [Double] = []
            var outage = 0.0
            var from = start
            while from < end {
                let to = min(end, from + windowSeconds)
                let rate = link.meanRate(from: from, to: to)
                windows.append(rate)
                if rate == 0 { outage += to - from }
                from = to
            }
            let sorted = windows.sorted()
            var percentiles: [Int: Double] = [:]
            for level in Self.percentileLevels {
                // Nearest rank.
                let rank = max(1, Int((Double(level) / 100 * Double(sorted.count)).rounded(.up)))
                percentiles[level] = sorted[min(sorted.count, rank) - 1]
            }
            return Direction(meanBitsPerSecond: link.meanBitsPerSecond, percentiles: percentiles, outageSeconds: outage, windowBitsPerSecond: windows)
        }
        uplink = direction(timeline.uplink)
        downlink = direction(timeline.downlink)
    }

    /// A one-line chart of `values` in `width` columns (each the mean of its values), eight levels
    /// scaled to the largest; a column with no capacity at all is a space.
    public static func sparkline(_ values: [Double], width: Int = 60) -> String {
        guard !values.isEmpty else { return "" }
        let columns = min(width, values.count)
        var means: [Double] = []
        for column in 0..<columns {
            let from = column * values.count / columns, to = (column + 1) * values.count / columns
            means.append(values[from..<to].reduce(0, +) / Double(to - from))
        }
        let top = means.max() ?? 0
        let blocks = Array("▁▂▃▄▅▆▇█")
        return String(
            means.map { value in
                guard value > 0, top > 0 else { return " " }
                return blocks[min(blocks.count - 1, Int(value / top * Double(blocks.count)))]
            })
    }

    /// The summary as text: length, then one block per direction.
    public func text(name: String) -> String {
        func rate(_ value: Double) -> String {
            value >= 1e9
                ? String(format: "%.2f Gbit/s", value / 1e9)
                : value >= 1e6 ? String(format: "%.2f Mbit/s", value / 1e6) : String(format: "%.1f kbit/s", value / 1e3)
        }
        var lines = [
            "\(name): \(String(format: "%.1f", durationSeconds)) s" + (meanRTTSeconds.map { String(format: ", mean rtt %.1f ms", $0 * 1e3) } ?? "")
        ]
        for (label, direction) in [("uplink", uplink), ("downlink", downlink)] {
            let levels = Self.percentileLevels.map { "p\($0) \(rate(direction.percentiles[$0] ?? 0))" }.joined(separator: ", ")
            lines.append(
                "  \(label.padding(toLength: 8, withPad: " ", startingAt: 0)) mean \(rate(direction.meanBitsPerSecond)); "
                    + "per \(String(format: "%g", windowSeconds)) s: \(levels)"
            )
            lines.append(
                "           outage \(String(format: "%.0f", direction.outageSeconds)) s "
                    + "(\(String(format: "%.1f", direction.outageSeconds / durationSeconds * 100))%)  "
                    + "|\(Self.sparkline(direction.windowBitsPerSecond))|"
            )
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The summary as a self-contained SVG: each direction's capacity per window over time, outage
    /// windows shaded.
    public func svg(title: String) -> String {
        let width = 960.0, height = 420.0, left = 70.0, right = 20.0, top = 40.0, bottom = 50.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let top1 = max(uplink.windowBitsPerSecond.max() ?? 0, downlink.windowBitsPerSecond.max() ?? 0, 1) * 1.05
        func x(_ index: Int, _ count: Int) -> Double { left + Double(index) / Double(max(count, 1)) * plotWidth }
        func y(_ value: Double) -> Double { top + plotHeight - value / top1 * plotHeight }
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" \
            font-family="Helvetica, Arial, sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(left)" y="24" font-size="15" font-weight="bold">\(DelayChart.escape(title))</text>

            """
        let count = downlink.windowBitsPerSecond.count
        for (index, value) in downlink.windowBitsPerSecond.enumerated() where value == 0 || uplink.windowBitsPerSecond[index] == 0 {
            svg +=
                "<rect x=\"\(DelayChart.format(x(index, count)))\" y=\"\(top)\" width=\"\(DelayChart.format(plotWidth / Double(count)))\" "
                + "height=\"\(plotHeight)\" fill=\"#f4cccc\"/>\n"
        }
        for tick in DelayChart.ticks(top1) {
            svg += "<text x=\"\(left - 6)\" y=\"\(DelayChart.format(y(tick) + 4))\" text-anchor=\"end\">\(DelayChart.label(tick / 1e6))</text>\n"
        }
        for (colour, values, label) in [("#1f77b4", uplink.windowBitsPerSecond, "uplink"), ("#ff7f0e", downlink.windowBitsPerSecond, "downlink")] {
            var points: [String] = []
            for (index, value) in values.enumerated() {
                points.append("\(DelayChart.format(x(index, values.count))),\(DelayChart.format(y(value)))")
                points.append("\(DelayChart.format(x(index + 1, values.count))),\(DelayChart.format(y(value)))")
            }
            svg += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.4\" points=\"\(points.joined(separator: " "))\"/>\n"
            svg +=
                "<text x=\"\(DelayChart.format(left + plotWidth - 80))\" y=\"\(label == "uplink" ? top + 14 : top + 30)\" "
                + "fill=\"\(colour)\">\(label)</text>\n"
        }
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotWidth)\" height=\"\(plotHeight)\" fill=\"none\" stroke=\"#333\"/>\n"
        svg +=
            "<text x=\"\(left + plotWidth / 2)\" y=\"\(height - 12)\" text-anchor=\"middle\">"
            + "time (s, 0 to \(DelayChart.label(durationSeconds)); outages shaded)</text>\n"
        svg += "<text transform=\"translate(18,\(top + plotHeight / 2)) rotate(-90)\" text-anchor=\"middle\">capacity (Mbit/s)</text>\n"
        return svg + "</svg>\n"
    }
}
