import Foundation
import SplitCore

/// The sample graphs and profiles shipped in `ops/`, located from this file's path so tests do
/// not depend on the working directory.
enum SampleModels {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let names = [
        "resnet18", "resnet50", "vgg16", "googlenet", "mobilenet_v2", "vit_b_16", "densenet121", "gpt2",
        "nasnet_a_mobile", "nasnet_a_large",
    ]
    /// The models with a measured H200 profile in `ops/profiles/` (GPT-2 and the NASNets were not
    /// measured); tests over profiles run on these, and a test checks the list against the files.
    static let profiledNames = ["resnet18", "resnet50", "vgg16", "googlenet", "mobilenet_v2", "vit_b_16", "densenet121"]

    static func graph(_ name: String) throws -> ModelGraph {
        try ModelGraph(json: Data(contentsOf: root.appendingPathComponent("ops/models/\(name).json")))
    }

    static func profile(_ file: String) throws -> LayerProfile? {
        let url = root.appendingPathComponent("ops/profiles/\(file)")
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try LayerProfile(json: Data(contentsOf: url))
    }
}
