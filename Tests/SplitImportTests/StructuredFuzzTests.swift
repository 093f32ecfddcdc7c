import Foundation
import SplitCore
import SplitFuzzSupport
import Testing

@testable import SplitImport

/// Random well-formed models of supported operators with random wiring, attributes and constant
/// values (small, negative, zero and huge): the importer must answer with a graph or an
/// `ImportError`, never trap. Complements the byte-level fuzzing, which rarely gets past the decoder.
@Suite("Structured fuzzing of shape rules and constant folding")
struct StructuredFuzzTests {
    static let operators = [
        "Add", "Mul", "Div", "Sub", "Pow", "Relu", "Sigmoid", "Softmax", "Erf", "Where", "Equal", "Cast", "Identity",
        "Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "Gemm", "MatMul", "Einsum",
        "Concat", "Split", "Slice", "Gather", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Expand",
        "Tile", "Resize", "Pad", "ReduceMean", "ReduceSum", "ArgMax", "Shape", "Size", "ConstantOfShape", "Range",
        "TopK", "DepthToSpace", "LayerNormalization", "BatchNormalization", "NonZero", "Clip", "Dropout",
    ]
    static let attributeNames = ["axis", "keepdims", "group", "transA", "transB", "blocksize", "ceil_mode", "allowzero", "start", "end"]
    static let listAttributeNames = ["axes", "perm", "kernel_shape", "strides", "pads", "dilations", "split", "shape", "output_padding"]

    static func value(_ generator: inout SplitMix64) -> Int64 {
        switch Int.random(in: 0..<10, using: &generator) {
        case 0: return Int64.max
        case 1: return Int64.min + 1
        case 2: return 1 << 40
        default: return Int64.random(in: -3...6, using: &generator)
        }
    }

    static func randomModel(_ generator: inout SplitMix64) -> Data {
        var builder = ONNXTestBuilder()
        let rank = Int.random(in: 1...4, using: &generator)
        builder.inputs = [("x", (0..<rank).map { _ in String(Int.random(in: 1...6, using: &generator)) }, 1)]
        var available = ["x"]
        for index in 0..<Int.random(in: 1...4, using: &generator) {
            let count = Int.random(in: 0...4, using: &generator)
            let dims: [Int64] = count == 0 && Bool.random(using: &generator) ? [] : [Int64(max(count, 1))]
            let values = (0..<max(count, 1)).map { _ in value(&generator) }
            builder.initializers.append(("c\(index)", dims, 7, values))
            available.append("c\(index)")
        }
        builder.initializers.append(
            (
                "w", (0..<Int.random(in: 1...4, using: &generator)).map { _ in Int64.random(in: 1...4, using: &generator) }, 1,
                nil
            ))
        available.append("w")
        for index in 0..<Int.random(in: 1...8, using: &generator) {
            let op = operators.randomElement(using: &generator)!
            let inputs = (0..<Int.random(in: 1...4, using: &generator)).map { _ in available.randomElement(using: &generator)! }
            var ints: [String: [Int64]] = [:]
            var int: [String: Int64] = [:]
            for name in attributeNames where Int.random(in: 0..<4, using: &generator) == 0 { int[name] = value(&generator) }
            for name in listAttributeNames where Int.random(in: 0..<4, using: &generator) == 0 {
                ints[name] = (0..<Int.random(in: 0...5, using: &generator)).map { _ in value(&generator) }
            }
            let outputs = (0..<(op == "Split" || op == "TopK" ? Int.random(in: 1...3, using: &generator) : 1)).map { "n\(index)_\($0)" }
            builder.node(op, "/fuzz/\(op)_\(index)", inputs: inputs, outputs: outputs, ints: ints, int: int)
            if op == "Einsum" {
                let alphabet = Array("abij,.->")
                builder.nodes[builder.nodes.count - 1].strings["equation"] =
                    String((0..<Int.random(in: 0...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
            }
            if Int.random(in: 0..<6, using: &generator) == 0 {
                // A Constant with a random int64 tensor, as the TorchScript exporter writes shape targets.
                let count = Int.random(in: 0...4, using: &generator)
                var constant = ONNXTestBuilder.Node(op: "Constant", name: "/fuzz/Constant_\(index)", inputs: [], outputs: ["k\(index)"])
                constant.tensor = ("value", count == 0 ? [] : [Int64(count)], (0..<max(count, 1)).map { _ in value(&generator) })
                builder.nodes.append(constant)
                available.append("k\(index)")
            }
            available += outputs
        }
        builder.outputs = [available.last!]
        return builder.encoded()
    }

    /// Models per run: 3,000, or `SPLITD_FUZZ_ITERATIONS` for a deeper search.
    static let iterations = ProcessInfo.processInfo.environment["SPLITD_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 3_000

    @Test("3,000 random models: only graphs or typed errors")
    func randomModels() {
        var generator = SplitMix64(seed: ProcessInfo.processInfo.environment["SPLITD_FUZZ_SEED"].flatMap(UInt64.init) ?? 2024)
        var imported = 0
        for iteration in 0..<Self.iterations {
            let data = Self.randomModel(&generator)
            do {
                _ = try ONNXImporter.importGraph(data: data, options: ImportOptions(unknownOperators: .zero))
                imported += 1
            } catch is ImportError {
                continue
            } catch {
                Issue.record("model \(iteration): untyped error \(error)")
            }
        }
        // Some random models are valid: the generator reaches the success path too.
        #expect(imported > 50)
    }
}
