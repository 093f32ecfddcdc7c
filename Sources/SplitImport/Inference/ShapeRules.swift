/// Output shapes and element types of ONNX operators (the subset torchvision CNNs, ViT/Swin and
/// BERT/GPT-2 style transformers export to), following the operator specifications.
///
/// `infer` returns nil for an operator it does not know; it throws `ShapeFailure` when it knows
/// the operator but the inputs do not determine the output (an unknown shape, a value that is not
/// static, inconsistent dimensions).
enum ShapeRules {
    /// One output: its shape and element type.
    typealias Output = (shape: [Int], elementType: Int32)

    /// Operators whose single output has the shape and type of their first input.
    static let sameShape: Set<String> = [
        "Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf", "Gelu", "Sqrt", "Reciprocal",
        "Neg", "Abs", "Exp", "Log", "Ceil", "Floor", "Round", "Sign", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan",
        "Sinh", "Cosh", "Elu", "Selu", "Celu", "Softplus", "Softsign", "Mish", "Swish", "ThresholdedRelu", "Clip",
        "Identity", "Softmax", "LogSoftmax", "Hardmax", "LRN", "LpNormalization", "InstanceNormalization",
        "GroupNormalization", "MeanVarianceNormalization", "Trilu", "CumSum", "Shrink", "Bernoulli",
        "ScatterND", "ScatterElements", "Scatter", "RandomNormalLike", "RandomUniformLike", "Det",
    ]
    /// Elementwise operators over broadcast inputs, keeping the first input's type.
    static let broadcasting: Set<String> = [
        "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Mean", "Sum", "PRelu", "BitShift",
        "BitwiseAnd", "BitwiseOr", "BitwiseXor",
    ]
    /// Broadcasting comparisons and logic, producing bool.
    static let logical: Set<String> = [
        "Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual", "And", "Or", "Xor",
    ]
    /// Operators whose output is bool of the input's shape.
    static let unaryLogical: Set<String> = ["Not", "IsNaN", "IsInf"]
    /// Pooling with a window (`kernel_shape`).
    static let windowPools: Set<String> = ["MaxPool", "AveragePool", "LpPool"]
    /// Pooling over all spatial positions.
    static let globalPools: Set<String> = ["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"]

    /// Output shapes and types of `context.node`, or nil for an unknown operator.
    static func infer(_ context: NodeContext) throws -> [Output]? {
        let node = context.node
        let op = node.opType
        let type0 = context.elementType(0)
        if sameShape.contains(op) { return [(try context.shape(0), type0)] }
        if unaryLogical.contains(op) { return [(try context.shape(0), ONNXDataType.bool)] }
        if broadcasting.contains(op) || logical.contains(op) {
            let shapes = try (0..<context.inputs.count).filter(context.has).map(context.shape)
            return [(try Shape.broadcast(shapes), logical.contains(op) ? ONNXDataType.bool : type0)]
        }
        if windowPools.contains(op) {
            let shape = try pool(context)
            var outputs: [Output] = [(shape, type0)]
            if node.outputs.count > 1 { outputs.append((shape, ONNXDataType.int64)) }  // MaxPool indices
            return outputs
        }
        if globalPools.contains(op) {
            let input = try context.shape(0)
            guard input.count >= 2 else { throw ShapeFailure("expects N x C x spatial, got \(Shape.describe(input))") }
            return [(Array(input.prefix(2)) + Array(repeating: 1, count: input.count - 2), type0)]
        }
        switch op {
        case "Conv": return [(try convolution(context), type0)]
        case "ConvTranspose": return [(try transposedConvolution(context), type0)]
        case "Gemm": return [(try gemm(context), type0)]
        case "MatMul": return [(try matmul(try context.shape(0), try context.shape(1)), type0)]
        case "Einsum":
            return [
                (
                    try Einsum(equation: node.string("equation", ""), inputs: (0..<context.inputs.count).map(context.shape)).outputShape,
                    type0
                )
            ]
        case "Where": return [(try Shape.broadcast([context.shape(0), context.shape(1), context.shape(2)]), context.elementType(1))]
        case "Cast":
            return [(try context.shape(0), Int32(truncatingIfNeeded: node.int("to", Int64(ONNXDataType.float))))]
        case "CastLike": return [(try context.shape(0), context.elementType(1))]
        case "Dropout":
            let shape = try context.shape(0)
            return node.outputs.count > 1 ? [(shape, type0), (shape, ONNXDataType.bool)] : [(shape, type0)]
        case "BatchNormalization":
            let shape = try context.shape(0)
            let channels = shape.count > 1 ? [shape[1]] : [1]
            return [(shape, type0)] + Array(repeating: (channels, type0), count: max(node.outputs.count - 1, 0))
        case "LayerNormalization":
            let shape = try context.shape(0)
            let axis = try Shape.axis(try context.intAttribute("axis", -1), rank: shape.count)
            let statistics = Array(shape.prefix(axis)) + Array(repeating: 1, count: shape.count - axis)
            return [(shape, type0)] + Array(repeating: (statistics, ONNXDataType.float), count: max(node.outputs.count - 1, 0))
        case "Gather":
            let data = try context.shape(0)
            let axis = try Shape.axis(try context.intAttribute("axis", 0), rank: data.count)
            return [(Array(data.prefix(axis)) + (try context.shape(1)) + Array(data.dropFirst(axis + 1)), type0)]
        case "GatherElements": return [(try context.shape(1), type0)]
        default:
            return try TensorShapeRules.infer(context)
        }
    }

