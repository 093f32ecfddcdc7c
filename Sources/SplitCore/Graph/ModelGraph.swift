/// A validated model DAG: layers in a topological order with flat predecessor/successor lists.
///
/// Layer indices used throughout SplitCore are positions in `layers`, which is a topological order
/// (every layer after all of its inputs), stable with respect to the order the layers were given in.
public struct ModelGraph: Sendable {
    /// The most layers a graph may have.
    public static let maximumLayerCount = 1_000_000

    /// Model name (from the file; informational).
    public let name: String
    /// Layers in topological order.
    public let layers: [Layer]
    /// Their names, in the same order.
    public let layerNames: [String]
    /// Indices of the model's output layers (declared, or else the layers nobody reads).
    public let outputs: [Int]
    /// Indices of the model's input layers (the layers with no inputs).
    public let inputs: [Int]
    /// Whether each layer is a model output.
    public let isOutput: [Bool]

    let predecessorStart: [Int]
    let predecessorList: [Int]
    let successorStart: [Int]
    let successorList: [Int]
    private let indexByName: [String: Int]

    /// Number of layers.
    public var count: Int { layers.count }

    /// Number of distinct edges (producer → consumer).
    public var edgeCount: Int { successorList.count }

    /// Layers whose output `layer` reads.
    public func predecessors(of layer: Int) -> ArraySlice<Int> {
        predecessorList[predecessorStart[layer]..<predecessorStart[layer + 1]]
    }

    /// Layers that read the output of `layer`.
    public func successors(of layer: Int) -> ArraySlice<Int> {
        successorList[successorStart[layer]..<successorStart[layer + 1]]
    }

    /// Index of the layer called `name`, if any.
    public func index(of name: String) -> Int? { indexByName[name] }

    /// Distinct block labels in order of first appearance.
    public var blockLabels: [String] {
        var seen = Set<String>()
        var labels: [String] = []
        for layer in layers {
            if let block = layer.block, seen.insert(block).inserted { labels.append(block) }
        }
        return labels
    }

    /// Validates `layers` (in any order) and builds the graph.
    ///
    /// - Parameter outputs: names of the output layers; `nil` means "every layer nobody reads".
    /// - Throws: `GraphError` naming the layer and field for every rule in the splitgraph/1 format.
    public init(name: String, layers unordered: [Layer], outputs declaredOutputs: [String]? = nil) throws {
        guard unordered.count <= Self.maximumLayerCount else {
            throw GraphError(.tooManyLayers, "graph has \(unordered.count) layers; at most \(Self.maximumLayerCount) are accepted")
        }
        guard !name.utf8.contains(0) else { throw GraphError(.invalidField, field: "name", "must not contain NUL (\\u0000)") }
        var positionByName: [String: Int] = [:]
        positionByName.reserveCapacity(unordered.count)
        for (position, layer) in unordered.enumerated() {
            try Self.checkValues(of: layer, at: position)
            if let first = positionByName.updateValue(position, forKey: layer.name) {
                throw GraphError(
                    .duplicateName, layer: layer.name, field: "name",
                    "name is used by layers #\(first) and #\(position)")
            }
        }
        // Edges in file positions, de-duplicated per consumer (x + x reads x once).
        var inputPositions: [[Int]] = []
        inputPositions.reserveCapacity(unordered.count)
        for layer in unordered {
            var seen = Set<Int>()
            var list: [Int] = []
            for inputName in layer.inputs {
                guard let producer = positionByName[inputName] else {
                    throw GraphError(
                        .unknownInput, layer: layer.name, field: "inputs",
                        "input '\(inputName)' is not a layer of this graph")
                }
                if inputName == layer.name {
                    throw GraphError(.selfLoop, layer: layer.name, field: "inputs", "layer reads its own output")
                }
                if seen.insert(producer).inserted { list.append(producer) }
            }
            inputPositions.append(list)
        }
        let order = try Self.topologicalOrder(layers: unordered, inputPositions: inputPositions)
        var newIndex = [Int](repeating: 0, count: unordered.count)
        for (index, position) in order.enumerated() { newIndex[position] = index }

        self.name = name
        self.layers = order.map { unordered[$0] }
        self.layerNames = layers.map(\.name)
        var indexByName: [String: Int] = [:]
        indexByName.reserveCapacity(layers.count)
        for (index, layer) in layers.enumerated() { indexByName[layer.name] = index }
        self.indexByName = indexByName

        var predecessorStart = [0]
        var predecessorList: [Int] = []
        predecessorStart.reserveCapacity(layers.count + 1)
        var successorCount = [Int](repeating: 0, count: layers.count)
        for position in order {
            for producer in inputPositions[position] {
                predecessorList.append(newIndex[producer])
                successorCount[newIndex[producer]] += 1
            }
            predecessorStart.append(predecessorList.count)
        }
        var successorStart = [Int](repeating: 0, count: layers.count + 1)
        for index in 0..<layers.count { successorStart[index + 1] = successorStart[index] + successorCount[index] }
        var successorList = [Int](repeating: 0, count: predecessorList.count)
        var fill = successorStart
        for consumer in 0..<layers.count {
            for slot in predecessorStart[consumer]..<predecessorStart[consumer + 1] {
                let producer = predecessorList[slot]
                successorList[fill[producer]] = consumer
                fill[producer] += 1
            }
        }
        self.predecessorStart = predecessorStart
        self.predecessorList = predecessorList
        self.successorStart = successorStart
        self.successorList = successorList

        let inputs = (0..<layers.count).filter { predecessorStart[$0] == predecessorStart[$0 + 1] }
        guard !inputs.isEmpty else { throw GraphError(.noInput, "graph has no input layer (a layer with no inputs)") }
        self.inputs = inputs

        var outputs: [Int] = []
        if let declaredOutputs {
            for outputName in declaredOutputs {
                guard let index = indexByName[outputName] else {
                    throw GraphError(
                        .unknownOutput, layer: outputName, field: "outputs",
                        "declared output '\(outputName)' is not a layer of this graph")
                }
                if !outputs.contains(index) { outputs.append(index) }
            }
        } else {
            outputs = (0..<layers.count).filter { successorStart[$0] == successorStart[$0 + 1] }
        }
        guard !outputs.isEmpty else { throw GraphError(.noOutput, field: "outputs", "graph has no output layer") }
        self.outputs = outputs.sorted()
        var isOutput = [Bool](repeating: false, count: layers.count)
        for index in outputs { isOutput[index] = true }
        self.isOutput = isOutput
    }

