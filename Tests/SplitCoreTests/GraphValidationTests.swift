import Foundation
import SplitCore
import Testing

/// One test per splitgraph/1 rejection rule; each checks the rule and that the message names
/// the culprit (layer and field).
@Suite("splitgraph/1 validation")
struct GraphValidationTests {
    static func document(layers: String, extra: String = "", format: String = "\"splitgraph/1\"") -> Data {
        Data("{\"format\": \(format), \"name\": \"t\"\(extra), \"layers\": [\(layers)]}".utf8)
    }

    static func layer(_ name: String, inputs: [String] = [], flops: String = "1", bytes: String = "4") -> String {
        let list = inputs.map { "\"\($0)\"" }.joined(separator: ",")
        return """
            {\"name\": \"\(name)\", \"op\": \"x\", \"inputs\": [\(list)], \"forward_flops\": \(flops), \"backward_flops\": 2, \"output_bytes\": \
            \(bytes), \"param_bytes\": 0}
            """
    }

    static func rejection(_ data: Data) -> GraphError? {
        do {
            _ = try ModelGraph(json: data)
            return nil
        } catch let error as GraphError {
            return error
        } catch {
            Issue.record("unexpected error type \(error)")
            return nil
        }
    }

    @Test func acceptsAMinimalGraphInAnyOrderAndIgnoresUnknownFields() throws {
        let data = Self.document(
            layers: [
                Self.layer("b", inputs: ["a"]),
                #"{"name": "a", "inputs": [], "forward_flops": 0, "backward_flops": 0, "output_bytes": 8, "colour": "red"}"#,
            ]
            .joined(separator: ","),
            extra: ", \"source\": \"test\"")
        let graph = try ModelGraph(json: data)
        #expect(graph.layers.map(\.name) == ["a", "b"])
        #expect(graph.inputs == [0])
        #expect(graph.outputs == [1])
    }

    @Test func rejectsInvalidJSON() {
        let error = Self.rejection(Data("{\"format\": \"splitgraph/1\", \"layers\": [".utf8))
        #expect(error?.kind == .invalidJSON)
        #expect(error?.description.contains("invalid JSON") == true)
    }

    @Test func rejectsAMemberGivenTwiceNamingItsPosition() {
        let error = Self.rejection(Data("{\"format\": \"splitgraph/1\", \"name\": \"a\", \"name\": \"b\", \"layers\": []}".utf8))
        #expect(error?.kind == .invalidJSON)
        #expect(error?.description.contains("duplicate member name \"name\"") == true)
        #expect(error?.description.contains("column 41") == true, "\(String(describing: error))")
    }

    @Test func rejectsWrongAndMissingFormat() {
        let wrong = Self.rejection(Self.document(layers: Self.layer("a"), format: "\"splitgraph/9\""))
        #expect(wrong?.kind == .wrongFormat)
        #expect(wrong?.description.contains("splitgraph/9") == true)
        let missing = Self.rejection(Data("{\"layers\": []}".utf8))
        #expect(missing?.kind == .wrongFormat)
        #expect(missing?.field == "format")
    }

    @Test func rejectsDuplicateNames() {
        let error = Self.rejection(Self.document(layers: [Self.layer("a"), Self.layer("a")].joined(separator: ",")))
        #expect(error?.kind == .duplicateName)
        #expect(error?.layer == "a")
        #expect(error?.description.contains("#0") == true && error?.description.contains("#1") == true)
    }

    @Test func rejectsEmptyNames() {
        let error = Self.rejection(Self.document(layers: [Self.layer("a"), Self.layer("", inputs: ["a"])].joined(separator: ",")))
        #expect(error?.kind == .emptyName)
        #expect(error?.layer == "#1")
    }

    @Test func rejectsUnknownInputNames() {
        let error = Self.rejection(Self.document(layers: [Self.layer("a"), Self.layer("b", inputs: ["ghost"])].joined(separator: ",")))
        #expect(error?.kind == .unknownInput)
        #expect(error?.layer == "b")
        #expect(error?.field == "inputs")
        #expect(error?.description.contains("ghost") == true)
    }

    @Test func rejectsSelfLoops() {
        let error = Self.rejection(Self.document(layers: [Self.layer("a"), Self.layer("b", inputs: ["a", "b"])].joined(separator: ",")))
        #expect(error?.kind == .selfLoop)
        #expect(error?.layer == "b")
    }

