import Foundation
import SplitCore
import SplitImport

/// ONNX models where splitctl reads them: `splitctl import`, and every command that takes a
/// graph file (`InputFiles.graph(at:)`), which imports an ONNX model on the fly with the same
/// options `import` uses by default.
enum ONNXInput {
    /// Whether `data`, read from `path`, is an ONNX model rather than splitgraph/1 JSON: it does
    /// not begin as JSON does (`{` after blanks) and either its name ends in `.onnx` or its first
    /// byte is 0x08, the tag of `ModelProto.ir_version` (field 1, a varint), which every exporter
    /// writes first.
    static func isONNX(_ data: Data, path: String) -> Bool {
        guard let first = data.first(where: { ![0x20, 0x09, 0x0a, 0x0d].contains($0) }), first != UInt8(ascii: "{") else { return false }
        return path.lowercased().hasSuffix(".onnx") || data.first == 0x08
    }

    /// The options of an import of `path`: `splitctl import`'s flags, and its defaults when they
    /// are not given (the graph named after the file up to its first dot, `--unknown-ops error`,
    /// input shapes as the model declares them).
    static func options(
        path: String, name: String? = nil, inputShapes: [String] = [], unknownOperators: ImportOptions.UnknownOperators = .error
    ) throws -> ImportOptions {
        var options = ImportOptions(name: name, unknownOperators: unknownOperators)
        do {
            for text in inputShapes {
                let (inputName, shape) = try ImportOptions.parseInputShape(text)
                options.inputShapes[inputName] = shape
            }
        } catch let error as ImportError {
            throw InputError("\(path): \(error)")
        }
        if options.name == nil { options.name = URL(fileURLWithPath: path).lastPathComponent.components(separatedBy: ".").first }
        return options
    }

    /// Imports the ONNX model `data` read from `path`; errors name the file, and `hint` adds to them.
    static func importGraph(
        data: Data, path: String, options: ImportOptions, hint: (ImportError) -> String = { _ in "" }
    ) throws -> ImportResult {
        do {
            return try ONNXImporter.importGraph(data: data, options: options)
        } catch let error as ImportError {
            throw InputError("\(path): \(error)\(hint(error))")
        }
    }

    /// The graph of the ONNX model `data` read from `path`, imported with `splitctl import`'s
    /// defaults for a command that takes a graph file; says on stderr that it did.
    static func graph(data: Data, path: String) throws -> ModelGraph {
        let options = try options(path: path)
        let saved = "\(options.name ?? "model").json"
        let result = try importGraph(data: data, path: path, options: options) { error in
            error.kind == .malformed
                ? " (read as an ONNX model because its name ends in .onnx or its first byte is 0x08; a splitgraph/1 graph is JSON)"
                : " (it was imported as ONNX with the defaults of 'splitctl import'; to give --input or --unknown-ops, run "
                    + "'splitctl import \(path) --output \(saved)' with them and use \(saved))"
        }
        for warning in result.warnings { warn(warning) }
        note(
            """
            \(path) is an ONNX model: imported it as '\(result.graph.name)' (\(result.graph.count) layers) with the defaults of \
            'splitctl import'; 'splitctl import \(path) --output \(saved)' saves the graph once
            """)
        return result.graph
    }
}