    /// Spatial output sizes shared by convolution and pooling (floor or ceil of the window count).
    static func windowedSizes(input: [Int], kernel: [Int], context: NodeContext, ceilMode: Bool) throws -> [Int] {
        let spatial = Array(input.dropFirst(2))
        guard kernel.count == spatial.count else {
            throw ShapeFailure("kernel \(Shape.describe(kernel)) does not match input \(Shape.describe(input))")
        }
        let count = spatial.count
        let strides = try context.intsAttribute("strides") ?? Array(repeating: 1, count: count)
        let dilations = try context.intsAttribute("dilations") ?? Array(repeating: 1, count: count)
        let pads = try context.intsAttribute("pads") ?? Array(repeating: 0, count: 2 * count)
        guard strides.count == count, dilations.count == count, pads.count == 2 * count else {
            throw ShapeFailure("strides, dilations or pads do not match \(count) spatial dimensions")
        }
        guard strides.allSatisfy({ $0 >= 1 }), dilations.allSatisfy({ $0 >= 1 }), kernel.allSatisfy({ $0 >= 1 }) else {
            throw ShapeFailure("strides, dilations and kernel sizes must be >= 1")
        }
        let autoPad = context.node.string("auto_pad", "NOTSET")
        return try (0..<count).map { index in
            let extent = dilations[index] * (kernel[index] - 1) + 1
            switch autoPad {
            case "SAME_UPPER", "SAME_LOWER":
                return (spatial[index] + strides[index] - 1) / strides[index]
            case "VALID":
                guard spatial[index] >= extent else { throw ShapeFailure("window \(extent) is larger than input \(spatial[index])") }
                return (spatial[index] - extent) / strides[index] + 1
            default:
                let span = spatial[index] + pads[index] + pads[index + count] - extent
                guard span >= 0 else { throw ShapeFailure("window \(extent) is larger than padded input \(spatial[index])") }
                var size = (ceilMode ? (span + strides[index] - 1) / strides[index] : span / strides[index]) + 1
                // A ceil-mode window must start inside the input or left padding.
                if ceilMode && (size - 1) * strides[index] >= spatial[index] + pads[index] { size -= 1 }
                return size
            }
        }
    }

    private static func convolution(_ context: NodeContext) throws -> [Int] {
        let input = try context.shape(0)
        let weight = try context.shape(1)
        guard input.count >= 3, weight.count == input.count else {
            throw ShapeFailure(
                "expects input N x C x spatial and a weight of the same rank, got \(Shape.describe(input)) and \(Shape.describe(weight))")
        }
        let kernel = try context.intsAttribute("kernel_shape") ?? Array(weight.dropFirst(2))
        let sizes = try windowedSizes(input: input, kernel: kernel, context: context, ceilMode: false)
        return try Shape.validated([input[0], weight[0]] + sizes)
    }

