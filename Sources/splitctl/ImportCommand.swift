import ArgumentParser
import Foundation
import SplitCore
import SplitImport

/// `splitctl import`: an ONNX model or a PipeDream graph.txt to splitgraph/1 JSON.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a model (ONNX, or a PipeDream profiler graph.txt) as splitgraph/1 JSON.",
        discussion: "Prints the graph on stdout (or --output) and a summary on stderr.")

    enum Source: String, ExpressibleByArgument, CaseIterable { case onnx, pipedream }

    @Argument(help: "MODEL.onnx, or a PipeDream graph.txt with --from pipedream.")
    var model: String
    @Option(name: .customLong("from"), help: "Input format.")
    var source: Source = .onnx
    @Option(name: .customLong("input"), help: "Shape of a graph input, NAME=1x3x224x224 (repeatable); the first dimension is the batch.")
    var inputShapes: [String] = []
    @Option(help: "Name of the imported graph (default: the file name up to its first dot).")
    var name: String?
    @Option(help: "Write the graph here instead of stdout.")
    var output: String?
    @Option(name: .customLong("unknown-ops"), help: "Operators without a FLOP formula: reject the model, or count zero FLOPs with a warning.")
    var unknownOperators: ImportOptions.UnknownOperators = .error
    @Option(name: .customLong("profile-output"), help: "PipeDream: write the measured times here (splitprofile/1).")
    var profileOutput: String?
    @Option(help: "PipeDream: the minibatch size the profile was measured at.")
    var batch: Int?
    @Option(
        name: .customLong("profiled-flops"),
        help: ArgumentHelp(
            "PipeDream: FLOP/s that converts measured times to FLOPs in the graph.",
            valueName: "flop/s"),
        transform: Limits.parseThroughput)
    var profiledFLOPs: Double = 1e13

    func run() throws {
        let data = try InputFiles.mapped(model, what: "model file")
        let result: ImportResult
        switch source {
        case .onnx:
            let options = try ONNXInput.options(path: model, name: name, inputShapes: inputShapes, unknownOperators: unknownOperators)
            result = try ONNXInput.importGraph(data: data, path: model, options: options)
        case .pipedream:
            guard let batch else { throw InputError("PipeDream profiles do not record their batch size; pass --batch N") }
            let imported: PipeDreamImporter.Output
            do {
                imported = try PipeDreamImporter.importGraph(
                    text: String(decoding: data, as: UTF8.self),
                    options: .init(
                        batchSize: batch, profiledFLOPsPerSecond: profiledFLOPs,
                        name: name ?? URL(fileURLWithPath: model).deletingPathExtension().lastPathComponent))
            } catch let error as ImportError {
                throw InputError("\(model): \(error)")
            }
            result = imported.result
            if let profileOutput { try write(imported.profileJSON, to: profileOutput, what: "profile") }
        }
        for warning in result.warnings { standardError("splitctl: warning: \(warning)") }
        standardError("splitctl: imported '\(result.graph.name)': " + result.summary.text)
        var json = result.graph.jsonData()
        json.append(0x0a)
        if let output { try write(json, to: output, what: "graph") } else { FileHandle.standardOutput.write(json) }
    }

    private func write(_ data: Data, to path: String, what: String) throws {
        do {
            try data.write(to: URL(fileURLWithPath: path))
        } catch {
            throw FailureError("cannot write the \(what) to '\(path)': \(error.localizedDescription)")
        }
    }

    private func standardError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

extension ImportOptions.UnknownOperators: ExpressibleByArgument {}
