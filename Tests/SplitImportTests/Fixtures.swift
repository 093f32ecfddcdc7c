import Foundation

/// The committed fixtures, located from this file's path.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let packageRoot = directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func data(_ file: String) throws -> Data { try Data(contentsOf: directory.appendingPathComponent(file)) }

    static var onnxFiles: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".onnx") }.sorted()
    }
}