    private static func transposedConvolution(_ context: NodeContext) throws -> [Int] {
        let input = try context.shape(0)
        let weight = try context.shape(1)
        guard input.count >= 3, weight.count == input.count else {
            throw ShapeFailure("expects input N x C x spatial and a weight of the same rank")
        }
        let count = input.count - 2
        let group = try context.intAttribute("group", 1)
        guard group >= 1 else { throw ShapeFailure("group must be >= 1, got \(group)") }
        let channels = try Shape.product([weight[1], group])
        if let outputShape = try context.intsAttribute("output_shape") {
            return try Shape.validated([input[0], channels] + outputShape.suffix(count))
        }
        let kernel = try context.intsAttribute("kernel_shape") ?? Array(weight.dropFirst(2))
        let strides = try context.intsAttribute("strides") ?? Array(repeating: 1, count: count)
        let dilations = try context.intsAttribute("dilations") ?? Array(repeating: 1, count: count)
        let pads = try context.intsAttribute("pads") ?? Array(repeating: 0, count: 2 * count)
        let outputPadding = try context.intsAttribute("output_padding") ?? Array(repeating: 0, count: count)
        guard kernel.count == count, strides.count == count, dilations.count == count, pads.count == 2 * count, outputPadding.count == count else {
            throw ShapeFailure("attributes do not match \(count) spatial dimensions")
        }
        var sizes: [Int] = []
        for index in 0..<count {
            let extent: Int = (kernel[index] - 1) * dilations[index] + 1
            let stretched: Int = try Shape.product([strides[index], input[index + 2] - 1]) + outputPadding[index]
            sizes.append(stretched + extent - pads[index] - pads[index + count])
        }
        return try Shape.validated([input[0], channels] + sizes)
    }

    private static func pool(_ context: NodeContext) throws -> [Int] {
        let input = try context.shape(0)
        guard input.count >= 3 else { throw ShapeFailure("expects N x C x spatial, got \(Shape.describe(input))") }
        guard let kernel = try context.intsAttribute("kernel_shape") else { throw ShapeFailure("attribute 'kernel_shape' is missing") }
        let sizes = try windowedSizes(input: input, kernel: kernel, context: context, ceilMode: context.node.int("ceil_mode", 0) != 0)
        return try Shape.validated(Array(input.prefix(2)) + sizes)
    }

    private static func gemm(_ context: NodeContext) throws -> [Int] {
        let a = try context.shape(0)
        let b = try context.shape(1)
        guard a.count == 2, b.count == 2 else { throw ShapeFailure("expects two matrices, got \(Shape.describe(a)) and \(Shape.describe(b))") }
        let transA = context.node.int("transA", 0) != 0
        let transB = context.node.int("transB", 0) != 0
        let (m, kA) = transA ? (a[1], a[0]) : (a[0], a[1])
        let (kB, n) = transB ? (b[1], b[0]) : (b[0], b[1])
        guard kA == kB else { throw ShapeFailure("inner dimensions differ: \(kA) and \(kB)") }
        return [m, n]
    }

    /// Numpy matmul: 1-D operands are promoted and the added dimension removed; batches broadcast.
    static func matmul(_ a: [Int], _ b: [Int]) throws -> [Int] {
        guard !a.isEmpty, !b.isEmpty else { throw ShapeFailure("MatMul of a scalar") }
        let left = a.count == 1 ? [1] + a : a
        let right = b.count == 1 ? b + [1] : b
        guard left[left.count - 1] == right[right.count - 2] else {
            throw ShapeFailure("inner dimensions differ: \(Shape.describe(a)) and \(Shape.describe(b))")
        }
        var result = try Shape.broadcast([Array(left.dropLast(2)), Array(right.dropLast(2))])
        if a.count > 1 { result.append(left[left.count - 2]) }
        if b.count > 1 { result.append(right[right.count - 1]) }
        return try Shape.validated(result)
    }
}
