import SplitCore

/// Walks an ONNX graph in dependency order, tracking what is known about every value, folding
/// shape plumbing and turning every node that computes on input data into a layer.
struct GraphWalker {
    let graph: ONNXGraph
    let opset: Int
    let options: ImportOptions
    /// Everything known about each value, by name.
    private(set) var values: [String: ValueState] = [:]
    /// Layers in creation order.
    private(set) var layers: [Layer] = []
    /// Module path of each layer (for block labels).
    private(set) var layerPaths: [[String]] = []
    /// Warnings gathered so far.
    var warnings: [String] = []
    /// Counters for the summary (totals are filled in by the importer).
    private(set) var summary = ImportSummary()

    private var parameterBytes: [Double] = []
    private var parameterCharged: [Bool] = []
    private var usedNames: Set<String> = []
    private let valueInfo: [String: ONNXValueInfo]
    private let consumed: Set<String>
    private var batch = 1
    /// Whether an `--input` override changed the first input's batch from the exported one.
    private var batchOverridden = false
    /// Layers whose output shape came from `value_info` rather than a shape rule.
    private var valueInfoShapedLayers = 0
    /// Elements folded so far, against `options.foldingBudgetElements`.
    private var foldedElements = 0

    /// Whether `count` more elements may be folded (and, if so, counts them as folded).
    private mutating func spendFoldingBudget(_ count: Int) -> Bool {
        guard count <= options.foldingBudgetElements - foldedElements else { return false }
        foldedElements += count
        return true
    }

    /// Why a value was not folded when the budget ran out.
    private var budgetSpent: String {
        "the import's folding budget of \(options.foldingBudgetElements) elements is spent (a model this large in constants is refused)"
    }

    init(graph: ONNXGraph, opset: Int, options: ImportOptions) {
        self.graph = graph
        self.opset = opset
        self.options = options
        var infos: [String: ONNXValueInfo] = [:]
        for info in graph.outputs + graph.valueInfo where info.dims != nil || infos[info.name] == nil { infos[info.name] = info }
        valueInfo = infos
        consumed = Set(graph.nodes.flatMap(\.inputs) + graph.outputs.map(\.name))
    }

    /// Names that exist before any node runs: initializers and graph inputs.
    var knownNames: Set<String> { Set(values.keys) }

    /// Registers every initializer as a static value; floating-point ones are parameters.
    mutating func addInitializers() throws {
        for tensor in graph.initializers where values[tensor.name] == nil {
            guard let shape = try? Shape.validated(tensor.dims.map { Int(clamping: $0) }) else {
                throw ImportError(.unsupportedModel, field: "initializer '\(tensor.name)'", "invalid dims \(tensor.dims)")
            }
            let count = Shape.elementCount(shape)
            var state = ValueState(elementType: tensor.dataType, shape: shape, isStatic: true)
            if count <= ConstantFolding.maximumElements {
                if spendFoldingBudget(count) {
                    state.values = ONNXDataType.values(of: tensor, elementCount: count)
                } else {
                    state.unknownBecause = "initializer '\(tensor.name)': " + budgetSpent
                }
            }
            if ONNXDataType.isFloatingPoint(tensor.dataType), let size = ONNXDataType.byteSize(tensor.dataType) {
                state.parameters = [newParameter(bytes: Double(count) * size)]
            }
            values[tensor.name] = state
        }
    }

    /// Turns every graph input that is not an initializer into an input layer, resolving its shape.
    mutating func addInputs() throws {
        let inputs = graph.inputs.filter { values[$0.name] == nil }
        guard !inputs.isEmpty else { throw ImportError(.unsupportedModel, field: "graph.input", "the graph has no inputs") }
        let names = Set(inputs.map(\.name))
        for name in options.inputShapes.keys.sorted() where !names.contains(name) {
            throw ImportError(
                .invalidOption, field: "--input \(name)",
                "the model has no input '\(name)'; its inputs are \(inputs.map { "'\($0.name)'" }.joined(separator: ", "))")
        }
        for (position, input) in inputs.enumerated() {
            let shape = try resolveShape(of: input)
            let type = input.elementType ?? ONNXDataType.float
            guard let size = ONNXDataType.byteSize(type) else {
                throw ImportError(.unsupportedModel, field: "input '\(input.name)'", "element type \(type) is not a numeric tensor type")
            }
            if position == 0 {
                batch = max(shape.first ?? 1, 1)
                summary.batchSize = batch
                if case .value(let exported)? = input.dims?.first, options.inputShapes[input.name] != nil, Int(exported) != batch {
                    batchOverridden = true
                }
            } else if let first = shape.first, first != batch, shape.count > 1 {
                warnings.append("input '\(input.name)' has first dimension \(first), not the batch size \(batch) of the first input")
            }
            let layer = Layer(
                name: uniqueName(input.name, fallback: "input"), op: "input",
                outputBytes: Double(Shape.elementCount(shape)) * size / Double(batch))
            values[input.name] = ValueState(elementType: type, shape: shape, isStatic: false, layer: layers.count)
            layers.append(layer)
            layerPaths.append([])
        }
    }

