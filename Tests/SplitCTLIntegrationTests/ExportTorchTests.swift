import Foundation
import SplitTestSupport
import Testing

/// Where PyTorch can be imported (by `$SPLITD_TORCH_PYTHON`, else `python3`).
enum TorchPython {
    static let interpreter = ProcessInfo.processInfo.environment["SPLITD_TORCH_PYTHON"] ?? "python3"

    static let isAvailable: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [interpreter, "-c", "import torch"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus == 0
        } catch {
            return false
        }
    }()
}

@Suite("ops/export-torch")
struct ExportTorchTests {
    @Test(
        "the PyTorch exporter's own tests pass (export formulas, blocks, batch, profile names, bad usage)",
        .enabled(
            if: TorchPython.isAvailable,
            "PyTorch is not importable (set SPLITD_TORCH_PYTHON to a Python that has it): ops/export-torch is not tested here"))
    func exporterTests() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [TorchPython.interpreter, packageRoot.appendingPathComponent("ops/test-export-torch").path]
        var environment = ProcessInfo.processInfo.environment
        environment["SPLITCTL"] = CLI.binary.path
        process.environment = environment
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("export-torch-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        try handle.close()
        let text = String(decoding: try Data(contentsOf: output), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(text.suffix(2000))")
        #expect(text.contains(" passed, 0 failed"), "\(text.suffix(2000))")
    }
}
