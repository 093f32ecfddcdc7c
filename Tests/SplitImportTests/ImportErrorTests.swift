import Foundation
import SplitCore
import SplitFuzzSupport
import Testing

@testable import SplitImport

@Suite("ONNX import errors")
struct ImportErrorTests {
    func importError(_ data: Data, _ options: ImportOptions = ImportOptions()) -> ImportError? {
        do {
            _ = try ONNXImporter.importGraph(data: data, options: options)
            return nil
        } catch let error as ImportError {
            return error
        } catch {
            Issue.record("unexpected error type: \(error)")
            return nil
        }
    }

    @Test("not protobuf, empty and truncated files are malformed, with the byte offset")
    func malformed() throws {
        let text = importError(Data("this is plainly not a model\n".utf8))
        // 't' (0x74) is a key with wire type 4, a deprecated group: refused at byte 1.
        #expect(text?.kind == .malformed && text?.field == "byte 1")
        #expect(importError(Data())?.kind == .malformed)
        let fixture = try Fixtures.data("resnet18.ts.onnx")
        let truncated = importError(fixture.prefix(fixture.count / 2))
        #expect(truncated?.kind == .malformed)
        #expect(truncated?.field?.hasPrefix("byte ") == true)
        #expect(truncated?.description.contains("not a valid ONNX protobuf") == true)
    }

    @Test("an unknown operator names the node and operator; --unknown-ops zero imports it at zero FLOPs with a warning")
    func unknownOperator() throws {
        var builder = ONNXTestBuilder.smallCNN()
        builder.node("FancyActivation", "/head/FancyActivation", inputs: ["/fc/Gemm_out"])
        builder.outputs = ["/head/FancyActivation_out"]
        let error = importError(builder.encoded())
        #expect(error?.kind == .unknownOperator && error?.node == "/head/FancyActivation" && error?.op == "FancyActivation")
        #expect(error?.description.contains("--unknown-ops zero") == true)
        // Without value_info the shape is unknown even when zero is allowed.
        #expect(importError(builder.encoded(), ImportOptions(unknownOperators: .zero))?.kind == .shapeInference)
        builder.valueInfo = [("/head/FancyActivation_out", [1, 10])]
        let result = try ONNXImporter.importGraph(data: builder.encoded(), options: ImportOptions(unknownOperators: .zero))
        let layer = try #require(result.graph.index(of: "head/FancyActivation").map { result.graph.layers[$0] })
        #expect(layer.forwardFLOPs == 0 && layer.outputBytes == 40)
        #expect(result.summary.uncountedOperators == ["FancyActivation": 1])
        #expect(result.warnings.contains { $0.contains("FancyActivation") })
    }

    @Test("a shape that cannot be inferred names the node and the reason")
    func shapeFailure() {
        var builder = ONNXTestBuilder.smallCNN()
        builder.initializers.append(("bad.w", [7, 5], 1, nil))
        builder.node("MatMul", "/head/MatMul", inputs: ["/fc/Gemm_out", "bad.w"])
        builder.outputs = ["/head/MatMul_out"]
        let error = importError(builder.encoded())
        #expect(error?.kind == .shapeInference && error?.node == "/head/MatMul" && error?.op == "MatMul")
        #expect(error?.reason.contains("inner dimensions differ") == true)
        // A Reshape whose target depends on input data cannot be resolved.
        var dynamic = ONNXTestBuilder.smallCNN()
        dynamic.node("Reshape", "/head/Reshape", inputs: ["/fc/Gemm_out", "/Flatten_out"])
        dynamic.outputs = ["/head/Reshape_out"]
        let reshape = importError(dynamic.encoded())
        #expect(reshape?.kind == .shapeInference && reshape?.node == "/head/Reshape")
    }

    @Test("cycles and missing inputs name the nodes and values")
    func structure() {
        var cycle = ONNXTestBuilder.smallCNN()
        cycle.node("Add", "/loop/a", inputs: ["/fc/Gemm_out", "/loop/b_out"])
        cycle.node("Relu", "/loop/b", inputs: ["/loop/a_out"])
        let cycleError = importError(cycle.encoded())
        #expect(cycleError?.kind == .cycle)
        #expect(cycleError?.reason.contains("/loop/a") == true && cycleError?.reason.contains("/loop/b") == true)

        var missing = ONNXTestBuilder.smallCNN()
        missing.node("Add", "/head/Add", inputs: ["/fc/Gemm_out", "nowhere"])
        let missingError = importError(missing.encoded())
        #expect(missingError?.kind == .missingInput && missingError?.node == "/head/Add" && missingError?.field == "input 'nowhere'")

        var duplicate = ONNXTestBuilder.smallCNN()
        duplicate.node("Relu", "/again", inputs: ["x"], outputs: ["/stem/relu/Relu_out"])
        #expect(importError(duplicate.encoded())?.kind == .invalidGraph)
    }