    private mutating func resolveShape(of input: ONNXValueInfo) throws -> [Int] {
        if let override = options.inputShapes[input.name] {
            if let declared = input.dims, declared.count != override.count {
                throw ImportError(
                    .invalidOption, field: "--input \(input.name)",
                    "the model declares rank \(declared.count), got \(Shape.describe(override))")
            }
            do {
                return try Shape.validated(override)
            } catch let failure as ShapeFailure {
                throw ImportError(.invalidOption, field: "--input \(input.name)", failure.reason)
            }
        }
        guard let dims = input.dims else {
            throw ImportError(.unsupportedModel, field: "input '\(input.name)'", "has no shape; pass --input \(input.name)=1x...")
        }
        let shape = try dims.enumerated().map { index, dimension in
            switch dimension {
            case .value(let value) where value >= 1 && value <= 1 << 30: return Int(value)
            case .symbol where index == 0, .unknown where index == 0:
                warnings.append("input '\(input.name)' has a symbolic batch dimension; assuming 1 (pass --input \(input.name)=... to choose)")
                return 1
            default:
                let what = { if case .symbol(let name) = dimension { return "symbolic ('\(name)')" } else { return "not a positive size" } }()
                let example = dims.map { if case .value(let v) = $0 { return String(v) } else { return "N" } }.joined(separator: "x")
                throw ImportError(
                    .invalidOption, field: "input '\(input.name)'",
                    "dimension \(index) is \(what); pass --input \(input.name)=\(example)")
            }
        }
        guard let validated = try? Shape.validated(shape) else {
            throw ImportError(.unsupportedModel, field: "input '\(input.name)'", "shape \(Shape.describe(shape)) is too large")
        }
        return validated
    }

    /// Processes one node: folds it when it is static, aliases identities, otherwise adds a layer.
    mutating func visit(nodeAt index: Int) throws {
        let node = graph.nodes[index]
        let label = NodeOrder.label(node, index)
        let defaultDomain = node.domain.isEmpty || node.domain == "ai.onnx"
        let op = defaultDomain ? node.opType : "\(node.domain)::\(node.opType)"
        let inputs = node.inputs.map { $0.isEmpty ? nil : values[$0] }
        let context = NodeContext(node: node, inputs: inputs, opset: opset)
        let isStatic = inputs.allSatisfy { $0?.isStatic ?? true } || (defaultDomain && ["Shape", "Size"].contains(node.opType))
        if defaultDomain, node.opType == "Identity", !isStatic, let input = inputs.first ?? nil, let output = node.outputs.first {
            values[output] = input
            summary.foldedNodeCount += 1
            return
        }

        var shapes = [[Int]?](repeating: nil, count: node.outputs.count)
        var types = [Int32](repeating: context.elementType(0), count: node.outputs.count)
        var failure: String?
        var knownOperator = false
        if defaultDomain {
            do {
                if let outputs = try ShapeRules.infer(context) {
                    knownOperator = true
                    for (position, output) in outputs.prefix(node.outputs.count).enumerated() {
                        shapes[position] = try Shape.validated(output.shape)
                        types[position] = output.elementType
                    }
                }
            } catch let error as ShapeFailure {
                knownOperator = true
                failure = error.reason
            }
        }
        var fromValueInfo = false
        for (position, output) in node.outputs.enumerated() where shapes[position] == nil {
            if let info = valueInfo[output], let concrete = concreteShape(info) {
                shapes[position] = concrete
                types[position] = info.elementType ?? types[position]
                fromValueInfo = fromValueInfo || position == 0
            }
        }

        if isStatic {
            var parameters = Array(Set(inputs.flatMap { $0?.parameters ?? [] })).sorted()
            if defaultDomain && node.opType == "Identity" && !parameters.isEmpty {
                // The TorchScript exporter shares equal initializers through Identity nodes: each
                // Identity output is a parameter of its own.
                parameters = [newParameter(bytes: parameters.reduce(0) { $0 + parameterBytes[$1] })]
            }
            var folded: [[Double]?]?
            var overBudget = false
            if let shape = shapes.first ?? nil, Shape.elementCount(shape) <= ConstantFolding.maximumElements {
                if spendFoldingBudget(Shape.elementCount(shape)) {
                    folded = ConstantFolding.fold(context, outputShapes: [shape])
                } else {
                    overBudget = true
                }
            }
            for (position, output) in node.outputs.enumerated() where !output.isEmpty {
                var state = ValueState(
                    elementType: types[position], shape: shapes[position],
                    values: position == 0 ? folded?.first ?? nil : nil, isStatic: true, parameters: parameters)
                if state.shape == nil {
                    state.unknownBecause = "node '\(label)' (\(op)): " + (failure ?? (knownOperator ? "no shape" : "unknown operator"))
                } else if state.values == nil {
                    state.unknownBecause = "node '\(label)' (\(op)) was not folded" + (overBudget && position == 0 ? ": " + budgetSpent : "")
                }
                values[output] = state
            }
            summary.foldedNodeCount += 1
            return
        }

        if !knownOperator && options.unknownOperators == .error {
            throw ImportError(
                .unknownOperator, node: label, op: op,
                "unsupported operator '\(op)' (import with --unknown-ops zero to count it as zero FLOPs)")
        }
        for (position, output) in node.outputs.enumerated() where shapes[position] == nil && consumed.contains(output) {
            let reason = failure ?? (knownOperator ? "the output shape is unknown" : "operator '\(op)' is unknown and value_info has no shape for it")
            throw ImportError(.shapeInference, node: label, op: op, field: "output '\(output)'", "cannot infer the shape: \(reason)")
        }
        guard let firstShape = shapes.first ?? nil else {
            throw ImportError(.shapeInference, node: label, op: op, field: "output", "cannot infer the shape: \(failure ?? "no output")")
        }

        let flops: Double
        if knownOperator {
            let counted = OperatorCosts.forwardFLOPs(context, outputShapes: shapes.compactMap { $0 })
            flops = counted.flops
            if counted.accuracy == .elementCount { summary.approximateOperators[op, default: 0] += 1 }
        } else {
            flops = 0
            summary.uncountedOperators[op, default: 0] += 1
            warnings.append("node '\(label)': unknown operator '\(op)' counted as zero FLOPs")
        }
        var outputBytes = 0.0
        for (position, output) in node.outputs.enumerated() where consumed.contains(output) {
            outputBytes += bytes(shapes[position], types[position])
        }
        if outputBytes == 0 && !node.outputs.contains(where: consumed.contains) { outputBytes = bytes(firstShape, types[0]) }

        var readLayers: [String] = []
        var parameterTotal = 0.0
        for input in inputs {
            guard let input else { continue }
            if let layer = input.layer {
                let name = layers[layer].name
                if !readLayers.contains(name) { readLayers.append(name) }
            }
            for parameter in input.parameters where !parameterCharged[parameter] {
                parameterCharged[parameter] = true
                parameterTotal += parameterBytes[parameter]
            }
        }
        let batchSize = Double(batch)
        let layer = Layer(
            name: uniqueName(node.name.hasPrefix("/") ? String(node.name.dropFirst()) : node.name, fallback: "\(node.opType)_\(index)"),
            op: op, inputs: readLayers,
            forwardFLOPs: flops / batchSize, backwardFLOPs: OperatorCosts.backwardFLOPs(op: op, forward: flops) / batchSize,
            outputBytes: outputBytes / batchSize, parameterBytes: parameterTotal)
        for (position, output) in node.outputs.enumerated() where !output.isEmpty {
            values[output] = ValueState(elementType: types[position], shape: shapes[position], isStatic: false, layer: layers.count)
        }
        layers.append(layer)
        layerPaths.append(BlockLabels.modulePath(of: node))
        if fromValueInfo { valueInfoShapedLayers += 1 }
    }

