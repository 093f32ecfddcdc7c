import Foundation
import SplitCore

/// Imports ONNX models (as exported by `torch.onnx.export`, TorchScript-based or `dynamo=True`)
/// into per-sample `splitgraph/1` graphs.
///
/// Weights are never needed: initializers whose data is external and absent contribute their
/// dims and dtype to `param_bytes`. Shapes come from the operator rules (`ShapeRules`) with
/// `value_info` as a fallback; shape plumbing is folded (`ConstantFolding`); FLOPs follow
/// `OperatorCosts`; blocks follow `BlockLabels`.
public enum ONNXImporter {
    /// Imports the ONNX model in `data`.
    ///
    /// - Throws: `ImportError` naming the node, operator, value or option at fault.
    public static func importGraph(data: Data, options: ImportOptions = ImportOptions()) throws -> ImportResult {
        let model = try ONNXDecoder.model(from: data)
        guard model.hasGraph else { throw ImportError(.unsupportedModel, field: "graph", "the model has no graph (is this an ONNX model?)") }
        var warnings: [String] = []
        let opset: Int
        if let version = model.opsetVersions[""] {
            opset = Int(clamping: version)
        } else {
            opset = 13
            warnings.append("the model imports no default ONNX opset; assuming 13")
        }
        var walker = GraphWalker(graph: model.graph, opset: opset, options: options)
        try walker.addInitializers()
        try walker.addInputs()
        warnings += walker.warnings
        walker.warnings = []
        let order = try NodeOrder.topological(model.graph, known: walker.knownNames)
        for index in order { try walker.visit(nodeAt: index) }
        let outputs = try walker.outputLayerNames()
        warnings += walker.warnings

        let labels = BlockLabels.labels(paths: walker.layerPaths, ops: walker.layers.map(\.op))
        var layers = walker.layers
        let modules = ModulePaths(walker.layerPaths)
        for index in layers.indices {
            layers[index].block = labels[index]
            layers[index].module = modules.module(ofLayer: index)
        }
        let name = options.name ?? (model.graph.name.isEmpty ? "model" : model.graph.name)
        let graph: ModelGraph
        do {
            graph = try ModelGraph(name: name, layers: layers, outputs: outputs)
        } catch let error as GraphError {
            throw ImportError(.invalidGraph, node: error.layer, field: error.field, "imported graph is invalid: \(error.reason)")
        }
        var summary = walker.summary
        summary.layerCount = graph.count
        summary.blockCount = graph.blockLabels.count
        summary.forwardFLOPs = graph.layers.reduce(0) { $0 + $1.forwardFLOPs }
        summary.backwardFLOPs = graph.layers.reduce(0) { $0 + $1.backwardFLOPs }
        summary.parameterBytes = graph.layers.reduce(0) { $0 + $1.parameterBytes }
        return ImportResult(graph: graph, summary: summary, warnings: warnings)
    }
}

/// Orders nodes so every node comes after the producers of its inputs.
enum NodeOrder {
    /// Kahn's algorithm over value dependencies, in file order among ready nodes.
    ///
    /// - Throws: `ImportError` for a value produced twice, a value nobody provides, or a cycle.
    static func topological(_ graph: ONNXGraph, known: Set<String>) throws -> [Int] {
        var producer: [String: Int] = [:]
        for (index, node) in graph.nodes.enumerated() {
            for output in node.outputs where !output.isEmpty {
                if let other = producer.updateValue(index, forKey: output) {
                    throw ImportError(
                        .invalidGraph, node: label(graph.nodes[index], index), op: node.opType, field: "output '\(output)'",
                        "value is also produced by node '\(label(graph.nodes[other], other))'")
                }
                if known.contains(output) {
                    throw ImportError(
                        .invalidGraph, node: label(node, index), op: node.opType, field: "output '\(output)'",
                        "value is also an initializer or graph input")
                }
            }
        }
        var pending = [Int](repeating: 0, count: graph.nodes.count)
        var consumers = [[Int]](repeating: [], count: graph.nodes.count)
        for (index, node) in graph.nodes.enumerated() {
            var seen = Set<Int>()
            for input in node.inputs where !input.isEmpty {
                if let source = producer[input] {
                    if source == index {
                        throw ImportError(.cycle, node: label(node, index), op: node.opType, field: "input '\(input)'", "node reads its own output")
                    }
                    if seen.insert(source).inserted {
                        pending[index] += 1
                        consumers[source].append(index)
                    }
                } else if !known.contains(input) {
                    throw ImportError(
                        .missingInput, node: label(node, index), op: node.opType, field: "input '\(input)'",
                        "no node, initializer or graph input provides this value")
                }
            }
        }
        var order = (0..<graph.nodes.count).filter { pending[$0] == 0 }
        var head = 0
        while head < order.count {
            let node = order[head]
            head += 1
            for consumer in consumers[node] {
                pending[consumer] -= 1
                if pending[consumer] == 0 { order.append(consumer) }
            }
        }
        guard order.count < graph.nodes.count else { return order }
        // Walk unfinished inputs backwards until a node repeats: that closes a cycle.
        guard var current = pending.firstIndex(where: { $0 > 0 }) else { return order }
        var visited: [Int: Int] = [:]
        var walk: [Int] = []
        while visited[current] == nil {
            visited[current] = walk.count
            walk.append(current)
            guard let next = graph.nodes[current].inputs.lazy.compactMap({ producer[$0] }).first(where: { pending[$0] > 0 }) else { break }
            current = next
        }
        let cycle = walk[(visited[current] ?? 0)...].reversed().map { label(graph.nodes[$0], $0) }
        throw ImportError(
            .cycle, node: cycle.first, op: graph.nodes[walk[visited[current] ?? 0]].opType,
            "nodes form a cycle: \((cycle + [cycle.first ?? ""]).joined(separator: " -> "))")
    }

    /// A node's name for messages: its name, or `#index` when it has none.
    static func label(_ node: ONNXNode, _ index: Int) -> String {
        node.name.isEmpty ? "#\(index)" : node.name
    }
}