    private static func checkValues(of layer: Layer, at position: Int) throws {
        guard !layer.name.isEmpty else {
            throw GraphError(.emptyName, layer: "#\(position)", field: "name", "layer name must not be empty")
        }
        let texts: [(String, String)] =
            [("name", layer.name), ("op", layer.op), ("block", layer.block ?? ""), ("module", layer.module ?? ""), ("fx_node", layer.fxNode ?? "")]
            + layer.inputs.map { ("inputs", $0) }
        for (field, text) in texts where text.utf8.contains(0) {
            throw GraphError(.invalidField, layer: field == "name" ? "#\(position)" : layer.name, field: field, "must not contain NUL (\\u0000)")
        }
        let numbers: [(String, Double, ValueRange)] = [
            ("forward_flops", layer.forwardFLOPs, Limits.layerFLOPs), ("backward_flops", layer.backwardFLOPs, Limits.layerFLOPs),
            ("output_bytes", layer.outputBytes, Limits.layerBytes), ("param_bytes", layer.parameterBytes, Limits.layerBytes),
        ]
        for (field, value, range) in numbers {
            if let violation = range.violation(value) { throw GraphError(.invalidField, layer: layer.name, field: field, violation) }
        }
    }

    /// Kahn's algorithm, taking ready layers in file order; on a cycle, names the layers on one.
    private static func topologicalOrder(layers: [Layer], inputPositions: [[Int]]) throws -> [Int] {
        var pending = inputPositions.map(\.count)
        var consumers = [[Int]](repeating: [], count: layers.count)
        for (consumer, producers) in inputPositions.enumerated() {
            for producer in producers { consumers[producer].append(consumer) }
        }
        var order: [Int] = []
        order.reserveCapacity(layers.count)
        for position in 0..<layers.count where pending[position] == 0 { order.append(position) }
        var head = 0
        while head < order.count {
            let producer = order[head]
            head += 1
            for consumer in consumers[producer] {
                pending[consumer] -= 1
                if pending[consumer] == 0 { order.append(consumer) }
            }
        }
        guard order.count < layers.count else { return order }
        // Every unfinished layer has an unfinished input; walking inputs must revisit a layer.
        var start = pending.firstIndex { $0 > 0 }!
        var visitedAt: [Int: Int] = [:]
        var walk: [Int] = []
        while visitedAt[start] == nil {
            visitedAt[start] = walk.count
            walk.append(start)
            start = inputPositions[start].first { pending[$0] > 0 }!
        }
        let cycle = walk[visitedAt[start]!...].reversed().map { layers[$0].name }
        throw GraphError(
            .cycle, layer: cycle[0], field: "inputs",
            "layers form a cycle: \((cycle + [cycle[0]]).joined(separator: " -> "))")
    }
}
