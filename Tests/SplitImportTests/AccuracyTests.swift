import Foundation
import SplitCore
import SplitTestSupport
import Testing

@testable import SplitImport

/// The issue's accuracy bar: imported ONNX against the graphs traced from the same models in
/// `ops/models/` (torch.fx + torch.utils.flop_counter).
@Suite("Import accuracy against the traced sample models")
struct AccuracyTests {
    static let rates: [Double] = [5e6, 20e6, 100e6, 500e6]

    /// Fixtures of torchvision models, for which the delay bar applies.
    static let torchvision = [
        "resnet18.ts", "resnet50.ts", "resnet50.dynamo", "vgg16.ts", "googlenet.ts",
        "mobilenet_v2.ts", "mobilenet_v2.dynamo", "vit_b_16.ts", "vit_b_16.dynamo", "densenet121.ts",
    ]

    static func traced(_ model: String) throws -> ModelGraph {
        try ModelGraph(json: Data(contentsOf: packageRoot.appendingPathComponent("ops/models/\(model).json")))
    }

    /// The traced reference with one known counter error corrected: `torch.utils.flop_counter`
    /// counts a grouped convolution's weight gradient as if it were dense (it ignores `groups`),
    /// so depthwise convolutions traced with it carry a backward of 33x their forward (up to 961x)
    /// instead of 2x (checked with PyTorch 2.15: a 32-channel depthwise 3x3 at 112x112 counts
    /// 7.2 MFLOPs forward and 238 MFLOPs backward). The sample graphs in `ops/models/` are traced
    /// with the corrected counter now, so this changes nothing there; it stays as a guard. Only
    /// layers whose backward exceeds 2x forward are touched.
    static func correctedReference(_ graph: ModelGraph) throws -> ModelGraph {
        let layers = graph.layers.map { layer -> Layer in
            var corrected = layer
            if layer.op == "conv2d" && layer.backwardFLOPs > 2 * layer.forwardFLOPs { corrected.backwardFLOPs = 2 * layer.forwardFLOPs }
            return corrected
        }
        return try ModelGraph(name: graph.name, layers: layers, outputs: graph.outputs.map { graph.layers[$0].name })
    }

    static func optimalDelay(_ graph: ModelGraph, rate: Double) throws -> Double {
        let conditions = PlanningConditions(
            batchSize: 32, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 2e13,
            uplinkBitsPerSecond: rate, downlinkBitsPerSecond: rate, rttSeconds: 0.01)
        return try SplitPlanner(model: PreparedModel(graph: graph)).plan(.dag, conditions: conditions).delaySeconds
    }

    static func total(_ graph: ModelGraph, _ value: KeyPath<Layer, Double>) -> Double {
        graph.layers.reduce(0) { $0 + $1[keyPath: value] }
    }

    /// Fixtures of models that `ops/models/` has a traced graph of.
    static let tracedFixtures = Fixtures.onnxFiles.filter { file in
        FileManager.default.fileExists(atPath: packageRoot.appendingPathComponent("ops/models/\(file.prefix { $0 != "." }).json").path)
    }

    @Test("forward FLOPs within 10% and parameter bytes within 2% of the traced graph", arguments: tracedFixtures)
    func totals(file: String) throws {
        let model = String(file.prefix { $0 != "." })
        let imported = try ONNXImporter.importGraph(data: try Fixtures.data(file)).graph
        let reference = try Self.traced(model)
        let forward = Self.total(imported, \.forwardFLOPs) / Self.total(reference, \.forwardFLOPs)
        let parameters = Self.total(imported, \.parameterBytes) / Self.total(reference, \.parameterBytes)
        #expect(abs(forward - 1) <= 0.10, "\(file): forward FLOPs ratio \(forward)")
        #expect(abs(parameters - 1) <= 0.02, "\(file): parameter bytes ratio \(parameters)")
    }

    @Test("optimal dag delay within 5% of the traced graph's at 5, 20, 100 and 500 Mbit/s", arguments: torchvision)
    func delays(fixture: String) throws {
        let model = String(fixture.prefix { $0 != "." })
        let imported = try ONNXImporter.importGraph(data: try Fixtures.data(fixture + ".onnx")).graph
        let reference = try Self.correctedReference(try Self.traced(model))
        for rate in Self.rates {
            let expected = try Self.optimalDelay(reference, rate: rate)
            let actual = try Self.optimalDelay(imported, rate: rate)
            #expect(abs(actual / expected - 1) <= 0.05, "\(fixture) at \(rate / 1e6) Mbit/s: \(actual) s imported vs \(expected) s traced")
        }
    }

    /// GPT-2 (transformers, not torchvision) is outside the delay bar: its traced graph has the
    /// position ids and causal mask as extra inputs (`arange`...), so its optimal split ships them
    /// from the device every iteration; in ONNX they are constants the server computes itself.
    /// The imported delay can therefore only be lower, and converges as the link gets faster.
    @Test("GPT-2: the imported delay is never above the traced one and within 5% at 500 Mbit/s")
    func gpt2Delays() throws {
        let imported = try ONNXImporter.importGraph(data: try Fixtures.data("gpt2.dynamo.onnx")).graph
        let reference = try Self.traced("gpt2")
        for rate in Self.rates {
            let expected = try Self.optimalDelay(reference, rate: rate)
            let actual = try Self.optimalDelay(imported, rate: rate)
            #expect(actual <= expected * (1 + 1e-9), "at \(rate / 1e6) Mbit/s: \(actual) s imported vs \(expected) s traced")
            if rate == 500e6 { #expect(abs(actual / expected - 1) <= 0.05) }
        }
    }

    @Test("the reference correction touches only grouped convolutions: no other model changes")
    func correctionIsNarrow() throws {
        for model in ["resnet50", "vgg16", "googlenet", "vit_b_16", "densenet121"] {
            let graph = try Self.traced(model)
            #expect(try Self.correctedReference(graph).layers == graph.layers, "\(model)")
        }
        // The sample MobileNetV2 is traced with the corrected counter now (../shared/graphs), so the
        // correction finds nothing left to change; given inflated counts (here on the convolutions
        // of features.1x) it changes exactly the layers whose backward exceeds 2x forward, to 2x.
        let mobilenet = try Self.traced("mobilenet_v2")
        #expect(try Self.correctedReference(mobilenet).layers == mobilenet.layers)
        let inflated = try ModelGraph(
            name: mobilenet.name,
            layers: mobilenet.layers.map { layer in
                var old = layer
                if layer.op == "conv2d" && layer.block?.hasPrefix("features.1") == true { old.backwardFLOPs = 33 * layer.forwardFLOPs }
                return old
            }, outputs: mobilenet.outputs.map { mobilenet.layers[$0].name })
        let expected = inflated.layers.filter { $0.op == "conv2d" && $0.backwardFLOPs > 2 * $0.forwardFLOPs }.count
        let changed = zip(inflated.layers, try Self.correctedReference(inflated).layers).filter { $0 != $1 }
        #expect(expected > 0 && changed.count == expected)
        #expect(try Self.correctedReference(inflated).layers.allSatisfy { $0.op != "conv2d" || $0.backwardFLOPs <= 2 * $0.forwardFLOPs })
    }
}
