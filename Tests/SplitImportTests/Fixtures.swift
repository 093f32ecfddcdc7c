import Foundation
import SplitTestSupport

/// The committed fixtures (`Tests/SplitImportTests/Fixtures`).
enum Fixtures {
    static let directory = packageRoot.appendingPathComponent("Tests/SplitImportTests/Fixtures")

    static func data(_ file: String) throws -> Data { try Data(contentsOf: directory.appendingPathComponent(file)) }

    static var onnxFiles: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".onnx") }.sorted()
    }
}
