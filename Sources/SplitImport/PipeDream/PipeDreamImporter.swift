import Foundation
import SplitCore

/// Imports a PipeDream profiler `graph.txt` (msr-fiddle/pipedream) as a splitgraph/1 graph plus
/// a splitprofile/1 profile of its measured times.
///
/// Node lines read `node4 -- Conv2d(64, 64, ...) -- forward_compute_time=9.441,
/// backward_compute_time=113.864, activation_size=1644167168.000, parameter_size=147712.000
/// [-- stage_id=0]` (times in milliseconds and activations in bytes for the whole profiled
/// minibatch, parameters in bytes); edge lines read `node1 -- node2`. PipeDream records no FLOPs
/// and no batch size: FLOPs are the measured times at `profiledFLOPsPerSecond` (so a plan made
/// without the profile keeps the measured proportions), and the batch size must be given.
public enum PipeDreamImporter {
    /// How to interpret a profile.
    public struct Options: Sendable {
        /// The minibatch size the profile was measured at (divided out of times and activations).
        public var batchSize: Int
        /// Throughput that converts measured times to FLOPs in the graph.
        public var profiledFLOPsPerSecond: Double
        /// Graph name.
        public var name: String

        /// Creates options.
        public init(batchSize: Int, profiledFLOPsPerSecond: Double = 1e13, name: String = "pipedream") {
            self.batchSize = batchSize
            self.profiledFLOPsPerSecond = profiledFLOPsPerSecond
            self.name = name
        }
    }

    /// The imported graph and the measured times as a splitprofile/1 document.
    public struct Output: Sendable {
        /// Graph, summary and warnings.
        public let result: ImportResult
        /// Measured per-layer times (input nodes excluded).
        public let profile: LayerProfile
        /// `profile` as splitprofile/1 JSON.
        public let profileJSON: Data
    }

    private struct Node {
        var id: String
        var op: String
        var forwardMilliseconds: Double
        var backwardMilliseconds: Double
        var activationBytes: Double
        var parameterBytes: Double
        var inputs: [String] = []
    }

    /// Parses `text` (the contents of a graph.txt).
    ///
    /// - Throws: `ImportError` naming the line and field for syntax errors, unknown nodes in edges
    ///   and cycles.
    public static func importGraph(text: String, options: Options) throws -> Output {
        guard options.batchSize >= 1 else { throw ImportError(.invalidOption, field: "--batch", "must be >= 1") }
        guard options.profiledFLOPsPerSecond.isFinite, options.profiledFLOPsPerSecond > 0 else {
            throw ImportError(.invalidOption, field: "--profiled-flops", "must be a positive number")
        }
        var nodes: [Node] = []
        var position: [String: Int] = [:]
        var edges: [(from: String, to: String, line: Int)] = []
        for (lineIndex, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !line.isEmpty else { continue }
            let lineNumber = lineIndex + 1
            let tokens = line.components(separatedBy: " -- ")
            if tokens.count == 2 {
                edges.append((tokens[0], tokens[1], lineNumber))
                continue
            }
            guard tokens.count >= 3 else {
                throw ImportError(
                    .syntax, field: "line \(lineNumber)",
                    "expected 'nodeN -- Desc -- forward_compute_time=..., ...' or 'nodeA -- nodeB'")
            }
            let node = try parseNode(tokens, line: lineNumber)
            guard position.updateValue(nodes.count, forKey: node.id) == nil else {
                throw ImportError(.syntax, node: node.id, field: "line \(lineNumber)", "node is defined twice")
            }
            nodes.append(node)
        }
        guard !nodes.isEmpty else { throw ImportError(.syntax, "no node lines found; is this a PipeDream graph.txt?") }
        for edge in edges {
            guard position[edge.from] != nil, let target = position[edge.to] else {
                throw ImportError(.syntax, field: "line \(edge.line)", "edge '\(edge.from) -- \(edge.to)' names a node that is not defined")
            }
            if !nodes[target].inputs.contains(edge.from) { nodes[target].inputs.append(edge.from) }
        }
        let batch = Double(options.batchSize)
        let rate = options.profiledFLOPsPerSecond
        var times: [String: (forward: Double, backward: Double)] = [:]
        let layers = nodes.map { node -> Layer in
            let isInput = node.inputs.isEmpty
            if !isInput { times[node.id] = (node.forwardMilliseconds, node.backwardMilliseconds) }
            return Layer(
                name: node.id, op: isInput ? "input" : node.op, inputs: node.inputs,
                forwardFLOPs: isInput ? 0 : node.forwardMilliseconds / 1000 / batch * rate,
                backwardFLOPs: isInput ? 0 : node.backwardMilliseconds / 1000 / batch * rate,
                outputBytes: node.activationBytes / batch, parameterBytes: node.parameterBytes)
        }
        let graph: ModelGraph
        do {
            graph = try ModelGraph(name: options.name, layers: layers)
        } catch let error as GraphError {
            throw ImportError(error.kind == .cycle ? .cycle : .invalidGraph, node: error.layer, field: error.field, error.reason)
        }
        let profile = try LayerProfile(batchSize: options.batchSize, milliseconds: times, hardware: "PipeDream profile")
        var summary = ImportSummary()
        summary.layerCount = graph.count
        summary.blockCount = 0
        summary.forwardFLOPs = graph.layers.reduce(0) { $0 + $1.forwardFLOPs }
        summary.backwardFLOPs = graph.layers.reduce(0) { $0 + $1.backwardFLOPs }
        summary.parameterBytes = graph.layers.reduce(0) { $0 + $1.parameterBytes }
        summary.batchSize = options.batchSize
        let warnings = ["FLOPs are measured times at \(rate) FLOP/s; plan with the profile (--device-profile/--server-profile) for measured costs"]
        return Output(
            result: ImportResult(graph: graph, summary: summary, warnings: warnings), profile: profile,
            profileJSON: profileDocument(times: times, batchSize: options.batchSize))
    }

