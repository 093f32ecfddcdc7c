import Foundation
import SplitCore
import SplitTestSupport

/// The sample graphs and profiles shipped in `ops/`, under `packageRoot`.
enum SampleModels {
    static let names = [
        "resnet18", "resnet50", "vgg16", "googlenet", "mobilenet_v2", "vit_b_16", "densenet121", "gpt2",
        "nasnet_a_mobile", "nasnet_a_large",
    ]
    /// The models with a measured H200 profile in `ops/profiles/` (GPT-2 and the NASNets were not
    /// measured); tests over profiles run on these, and a test checks the list against the files.
    static let profiledNames = ["resnet18", "resnet50", "vgg16", "googlenet", "mobilenet_v2", "vit_b_16", "densenet121"]

    static func graph(_ name: String) throws -> ModelGraph {
        try ModelGraph(json: Data(contentsOf: packageRoot.appendingPathComponent("ops/models/\(name).json")))
    }

    static func profile(_ file: String) throws -> LayerProfile? {
        let url = packageRoot.appendingPathComponent("ops/profiles/\(file)")
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try LayerProfile(json: Data(contentsOf: url))
    }
}
