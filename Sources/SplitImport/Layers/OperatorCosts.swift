/// Forward and backward FLOPs of one ONNX node from its shapes (per batch; the importer divides
/// by the batch size).
///
/// Forward:
/// - `Conv`: 2 · output elements · (C_in / group) · kernel volume (2 · MACs; bias not counted).
/// - `ConvTranspose`: 2 · input elements · (C_out / group) · kernel volume.
/// - `Gemm`: 2 · M · N · K. `MatMul`: 2 · output elements · K. `Einsum`: 2 · product of all index sizes.
/// - `MaxPool`/`AveragePool`/`LpPool`: output elements · window volume.
/// - Reductions, global pooling, `Softmax`/`LogSoftmax` and normalisations: input elements.
/// - Every other operator (elementwise arithmetic, activations, data movement such as `Reshape`,
///   `Transpose`, `Concat`, `Gather`, `Slice`): one FLOP per output element, as
///   `torch.utils.flop_counter`-based tracing counts ops it does not cover.
/// Backward (ONNX carries none): 2 × forward for the contractions (`Conv`, `ConvTranspose`,
/// `Gemm`, `MatMul`, `Einsum`: a gradient for the input and one for the weight or second operand,
/// each as costly as the forward product); 1 × forward for everything else.
enum OperatorCosts {
    /// How faithfully an operator's forward FLOPs are counted (for the import summary).
    enum Accuracy: Sendable {
        /// By the operator's multiply-accumulate formula.
        case exact
        /// By an element count: exact for simple arithmetic, an approximation for the rest.
        case elementCount
        /// Not counted (unknown operator imported with `--unknown-ops zero`).
        case notCounted
    }

    /// Operators counted by an exact MAC formula.
    static let contractions: Set<String> = ["Conv", "ConvTranspose", "Gemm", "MatMul", "Einsum"]
    /// Operators whose one-per-element count is the real arithmetic (everything else is approximate).
    static let simpleArithmetic: Set<String> = [
        "Add", "Sub", "Mul", "Div", "Neg", "Abs", "Relu", "LeakyRelu", "PRelu", "Max", "Min", "Sum", "Mean", "Clip",
        "Where", "Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "And", "Or", "Not", "Xor", "Sign",
    ]
    /// Operators counted per input element.
    static let perInputElement: Set<String> = TensorShapeRules.reductions.union(ShapeRules.globalPools).union([
        "Softmax", "LogSoftmax", "Hardmax", "BatchNormalization", "LayerNormalization", "InstanceNormalization",
        "GroupNormalization", "LpNormalization", "MeanVarianceNormalization", "ArgMax", "ArgMin", "TopK",
    ])

    /// Forward FLOPs of `context.node` with the given output shapes, and how they were counted.
    static func forwardFLOPs(_ context: NodeContext, outputShapes: [[Int]]) -> (flops: Double, accuracy: Accuracy) {
        let op = context.node.opType
        let outputElements = outputShapes.reduce(0.0) { $0 + Double(Shape.elementCount($1)) }
        let firstOutput = outputShapes.first.map { Double(Shape.elementCount($0)) } ?? 0
        func inputElements(_ index: Int) -> Double {
            (index < context.inputs.count ? context.inputs[index]?.elementCount : nil).map(Double.init) ?? firstOutput
        }
        switch op {
        case "Conv":
            guard let weight = context.inputs.count > 1 ? context.inputs[1]?.shape : nil, weight.count >= 2 else { break }
            let kernel = Double(Shape.elementCount(Array(weight.dropFirst(2))))
            return (2 * firstOutput * Double(weight[1]) * kernel, .exact)
        case "ConvTranspose":
            guard let weight = context.inputs.count > 1 ? context.inputs[1]?.shape : nil, weight.count >= 2 else { break }
            let kernel = Double(Shape.elementCount(Array(weight.dropFirst(2))))
            return (2 * inputElements(0) * Double(weight[1]) * kernel, .exact)
        case "Gemm", "MatMul":
            guard let a = context.inputs.first??.shape, let last = a.last else { break }
            let transA = op == "Gemm" && context.node.int("transA", 0) != 0
            let k = transA && a.count == 2 ? a[0] : last
            return (2 * firstOutput * Double(k), .exact)
        case "Einsum":
            let shapes = context.inputs.compactMap { $0?.shape }
            guard let einsum = try? Einsum(equation: context.node.string("equation", ""), inputs: shapes) else { break }
            return (2 * einsum.multiplyAccumulates, .exact)
        default:
            if ShapeRules.windowPools.contains(op) {
                let kernel = (try? context.intsAttribute("kernel_shape")).flatMap { $0 }.map { Double(Shape.elementCount($0)) } ?? 1
                return (firstOutput * kernel, .elementCount)
            }
            if perInputElement.contains(op) { return (inputElements(0), .elementCount) }
        }
        return (outputElements, simpleArithmetic.contains(op) ? .exact : .elementCount)
    }

    /// Backward FLOPs for a node with `forward` FLOPs.
    static func backwardFLOPs(op: String, forward: Double) -> Double {
        contractions.contains(op) ? 2 * forward : forward
    }
}