    @Test func rejectsCyclesNamingALayerOnTheCycle() {
        let layers = [
            Self.layer("in"), Self.layer("p", inputs: ["in", "r"]), Self.layer("q", inputs: ["p"]),
            Self.layer("r", inputs: ["q"]), Self.layer("out", inputs: ["r"]),
        ]
        let error = Self.rejection(Self.document(layers: layers.joined(separator: ",")))
        #expect(error?.kind == .cycle)
        #expect(["p", "q", "r"].contains(error?.layer ?? ""))
        #expect(
            error?.description.contains("p -> q -> r") == true || error?.description.contains("q -> r -> p") == true
                || error?.description.contains("r -> p -> q") == true)
    }

    @Test(arguments: ["-1", "1e400", "-0.5"])
    func rejectsNegativeOrInfiniteNumbers(value: String) {
        let error = Self.rejection(Self.document(layers: [Self.layer("a"), Self.layer("b", inputs: ["a"], flops: value)].joined(separator: ",")))
        // 1e400 parses (to infinity, as JSON has no range) and is refused by the field's reader.
        #expect(error?.kind == .invalidField)
        #expect(error?.layer == "b")
        #expect(error?.field == "forward_flops")
    }

    @Test func rejectsNaNWrittenAsAString() {
        let error = Self.rejection(Self.document(layers: [Self.layer("a"), Self.layer("b", inputs: ["a"], bytes: "\"NaN\"")].joined(separator: ",")))
        #expect(error?.kind == .invalidField)
        #expect(error?.layer == "b")
        #expect(error?.field == "output_bytes")
    }

    @Test func rejectsNaNInAProgrammaticGraph() {
        #expect(throws: GraphError.self) {
            try ModelGraph(name: "t", layers: [Layer(name: "a", outputBytes: .nan)])
        }
    }

    @Test func rejectsMissingRequiredNumbers() {
        let data = Self.document(layers: "{\"name\": \"a\", \"inputs\": [], \"forward_flops\": 0, \"backward_flops\": 0}")
        let error = Self.rejection(data)
        #expect(error?.kind == .missingField)
        #expect(error?.layer == "a")
        #expect(error?.field == "output_bytes")
    }

    @Test func rejectsGraphsWithoutInputs() {
        // Two layers reading each other have no input (and form a cycle); the input rule wins
        // only when there is no cycle, so use a graph with no layers at all.
        let error = Self.rejection(Self.document(layers: ""))
        #expect(error?.kind == .noInput)
    }

    @Test func rejectsGraphsWithoutOutputs() {
        let error = Self.rejection(Self.document(layers: Self.layer("a"), extra: ", \"outputs\": []"))
        #expect(error?.kind == .noOutput)
    }

    @Test func rejectsUnknownDeclaredOutputs() {
        let error = Self.rejection(Self.document(layers: Self.layer("a"), extra: ", \"outputs\": [\"nope\"]"))
        #expect(error?.kind == .unknownOutput)
        #expect(error?.layer == "nope")
    }

    @Test func rejectsMoreThanAMillionLayers() {
        let layers = (0...ModelGraph.maximumLayerCount).map { Layer(name: "l\($0)") }
        #expect(throws: GraphError(.tooManyLayers, "graph has \(layers.count) layers; at most \(ModelGraph.maximumLayerCount) are accepted")) {
            try ModelGraph(name: "huge", layers: layers)
        }
    }

    @Test func rejectsWrongTypesNamingTheLayer() {
        let layer = #"{"name": "a", "inputs": "x", "forward_flops": 0, "backward_flops": 0, "output_bytes": 1}"#
        let error = Self.rejection(Self.document(layers: layer))
        #expect(error?.kind == .invalidField)
        #expect(error?.layer == "a")
        #expect(error?.field == "inputs")
    }

    @Test func roundTripsThroughJSON() throws {
        let graph = try ModelGraph(json: Self.document(layers: [Self.layer("a"), Self.layer("b", inputs: ["a"])].joined(separator: ",")))
        let again = try ModelGraph(json: graph.jsonData())
        #expect(again.layers == graph.layers)
        #expect(again.outputs == graph.outputs)
    }
}
