import Foundation
import SplitCore
import SplitTestSupport
import Testing

@testable import SplitSim

#if canImport(FoundationXML)
import FoundationXML
#endif

/// The parts of a chart SVG the legend tests need: the viewBox, the plot frame and the legend.
final class ChartGeometry: NSObject, XMLParserDelegate {
    struct Box { var x, y, width, height: Double }
    struct Text { var x, y: Double, content: String }

    var viewBox: Box?
    var plotFrame: Box?
    var legendBox: Box?
    var legendTexts: [Text] = []
    private var inLegend = false
    private var openText: Text?

    static func parse(_ svg: String) throws -> ChartGeometry {
        let geometry = ChartGeometry()
        let parser = XMLParser(data: Data(svg.utf8))
        parser.delegate = geometry
        #expect(parser.parse(), "the chart is well-formed XML: \(parser.parserError.map { "\($0)" } ?? "")")
        return geometry
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String]) {
        func number(_ key: String) -> Double { Double(attributes[key] ?? "") ?? .nan }
        switch name {
        case "svg":
            let parts = (attributes["viewBox"] ?? "").split(separator: " ").compactMap { Double($0) }
            if parts.count == 4 { viewBox = Box(x: parts[0], y: parts[1], width: parts[2], height: parts[3]) }
        case "g" where attributes["id"] == "legend":
            inLegend = true
        case "rect" where inLegend:
            legendBox = Box(x: number("x"), y: number("y"), width: number("width"), height: number("height"))
        case "rect" where attributes["stroke"] == "#333":
            plotFrame = Box(x: number("x"), y: number("y"), width: number("width"), height: number("height"))
        case "text" where inLegend:
            openText = Text(x: number("x"), y: number("y"), content: "")
        default:
            break
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        openText?.content += string
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "g" { inLegend = false }
        if name == "text", let text = openText {
            legendTexts.append(text)
            openText = nil
        }
    }
}

@Suite("DelayChart")
struct DelayChartTests {
    /// A generous width bound for Helvetica/Arial (their glyphs average about 0.5 em over
    /// lower-case letters and digits), at the chart's 12 px.
    static func textWidthBound(_ text: String) -> Double { Double(text.count) * 0.6 * 12 }

    /// Checks that the legend box lies inside the viewBox and right of the plot, and that every
    /// legend text lies inside the legend box.
    static func expectLegendInside(_ geometry: ChartGeometry, entries: Int) throws {
        let view = try #require(geometry.viewBox)
        let legend = try #require(geometry.legendBox)
        let plot = try #require(geometry.plotFrame)
        #expect(legend.x >= view.x && legend.y >= view.y, "legend starts inside the viewBox")
        #expect(legend.x + legend.width <= view.x + view.width, "legend ends at \(legend.x + legend.width), viewBox width \(view.width)")
        #expect(legend.y + legend.height <= view.y + view.height, "legend bottom \(legend.y + legend.height), viewBox height \(view.height)")
        #expect(legend.x >= plot.x + plot.width, "the legend does not cover the plot")
        #expect(geometry.legendTexts.count == entries)
        for text in geometry.legendTexts {
            #expect(
                text.x >= legend.x && text.x + textWidthBound(text.content) <= legend.x + legend.width,
                "'\(text.content)' at x \(text.x) runs past the legend's right edge \(legend.x + legend.width)")
            #expect(text.y - 12 >= legend.y && text.y <= legend.y + legend.height, "'\(text.content)' lies outside the legend vertically")
        }
    }

    @Test("the legend lies inside the picture for 1 to 8 policies, with long entries", arguments: 1...8)
    func legendFits(policyCount: Int) throws {
        let policies = (0..<policyCount).map { index in
            // The longest policy names with six-digit means: the widest entries a report can have.
            let policy = [SimulationPolicy.serverOnly, .boundary, .static, .table, .chain, .block, .dag][index % 7]
            let delay = 123_456.0 + Double(index)
            return PolicyResult(
                policy: policy, iterations: 3, meanDelaySeconds: delay, p95DelaySeconds: delay, planChanges: index,
                iterationStartSeconds: [0, delay, 2 * delay], iterationDelaySeconds: [delay, delay, delay])
        }
        let report = SimulationReport(
            policies: policies, reductionPercent: [:], traceDurationSeconds: 400_000, replanEverySeconds: 10,
            optimizer: .adam, switchHorizonIterations: 1)
        let geometry = try ChartGeometry.parse(DelayChart.svg(report, title: "a model & <its> trace"))
        try Self.expectLegendInside(geometry, entries: policyCount)
        #expect(geometry.legendTexts.first?.content == "server-only (mean 123456 s)")
    }

    @Test("docs/evaluation.md's chart (docs/simulate-vgg16-markov.svg) has its legend inside the picture")
    func documentedChart() throws {
        let svg = try String(contentsOf: packageRoot.appendingPathComponent("docs/simulate-vgg16-markov.svg"), encoding: .utf8)
        let geometry = try ChartGeometry.parse(svg)
        try Self.expectLegendInside(geometry, entries: SimulationPolicy.allCases.count)
    }
}
