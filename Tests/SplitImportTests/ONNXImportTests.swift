import Foundation
import SplitCore
import SplitFuzzSupport
import Testing

@testable import SplitImport

@Suite("ONNX import")
struct ONNXImportTests {
    @Test("a synthetic CNN imports with FLOPs, bytes, parameters and blocks by the documented formulas")
    func smallCNN() throws {
        let result = try ONNXImporter.importGraph(data: ONNXTestBuilder.smallCNN().encoded())
        let graph = result.graph
        func layer(_ name: String) throws -> Layer { try #require(graph.index(of: name).map { graph.layers[$0] }) }
        let input = try layer("x")
        #expect(input.op == "input" && input.outputBytes == 3 * 32 * 32 * 4)
        let conv = try layer("stem/conv/Conv")
        let outputElements = 16.0 * 32 * 32
        #expect(conv.forwardFLOPs == 2 * outputElements * 3 * 9)
        #expect(conv.backwardFLOPs == 2 * conv.forwardFLOPs)
        #expect(conv.outputBytes == outputElements * 4)
        #expect(conv.parameterBytes == (16 * 3 * 9 + 16) * 4)
        let relu = try layer("stem/relu/Relu")
        #expect(relu.forwardFLOPs == outputElements && relu.backwardFLOPs == relu.forwardFLOPs && relu.parameterBytes == 0)
        #expect(try layer("blocks/blocks.0/conv/Conv").forwardFLOPs == 2 * outputElements * 16 * 9)
        #expect(try layer("blocks/blocks.0/Add").inputs.sorted() == ["blocks/blocks.0/conv/Conv", "stem/relu/Relu"])
        let pool = try layer("pool/GlobalAveragePool")
        #expect(pool.forwardFLOPs == outputElements && pool.outputBytes == 16 * 4)
        let fc = try layer("fc/Gemm")
        #expect(fc.forwardFLOPs == 2 * 10 * 16 && fc.parameterBytes == (160 + 10) * 4 && fc.outputBytes == 40)
        #expect(graph.outputs.map { graph.layers[$0].name } == ["fc/Gemm"])
        #expect(try layer("blocks/blocks.0/conv/Conv").block == "blocks.0")
        #expect(try layer("blocks/blocks.1/relu_1/Relu").block == "blocks.1")
        #expect(conv.block == nil)
        #expect(result.warnings.contains { $0.contains("symbolic batch dimension") })
        #expect(result.summary.approximateOperators["GlobalAveragePool"] == 1)
        #expect(result.summary.layerCount == graph.count)
    }

    @Test("the batch dimension given with --input is divided out: per-sample numbers do not change")
    func batchDividedOut() throws {
        let data = ONNXTestBuilder.smallCNN().encoded()
        let one = try ONNXImporter.importGraph(data: data, options: ImportOptions(inputShapes: ["x": [1, 3, 32, 32]]))
        let eight = try ONNXImporter.importGraph(data: data, options: ImportOptions(inputShapes: ["x": [8, 3, 32, 32]]))
        #expect(eight.summary.batchSize == 8)
        #expect(one.graph.layers == eight.graph.layers)
        #expect(one.warnings.isEmpty)
    }

    @Test("every fixture imports: layers, outputs, no unknown operators, forward FLOPs and parameters present")
    func fixturesImport() throws {
        #expect(Fixtures.onnxFiles.count >= 8)
        for file in Fixtures.onnxFiles {
            let result = try ONNXImporter.importGraph(data: try Fixtures.data(file))
            #expect(result.graph.count > 30, "\(file)")
            #expect(result.summary.uncountedOperators.isEmpty, "\(file)")
            #expect(result.summary.forwardFLOPs > 1e8 && result.summary.parameterBytes > 1e6, "\(file)")
            #expect(result.graph.layers.filter { $0.op == "input" }.count == 1, "\(file)")
            // Shape plumbing never becomes a layer.
            #expect(!result.graph.layers.contains { ["Shape", "Constant", "ConstantOfShape"].contains($0.op) }, "\(file)")
        }
    }

    @Test("a model that exists only as ONNX (BERT-base, dynamo): contraction FLOPs, every parameter once, 12 blocks")
    func bertOnlyAsONNX() throws {
        let data = try Fixtures.data("bert.dynamo.onnx")
        let result = try ONNXImporter.importGraph(data: data)
        // Per layer at sequence 128, hidden 768, FFN 3072: Q, K, V and output projections, two FFN
        // matrices, and the two attention products, each 2 FLOPs per multiply-accumulate.
        let (sequence, hidden, ffn) = (128.0, 768.0, 3072.0)
        let perLayer = 4 * 2 * sequence * hidden * hidden + 2 * 2 * sequence * hidden * ffn + 2 * 2 * sequence * sequence * hidden
        let contractions = result.graph.layers.filter { OperatorCosts.contractions.contains($0.op) }.reduce(0) { $0 + $1.forwardFLOPs }
        #expect(contractions == 12 * perLayer)
        #expect(result.summary.forwardFLOPs < 12 * perLayer * 1.01)
        // Every floating-point initializer is reachable and counted exactly once.
        let model = try ONNXDecoder.model(from: data)
        let initializerBytes = model.graph.initializers.filter { ONNXDataType.isFloatingPoint($0.dataType) }
            .reduce(0.0) { $0 + Double($1.dims.reduce(1, *)) * (ONNXDataType.byteSize($1.dataType) ?? 0) }
        #expect(result.summary.parameterBytes == initializerBytes)
        #expect(result.graph.blockLabels == (0..<12).map { "m.encoder.layer.\($0)" })
    }

    @Test("block labels come from scopes: indexed modules, dynamo name scopes, repeated structures")
    func blockLabels() throws {
        let resnet = try ONNXImporter.importGraph(data: try Fixtures.data("resnet50.ts.onnx")).graph
        #expect(resnet.blockLabels.count == 16 && resnet.blockLabels.first == "layer1.0")
        let vit = try ONNXImporter.importGraph(data: try Fixtures.data("vit_b_16.dynamo.onnx")).graph
        #expect(vit.blockLabels == (0..<12).map { "encoder.layers.encoder_layer_\($0)" })
        let gpt2 = try ONNXImporter.importGraph(data: try Fixtures.data("gpt2.dynamo.onnx")).graph
        #expect(gpt2.blockLabels == (0..<12).map { "m.transformer.h.\($0)" })
        let googlenet = try ONNXImporter.importGraph(data: try Fixtures.data("googlenet.ts.onnx")).graph
        #expect(googlenet.blockLabels.contains("inception4e") && googlenet.blockLabels.contains("conv2"))
        #expect(BlockLabels.quotedStrings(in: "['', 'm', 'm.h.0', 'mul_1']") == ["", "m", "m.h.0", "mul_1"])
        var node = ONNXNode()
        node.name = "/features/features.1/conv/conv.0/conv.0.0/Conv"
        #expect(BlockLabels.modulePath(of: node) == ["features", "features.1", "features.1.conv", "features.1.conv.0", "features.1.conv.0.0"])
    }

    @Test("shape rules agree with the dynamo exporter's value_info on every node they can infer")
    func shapeRulesMatchValueInfo() throws {
        for file in Fixtures.onnxFiles where file.contains("dynamo") {
            let model = try ONNXDecoder.model(from: try Fixtures.data(file))
            var known: [String: ValueState] = [:]
            for info in model.graph.valueInfo + model.graph.inputs + model.graph.outputs {
                guard let dims = info.dims else { continue }
                let shape = dims.compactMap { dimension -> Int? in if case .value(let value) = dimension { return Int(value) } else { return nil } }
                guard shape.count == dims.count else { continue }
                known[info.name] = ValueState(elementType: info.elementType ?? 1, shape: shape, isStatic: false)
            }
            for tensor in model.graph.initializers {
                known[tensor.name] = ValueState(elementType: tensor.dataType, shape: tensor.dims.map { Int($0) }, isStatic: true)
            }
            var agreed = 0
            var disagreements: [String] = []
            for node in model.graph.nodes where node.domain.isEmpty {
                let context = NodeContext(
                    node: node, inputs: node.inputs.map { $0.isEmpty ? nil : known[$0] },
                    opset: Int(model.opsetVersions[""] ?? 18))
                guard let outputs = try? ShapeRules.infer(context) else { continue }
                for (output, inferred) in zip(node.outputs, outputs) {
                    guard let expected = known[output]?.shape else { continue }
                    if expected == inferred.shape {
                        agreed += 1
                    } else {
                        disagreements.append("\(node.name) \(node.opType): \(inferred.shape) vs \(expected)")
                    }
                }
            }
            #expect(disagreements.isEmpty, "\(file): \(disagreements.prefix(5))")
            #expect(agreed >= 90, "\(file): only \(agreed) shapes compared")
        }
    }

    @Test("Einsum, Slice with INT64_MAX ends, Reshape with 0 and -1, ceil-mode pooling and transposed convolution")
    func individualRules() throws {
        let attention = try Einsum(equation: "bhqd,bhkd->bhqk", inputs: [[2, 12, 197, 64], [2, 12, 197, 64]])
        #expect(attention.outputShape == [2, 12, 197, 197] && attention.multiplyAccumulates == 2 * 12 * 197 * 197 * 64)
        #expect(try Einsum(equation: "...ij,...jk", inputs: [[5, 2, 3], [3, 4]]).outputShape == [5, 2, 4])
        #expect(try SliceRange.outputShape(shape: [1, 197, 768], starts: [1], ends: [Int(0x1p62)], axes: [1], steps: nil) == [1, 196, 768])
        #expect(try SliceRange.outputShape(shape: [10], starts: [-1], ends: [-Int(0x1p62)], axes: nil, steps: [-2]) == [5])

        func context(
            _ op: String, shapes: [[Int]?], values: [[Double]?] = [], ints: [String: [Int64]] = [:],
            int: [String: Int64] = [:]
        ) -> NodeContext {
            var node = ONNXNode()
            node.opType = op
            node.outputs = ["y"]
            node.inputs = shapes.indices.map { "in\($0)" }
            node.attributes =
                ints.map { ONNXAttribute(name: $0.key, ints: $0.value, hasInts: true) }
                + int.map {
                    ONNXAttribute(
                        name: $0.key,
                        int: $0.value)
                }
            let states = shapes.enumerated().map { index, shape in
                ValueState(elementType: 1, shape: shape, values: index < values.count ? values[index] : nil, isStatic: index > 0)
            }
            return NodeContext(node: node, inputs: states, opset: 17)
        }
        #expect(
            try ShapeRules.infer(context("Reshape", shapes: [[1, 197, 768], [4]], values: [nil, [0, 0, 12, -1]]))?.first?.shape == [
                1, 197, 12,
                64,
            ])
        #expect(throws: ShapeFailure.self) { try ShapeRules.infer(context("Reshape", shapes: [[1, 10], [2]], values: [nil, [3, -1]])) }
        let pool = context("MaxPool", shapes: [[1, 64, 112, 112]], ints: ["kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]])
        #expect(try ShapeRules.infer(pool)?.first?.shape == [1, 64, 56, 56])
        let ceilPool = context("MaxPool", shapes: [[1, 64, 112, 112]], ints: ["kernel_shape": [3, 3], "strides": [2, 2]], int: ["ceil_mode": 1])
        #expect(try ShapeRules.infer(ceilPool)?.first?.shape == [1, 64, 56, 56])
        let upsample = context("ConvTranspose", shapes: [[1, 8, 16, 16], [8, 4, 4, 4]], ints: ["strides": [2, 2], "pads": [1, 1, 1, 1]])
        #expect(try ShapeRules.infer(upsample)?.first?.shape == [1, 4, 32, 32])
        #expect(try ShapeRules.infer(context("MatMul", shapes: [[2, 12, 197, 64], [2, 12, 64, 197]]))?.first?.shape == [2, 12, 197, 197])
        #expect(try ShapeRules.infer(context("NoSuchOp", shapes: [[1]])) == nil)
    }
}
