import Foundation
import SplitCore
import SplitFuzzSupport
import Testing

@testable import SplitImport

/// Every operator the importer knows, fed attributes, constant inputs and dimensions drawn from
/// the extremes (0, 1, 2^31, 2^50, 2^62, INT64_MAX, negatives): the import must answer with a graph
/// or an `ImportError`, never trap on arithmetic overflow or try to allocate what the numbers ask.
@Suite("Extreme attribute and dimension values")
struct ExtremeValueTests {
    /// The operators with a shape rule (`ShapeRules`, `TensorShapeRules`), each with a FLOP formula.
    static let operators: [String] =
        (ShapeRules.sameShape.sorted() + ShapeRules.broadcasting.sorted() + ShapeRules.logical.sorted()
            + ShapeRules.unaryLogical.sorted() + ShapeRules.windowPools.sorted() + ShapeRules.globalPools.sorted()
            + TensorShapeRules.reductions.sorted()
            + [
                "Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum", "Where", "Cast", "CastLike", "Dropout", "BatchNormalization",
                "LayerNormalization", "Gather", "GatherElements", "Concat", "Split", "Slice", "Reshape", "Flatten", "Transpose",
                "Squeeze", "Unsqueeze", "Expand", "Tile", "Resize", "Upsample", "Pad", "ArgMax", "ArgMin", "Shape", "Size",
                "Constant", "ConstantOfShape", "Range", "TopK", "DepthToSpace", "SpaceToDepth", "EyeLike", "NonZero",
            ])

    static let extremes: [Int64] = [
        0, 1, -1, 2, 3, 7, 1 << 31, (1 << 31) - 1, -(1 << 31), 1 << 40, 1 << 50, 1 << 62, Int64.max, Int64.min, Int64.min + 1,
    ]
    static let attributeNames = [
        "axis", "keepdims", "group", "transA", "transB", "blocksize", "ceil_mode", "allowzero", "start", "end", "num_outputs", "k",
        "to", "noop_with_empty_axes", "dtype",
    ]
    static let listAttributeNames = [
        "axes", "perm", "kernel_shape", "strides", "pads", "dilations", "split", "shape", "output_padding", "output_shape", "starts",
        "ends",
    ]

    static func extreme(_ generator: inout SplitMix64) -> Int64 {
        Int.random(in: 0..<3, using: &generator) == 0
            ? Int64.random(in: -4...8, using: &generator) : extremes.randomElement(using: &generator)!
    }

    /// A graph around one `op` node: an input of moderate dimensions, optionally reshaped to an
    /// extreme target, int64 constants and float weights of extreme dims as further inputs, and
    /// extreme attributes.
    static func model(op: String, _ generator: inout SplitMix64) -> Data {
        var builder = ONNXTestBuilder()
        builder.opset = [11, 13, 17, 18].randomElement(using: &generator)!
        let rank = Int.random(in: 1...5, using: &generator)
        let sizes = [1, 2, 3, 4, 1 << 10, 1 << 20, 1 << 30]
        builder.inputs = [("x", (0..<rank).map { _ in String(sizes.randomElement(using: &generator)!) }, 1)]
        var available = ["x"]
        if Bool.random(using: &generator) {
            // Reshape x to an extreme target: dims may reach 2^50 and beyond while the element count matches.
            let target = (0..<Int.random(in: 1...4, using: &generator)).map { _ in extreme(&generator) }
            builder.initializers.append(("target", [Int64(target.count)], 7, target))
            builder.node("Reshape", "/reshape", inputs: ["x", "target"], outputs: ["y"])
            available.append("y")
        }
        for index in 0..<Int.random(in: 1...3, using: &generator) {
            let count = Int.random(in: 0...5, using: &generator)
            builder.initializers.append(
                ("c\(index)", count == 0 ? [] : [Int64(count)], 7, (0..<max(count, 1)).map { _ in extreme(&generator) }))
            available.append("c\(index)")
        }
        // Weights: external data, so any dims cost nothing to write.
        let weightRank = Int.random(in: 1...5, using: &generator)
        builder.initializers.append(("w", (0..<weightRank).map { _ in extreme(&generator) }, 1, nil))
        available.append("w")

        var ints: [String: [Int64]] = [:]
        var int: [String: Int64] = [:]
        for name in attributeNames where Int.random(in: 0..<3, using: &generator) == 0 { int[name] = extreme(&generator) }
        for name in listAttributeNames where Int.random(in: 0..<3, using: &generator) == 0 {
            ints[name] = (0..<Int.random(in: 0...6, using: &generator)).map { _ in extreme(&generator) }
        }
        let first = available.count > 1 && available[1] == "y" && Bool.random(using: &generator) ? "y" : "x"
        let inputs = [first] + (0..<Int.random(in: 0...3, using: &generator)).map { _ in available.randomElement(using: &generator)! }
        let outputs = (0..<Int.random(in: 1...3, using: &generator)).map { "out\($0)" }
        var node = ONNXTestBuilder.Node(op: op, name: "/extreme/\(op)", inputs: inputs, outputs: outputs, ints: ints, int: int)
        if op == "Einsum" { node.strings["equation"] = ["ij,jk->ik", "...ii->...i", "abc,cd->abd", "i,i->"].randomElement(using: &generator)! }
        if op == "Constant" || op == "ConstantOfShape" {
            let count = Int.random(in: 0...3, using: &generator)
            node.tensor = ("value", (0..<count).map { _ in extreme(&generator) }, [extreme(&generator)])
        }
        builder.nodes.append(node)
        builder.outputs = [outputs[0]]
        return builder.encoded()
    }