    @Test("input options: unknown names, wrong ranks and unresolved symbolic dimensions")
    func inputOptions() throws {
        let data = ONNXTestBuilder.smallCNN().encoded()
        let unknown = importError(data, ImportOptions(inputShapes: ["image": [1, 3, 32, 32]]))
        #expect(unknown?.kind == .invalidOption && unknown?.reason.contains("'x'") == true)
        #expect(importError(data, ImportOptions(inputShapes: ["x": [1, 3, 32]]))?.kind == .invalidOption)
        var symbolic = ONNXTestBuilder.smallCNN()
        symbolic.inputs = [("x", ["N", "3", "H", "W"], 1)]
        let unresolved = importError(symbolic.encoded())
        #expect(unresolved?.kind == .invalidOption && unresolved?.field == "input 'x'" && unresolved?.reason.contains("'H'") == true)
        #expect(try ONNXImporter.importGraph(data: symbolic.encoded(), options: ImportOptions(inputShapes: ["x": [2, 3, 32, 32]])).graph.count == 10)
        #expect(throws: ImportError.self) { try ImportOptions.parseInputShape("x=1x3xbig") }
        #expect(throws: ImportError.self) { try ImportOptions.parseInputShape("1x3x224") }
        #expect(try ImportOptions.parseInputShape("input.1=1x3x224x224") == ("input.1", [1, 3, 224, 224]))
    }
}

@Suite("Hostile shape values")
struct HostileShapeTests {
    /// A model whose graph input feeds one node with the given static second input.
    func model(_ op: String, second: [Int64], ints: [String: [Int64]] = [:], int: [String: Int64] = [:]) -> Data {
        var builder = ONNXTestBuilder()
        builder.inputs = [("x", ["1", "4", "8", "8"], 1)]
        // Convolutions get a real (external) 4x4x3x3 weight; other operators an int64 vector.
        builder.initializers = op.hasPrefix("Conv") ? [("k", second, 1, nil)] : [("k", [Int64(second.count)], 7, second)]
        builder.node(op, "/hostile/\(op)", inputs: ["x", "k"], ints: ints, int: int)
        builder.outputs = ["/hostile/\(op)_out"]
        return builder.encoded()
    }

    @Test("a Reshape target concatenated from mismatched constants is a shape error naming the cause")
    func mismatchedConcat() {
        var builder = ONNXTestBuilder()
        builder.inputs = [("x", ["1", "6"], 1)]
        builder.initializers = [("a", [2, 1], 7, [1, 2]), ("b", [1, 1], 7, [3])]
        builder.node("Concat", "/plumbing/Concat", inputs: ["a", "b"], int: ["axis": 1])
        builder.node("Reshape", "/head/Reshape", inputs: ["x", "/plumbing/Concat_out"])
        builder.outputs = ["/head/Reshape_out"]
        do {
            _ = try ONNXImporter.importGraph(data: builder.encoded())
            Issue.record("mismatched Concat was accepted")
        } catch let error as ImportError {
            #expect(
                error.node == "/head/Reshape" && error.reason.contains("/plumbing/Concat")
                    && error.reason.contains("outside the concatenation axis"))
        } catch {
            Issue.record("untyped error \(error)")
        }
    }

    @Test("huge repeats, pads, targets, kernels and block sizes are shape errors, never overflow traps")
    func hostileValues() {
        let huge: Int64 = 1 << 55
        let cases: [(String, Data)] = [
            ("Tile", model("Tile", second: [huge, huge, 1, 1])),
            ("Pad", model("Pad", second: [Int64.max, Int64.max, 0, 0, Int64.max, Int64.max, 0, 0])),
            ("Reshape", model("Reshape", second: [huge, huge, -1])),
            ("Expand", model("Expand", second: [huge, huge, huge, 8])),
            ("ConvTranspose", model("ConvTranspose", second: [4, 4, 3, 3], ints: ["strides": [Int64.max, Int64.max]])),
            ("DepthToSpace", model("DepthToSpace", second: [1], int: ["blocksize": Int64.max])),
            ("Conv", model("Conv", second: [4, 4, 3, 3], ints: ["dilations": [Int64.max, Int64.max], "kernel_shape": [Int64.max, 3]])),
        ]
        for (op, data) in cases {
            do {
                _ = try ONNXImporter.importGraph(data: data)
                Issue.record("\(op): hostile values were accepted")
            } catch let error as ImportError {
                #expect(error.node == "/hostile/\(op)" && error.kind == .shapeInference, "\(op): \(error)")
            } catch {
                Issue.record("\(op): untyped error \(error)")
            }
        }
    }
}
