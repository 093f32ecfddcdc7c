import SplitCore

/// How to import a model file.
public struct ImportOptions: Sendable {
    /// What to do with an operator that has no shape rule or FLOP formula.
    public enum UnknownOperators: String, Sendable, CaseIterable {
        /// Reject the model, naming the node and operator.
        case error
        /// Count the operator as zero FLOPs (its shape must come from `value_info`) and warn.
        case zero
    }

    /// Concrete shapes for graph inputs (`ids` → `[1, 128]`), overriding symbolic or declared ones.
    public var inputShapes: [String: [Int]]
    /// Name of the imported graph (default: the ONNX graph's name).
    public var name: String?
    /// Handling of unknown operators.
    public var unknownOperators: UnknownOperators
    /// The most elements an import folds in total (shape plumbing, small initializers, constants;
    /// each held as a Double): 2^22, 32 MiB. Real models fold a few thousand (the sample models'
    /// exports at most ~0.3M, mostly small initializers); a file that asks for more keeps its
    /// remaining values unknown, and a shape that then needs one fails naming this budget, so a
    /// small file cannot make the importer hold gigabytes.
    public var foldingBudgetElements: Int = 1 << 22

    /// Creates options.
    public init(inputShapes: [String: [Int]] = [:], name: String? = nil, unknownOperators: UnknownOperators = .error) {
        self.inputShapes = inputShapes
        self.name = name
        self.unknownOperators = unknownOperators
    }

    /// Parses `NAME=1x3x224x224`.
    public static func parseInputShape(_ text: String) throws -> (name: String, shape: [Int]) {
        guard let equals = text.lastIndex(of: "="), equals != text.startIndex else {
            throw ImportError(.invalidOption, field: "--input", "expected NAME=1x3x224x224, got '\(text)'")
        }
        let name = String(text[..<equals])
        let dims = text[text.index(after: equals)...].split(separator: "x", omittingEmptySubsequences: false)
        let shape = dims.compactMap { Int($0) }
        guard shape.count == dims.count, shape.allSatisfy({ $0 >= 1 && $0 <= 1 << 30 }) else {
            throw ImportError(
                .invalidOption, field: "--input",
                "expected dimensions like 1x3x224x224 (each 1...2^30), got '\(text[text.index(after: equals)...])'")
        }
        return (name, shape)
    }
}

/// What an import produced: the graph, a summary of it, and warnings worth showing the user.
public struct ImportResult: Sendable {
    /// The imported splitgraph/1 graph (per sample).
    public let graph: ModelGraph
    /// Totals and how the FLOPs were counted.
    public let summary: ImportSummary
    /// Non-fatal problems (assumed batch size, operators counted as zero, constant outputs).
    public let warnings: [String]
}

/// Totals of an imported graph and the operators whose FLOPs are approximate or missing.
public struct ImportSummary: Sendable, Equatable {
    /// Layers, including input layers.
    public var layerCount = 0
    /// Distinct block labels.
    public var blockCount = 0
    /// Total forward FLOPs per sample.
    public var forwardFLOPs = 0.0
    /// Total backward FLOPs per sample.
    public var backwardFLOPs = 0.0
    /// Total parameter bytes.
    public var parameterBytes = 0.0
    /// The batch size divided out (the first input's first dimension).
    public var batchSize = 1
    /// Nodes folded away as shape plumbing or aliases (not layers).
    public var foldedNodeCount = 0
    /// Layers per operator whose FLOPs are an element-count approximation.
    public var approximateOperators: [String: Int] = [:]
    /// Layers per operator counted as zero FLOPs (unknown operators).
    public var uncountedOperators: [String: Int] = [:]

    /// A few lines for a terminal: totals, then the approximate and uncounted operators.
    public var text: String {
        func counts(_ table: [String: Int]) -> String {
            table.isEmpty ? "none" : table.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: ", ")
        }
        let totals = """
            \(layerCount) layers, \(blockCount) blocks, forward \(format(forwardFLOPs / 1e9)) GFLOPs, backward \(format(backwardFLOPs / 1e9)) \
            GFLOPs per sample, parameters \(format(parameterBytes / 1e6)) MB (batch \(batchSize) divided out, \(foldedNodeCount) nodes folded)
            """
        return totals + "\napproximate FLOPs (element counts): " + counts(approximateOperators) + "\nnot counted (zero FLOPs): "
            + counts(uncountedOperators)
    }

    private func format(_ value: Double) -> String {
        let rounded = (value * 1000).rounded() / 1000
        return "\(rounded)"
    }
}