    /// Models per operator: 150, or `SPLITD_FUZZ_ITERATIONS` / 20 for a deeper search.
    static let perOperator = ProcessInfo.processInfo.environment["SPLITD_FUZZ_ITERATIONS"].flatMap(Int.init).map { max($0 / 20, 1) } ?? 150

    @Test("every operator with extreme attributes, inputs and dims: a graph or an ImportError", arguments: operators)
    func extremeValues(op: String) {
        var generator = SplitMix64(seed: 0x5eed ^ UInt64(op.utf8.reduce(0) { $0 &* 31 &+ Int($1) }.magnitude))
        // A trap would end the test process: reaching the end is most of the property.
        var untyped: [String] = []
        for iteration in 0..<Self.perOperator {
            let data = Self.model(op: op, &generator)
            do {
                _ = try ONNXImporter.importGraph(data: data, options: ImportOptions(unknownOperators: .zero))
            } catch is ImportError {
                continue
            } catch {
                untyped.append("model \(iteration): \(error)")
            }
        }
        #expect(untyped.isEmpty, "\(op): untyped errors \(untyped.prefix(3))")
    }

    /// The five files that trapped the importer with "arithmetic overflow" before the bounds.
    @Test("the overflow reproductions are typed errors")
    func overflowReproductions() throws {
        var convTranspose = ONNXTestBuilder()
        convTranspose.inputs = [("x", ["1", "2", "4", "4"], 1)]
        convTranspose.initializers = [("w", [2, 1 << 40, 3, 3], 1, nil)]
        convTranspose.node("ConvTranspose", "/ct", inputs: ["x", "w"], int: ["group": 1 << 31])
        convTranspose.outputs = ["/ct_out"]

        var spaceToDepth = ONNXTestBuilder()
        spaceToDepth.inputs = [("x", ["\(1 << 25)", "\(1 << 25)"], 1)]
        spaceToDepth.initializers = [("target", [4], 7, [1, 1 << 50, 1, 1])]
        spaceToDepth.node("Reshape", "/r", inputs: ["x", "target"], outputs: ["y"])
        spaceToDepth.node("SpaceToDepth", "/s2d", inputs: ["y"], int: ["blocksize": 1 << 15])
        spaceToDepth.outputs = ["/s2d_out"]

        var splitOutputs = ONNXTestBuilder()
        splitOutputs.opset = 18
        splitOutputs.inputs = [("x", ["1", "8"], 1)]
        splitOutputs.node("Split", "/split", inputs: ["x"], outputs: ["a", "b"], int: ["axis": 1, "num_outputs": Int64.max])
        splitOutputs.outputs = ["a"]

        var splitSizes = ONNXTestBuilder()
        splitSizes.inputs = [("x", ["1", "8"], 1)]
        splitSizes.initializers = [("sizes", [3], 7, [Int64.max, Int64.max, 10])]
        splitSizes.node("Split", "/split", inputs: ["x", "sizes"], outputs: ["a", "b", "c"], int: ["axis": 1])
        splitSizes.outputs = ["a"]

        var padAxes = ONNXTestBuilder()
        padAxes.opset = 18
        padAxes.inputs = [("x", ["1", "8"], 1)]
        padAxes.initializers = [("pads", [4], 7, [1 << 62, 1 << 62, 1 << 62, 1 << 62]), ("axes", [2], 7, [1, 1])]
        padAxes.node("Pad", "/pad", inputs: ["x", "pads", "", "axes"])
        padAxes.outputs = ["/pad_out"]

        for (name, builder) in [
            ("ConvTranspose", convTranspose), ("SpaceToDepth", spaceToDepth), ("Split num_outputs", splitOutputs),
            ("Split sizes", splitSizes), ("Pad", padAxes),
        ] {
            #expect(throws: ImportError.self, "\(name)") { try ONNXImporter.importGraph(data: builder.encoded()) }
        }
    }

    /// 2,000 `ConstantOfShape([65536])` nodes (57 KB of file) asked ~1 GB before the folding
    /// budget: now the first 64 fold and the rest stay unknown, and the model imports.
    @Test("a constant bomb stays within the folding budget")
    func constantBomb() throws {
        let data = ONNXTestBuilder.constantBomb(nodes: 2_000).encoded()
        let result = try ONNXImporter.importGraph(data: data)
        #expect(result.graph.count == 2)
        // A shape that needs a value past the budget fails naming the budget (the two initializers
        // and the 64 bombs spend all but 1 element of it; the 2-element target does not fit).
        var needsValue = ONNXTestBuilder()
        needsValue.inputs = [("x", ["1", "16"], 1)]
        needsValue.initializers = [("shape", [1], 7, [65_536]), ("two", [1], 7, [2])]
        for index in 0..<64 {
            needsValue.node("ConstantOfShape", "/bomb/c\(index)", inputs: ["shape"], outputs: ["c\(index)"])
        }
        var target = ONNXTestBuilder.Node(op: "ConstantOfShape", name: "/target", inputs: ["two"], outputs: ["target"])
        target.tensor = ("value", [1], [4])
        needsValue.nodes.append(target)
        needsValue.node("Reshape", "/reshape", inputs: ["x", "target"], outputs: ["y"])
        needsValue.outputs = ["y"]
        var unlimited = ImportOptions()
        unlimited.foldingBudgetElements = 65 * 65_536
        #expect(try ONNXImporter.importGraph(data: needsValue.encoded(), options: unlimited).graph.count == 2)
        var options = ImportOptions()
        options.foldingBudgetElements = 64 * 65_536 + 3
        #expect {
            try ONNXImporter.importGraph(data: needsValue.encoded(), options: options)
        } throws: { error in
            "\(error)".contains("folding budget of \(64 * 65_536 + 3) elements")
        }
    }
}