    private static func parseNode(_ tokens: [String], line: Int) throws -> Node {
        let id = tokens[0].trimmingCharacters(in: .whitespaces)
        let description = tokens[1].trimmingCharacters(in: .whitespaces)
        var fields: [String: Double] = [:]
        for entry in tokens[2].components(separatedBy: ", ") {
            let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else {
                throw ImportError(.syntax, node: id, field: "line \(line)", "expected key=value, got '\(entry)'")
            }
            let value: Double?
            if parts[1].hasPrefix("[") {
                // Several output tensors: "[a; b]".
                let items = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "[]")).components(separatedBy: ";")
                let numbers = items.map { Double($0.trimmingCharacters(in: .whitespaces)) }
                value = numbers.contains { $0 == nil } ? nil : numbers.reduce(0) { $0 + ($1 ?? 0) }
            } else {
                value = Double(parts[1])
            }
            guard let value, value.isFinite, value >= 0 else {
                throw ImportError(.syntax, node: id, field: "line \(line), \(parts[0])", "must be a finite number >= 0, got '\(parts[1])'")
            }
            fields[parts[0]] = value
        }
        let required = ["forward_compute_time", "backward_compute_time", "activation_size", "parameter_size"]
        for key in required where fields[key] == nil {
            throw ImportError(.syntax, node: id, field: "line \(line), \(key)", "missing")
        }
        let op = description.split(separator: "(", maxSplits: 1).first.map { String($0).trimmingCharacters(in: .whitespaces) } ?? description
        return Node(
            id: id, op: op.isEmpty ? "node" : op,
            forwardMilliseconds: fields["forward_compute_time"] ?? 0, backwardMilliseconds: fields["backward_compute_time"] ?? 0,
            activationBytes: fields["activation_size"] ?? 0, parameterBytes: fields["parameter_size"] ?? 0)
    }

    private static func profileDocument(times: [String: (forward: Double, backward: Double)], batchSize: Int) -> Data {
        struct Entry: Encodable {
            let forwardMilliseconds: Double
            let backwardMilliseconds: Double
            enum CodingKeys: String, CodingKey {
                case forwardMilliseconds = "forward_ms"
                case backwardMilliseconds = "backward_ms"
            }
        }
        struct Document: Encodable {
            let format: String
            let batchSize: Int
            let hardware: String
            let layers: [String: Entry]
            enum CodingKeys: String, CodingKey {
                case format
                case batchSize = "batch_size"
                case hardware, layers
            }
        }
        let document = Document(
            format: LayerProfile.formatTag, batchSize: batchSize, hardware: "PipeDream profile",
            layers: times.mapValues { Entry(forwardMilliseconds: $0.forward, backwardMilliseconds: $0.backward) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(document)) ?? Data()
    }
}
