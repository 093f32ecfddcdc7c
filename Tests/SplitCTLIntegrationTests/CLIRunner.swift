import Foundation
import SplitTestSupport
import Testing

/// Runs the real `splitctl` binary built next to the test bundle.
enum CLI {
    /// The built binary: beside the test runner, or in the package's debug build folder.
    static var binary: URL {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("splitctl"),
            packageRoot.appendingPathComponent(".build/debug/splitctl"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[1]
    }

    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// The built `splitd`, beside `splitctl` (built with the whole package, not with this target alone).
    static var daemonBinary: URL { binary.deletingLastPathComponent().appendingPathComponent("splitd") }

    /// Runs `splitctl arguments...` (or `executable`) with the package root as working directory;
    /// stderr goes to a pipe with `standardErrorPipe`, to a file otherwise.
    static func run(_ arguments: [String], executable: URL? = nil, standardErrorPipe: Bool = false) throws -> Result {
        let process = Process()
        process.executableURL = executable ?? binary
        process.arguments = arguments
        process.currentDirectoryURL = packageRoot
        // Capture into files: no pipe can fill up and block the child.
        let directory = FileManager.default.temporaryDirectory
        let outURL = directory.appendingPathComponent("splitctl-out-\(UUID().uuidString)")
        let errURL = directory.appendingPathComponent("splitctl-err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        let outHandle = try FileHandle(forWritingTo: outURL)
        let errHandle = try FileHandle(forWritingTo: errURL)
        let errPipe = Pipe()
        process.standardOutput = outHandle
        process.standardError = standardErrorPipe ? errPipe : errHandle
        try process.run()
        // Read the pipe to its end before waiting, so the child never blocks on a full pipe.
        let piped = standardErrorPipe ? errPipe.fileHandleForReading.readDataToEndOfFile() : nil
        process.waitUntilExit()
        try outHandle.close()
        try errHandle.close()
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
            stderr: String(decoding: try piped ?? Data(contentsOf: errURL), as: UTF8.self))
    }

    /// Writes `contents` to a fresh temporary file and returns its path.
    static func temporaryFile(_ contents: String, suffix: String = ".json") throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("splitctl-test-\(UUID().uuidString)\(suffix)")
        try Data(contents.utf8).write(to: url)
        return url.path
    }
}