    /// Names of the layers producing the graph's outputs (constant outputs are skipped with a warning).
    mutating func outputLayerNames() throws -> [String] {
        var names: [String] = []
        for output in graph.outputs {
            guard let state = values[output.name] else {
                throw ImportError(.missingInput, field: "output '\(output.name)'", "no node, initializer or graph input provides this graph output")
            }
            guard let layer = state.layer else {
                warnings.append("output '\(output.name)' does not depend on the inputs; skipped")
                continue
            }
            if !names.contains(layers[layer].name) { names.append(layers[layer].name) }
        }
        guard !names.isEmpty else { throw ImportError(.unsupportedModel, field: "graph.output", "no graph output depends on the inputs") }
        if batchOverridden && valueInfoShapedLayers > 0 {
            warnings.append(
                """
                \(valueInfoShapedLayers) layer shapes come from the file's value_info, which was exported at a different batch size than --input \
                gives; per-sample numbers of those layers may be off (export at the batch you give, or leave the batch as exported)
                """)
        }
        return names
    }

    private func concreteShape(_ info: ONNXValueInfo) -> [Int]? {
        guard let dims = info.dims else { return nil }
        var shape: [Int] = []
        for dimension in dims {
            guard case .value(let value) = dimension, value >= 0, value <= 1 << 40 else { return nil }
            shape.append(Int(value))
        }
        return try? Shape.validated(shape)
    }

    private func bytes(_ shape: [Int]?, _ type: Int32) -> Double {
        guard let shape else { return 0 }
        return Double(Shape.elementCount(shape)) * (ONNXDataType.byteSize(type) ?? 4)
    }

    private mutating func newParameter(bytes: Double) -> Int {
        parameterBytes.append(bytes)
        parameterCharged.append(false)
        return parameterBytes.count - 1
    }

    private mutating func uniqueName(_ base: String, fallback: String) -> String {
        let root = base.isEmpty ? fallback : base
        var name = root
        var suffix = 2
        while usedNames.contains(name) {
            name = "\(root)_\(suffix)"
            suffix += 1
        }
        usedNames.insert(name)
        return name
    }
}
