import Foundation

/// Evaluates the shape plumbing of exported graphs (`Shape → Gather → Unsqueeze → Concat →
/// Reshape` chains, `ConstantOfShape`, `Range`, scalar arithmetic) on static values, so that the
/// targets of `Reshape`, `Expand`, `Slice` and friends are known.
///
/// Only outputs of at most `maximumElements` elements are folded; anything else stays unknown
/// (which is fine unless a shape rule needs it, and then the error names the node).
enum ConstantFolding {
    static let maximumElements = 1 << 16

    /// Folded contents of each output (nil where not folded), given the inferred output shapes.
    static func fold(_ context: NodeContext, outputShapes: [[Int]]) -> [[Double]?] {
        var results = [[Double]?](repeating: nil, count: outputShapes.count)
        guard let firstShape = outputShapes.first, Shape.elementCount(firstShape) <= maximumElements else { return results }
        results[0] = try? foldFirst(context, outputShape: firstShape)
        if let folded = results[0], folded.count != Shape.elementCount(firstShape) { results[0] = nil }
        return results
    }

    private static func foldFirst(_ context: NodeContext, outputShape: [Int]) throws -> [Double]? {
        let node = context.node
        let op = node.opType
        switch op {
        case "Constant": return try constantValues(node)
        case "Shape":
            let shape = try context.shape(0)
            let (start, end) = TensorShapeRules.shapeRange(context, rank: shape.count)
            return start < end ? shape[start..<end].map(Double.init) : []
        case "Size": return [Double(Shape.elementCount(try context.shape(0)))]
        case "Identity", "Unsqueeze", "Squeeze", "Reshape", "Flatten", "Dropout":
            return try context.values(0)
        case "Cast":
            let to = Int32(truncatingIfNeeded: node.int("to", 1))
            return try context.values(0).map { cast($0, to: to) }
        case "CastLike": return try context.values(0).map { cast($0, to: context.elementType(1)) }
        case "ConstantOfShape":
            let tensor = node.attribute("value")?.tensor
            let fill = tensor.flatMap { ONNXDataType.values(of: $0, elementCount: 1)?.first } ?? 0
            return Array(repeating: fill, count: Shape.elementCount(outputShape))
        case "Range":
            let (start, delta) = (try context.values(0)[0], try context.values(2)[0])
            return (0..<Shape.elementCount(outputShape)).map { start + Double($0) * delta }
        case "Gather": return try gather(context)
        case "Concat": return try concat(context)
        case "Slice" where context.opset >= 10:
            let shape = try context.shape(0)
            let ranges = try SliceRange.ranges(
                shape: shape, starts: context.integers(1), ends: context.integers(2),
                axes: context.optionalIntegers(3), steps: context.optionalIntegers(4))
            return gatherIndices(shape: shape, values: try context.values(0), ranges: ranges)
        case "Expand", "Where": return try broadcastValues(context, outputShape: outputShape)
        case "Transpose":
            let shape = try context.shape(0)
            let perm = try context.intsAttribute("perm") ?? Array((0..<shape.count).reversed())
            return transpose(try context.values(0), shape: shape, perm: perm)
        case "ReduceProd", "ReduceSum", "ReduceMax", "ReduceMin":
            // Only full reductions (the usual "number of elements" plumbing).
            guard outputShape.allSatisfy({ $0 == 1 }) else { return nil }
            let values = try context.values(0)
            switch op {
            case "ReduceProd": return [values.reduce(1, *)]
            case "ReduceSum": return [values.reduce(0, +)]
            case "ReduceMax": return values.max().map { [$0] }
            default: return values.min().map { [$0] }
            }
        default:
            if ShapeRules.broadcasting.contains(op) || ShapeRules.logical.contains(op)
                || [
                    "Sqrt", "Neg", "Abs", "Floor", "Ceil", "Reciprocal",
                    "Not", "Relu", "Sign",
                ].contains(op)
            {
                return try broadcastValues(context, outputShape: outputShape)
            }
            return nil
        }
    }

    /// The values a `Constant` node produces.
    static func constantValues(_ node: ONNXNode) throws -> [Double]? {
        if let tensor = node.attribute("value")?.tensor {
            let count = Shape.elementCount(try Shape.validated(tensor.dims.map { Int(clamping: $0) }))
            return count <= maximumElements ? ONNXDataType.values(of: tensor, elementCount: count) : nil
        }
        if let value = node.attribute("value_float")?.float { return [value] }
        if let value = node.attribute("value_int")?.int { return [Double(value)] }
        if let values = node.attribute("value_floats") { return values.floats }
        if let values = node.attribute("value_ints") { return values.ints.map(Double.init) }
        return nil
    }

    private static func cast(_ value: Double, to type: Int32) -> Double {
        switch type {
        case ONNXDataType.bool: return value != 0 ? 1 : 0
        case 2, 3, 4, 5, 6, 7, 12, 13: return value.isFinite ? value.rounded(.towardZero) : 0
        default: return value
        }
    }

    private static func isInteger(_ type: Int32) -> Bool { [2, 3, 4, 5, 6, 7, 12, 13].contains(type) }

    private static func apply(_ op: String, _ operands: [Double], integer: Bool) -> Double {
        let a = operands[0]
        let b = operands.count > 1 ? operands[1] : 0
        switch op {
        case "Add", "Sum": return operands.reduce(0, +)
        case "Sub": return a - b
        case "Mul": return a * b
        case "Div": return integer ? (b == 0 ? 0 : (a / b).rounded(.towardZero)) : a / b
        case "Mod": return b == 0 ? 0 : a - b * (a / b).rounded(.down)
        case "Pow": return Foundation.pow(a, b)
        case "Max": return operands.max() ?? a
        case "Min": return operands.min() ?? a
        case "Mean": return operands.reduce(0, +) / Double(operands.count)
        case "Equal": return a == b ? 1 : 0
        case "Greater": return a > b ? 1 : 0
        case "Less": return a < b ? 1 : 0
        case "GreaterOrEqual": return a >= b ? 1 : 0
        case "LessOrEqual": return a <= b ? 1 : 0
        case "And": return a != 0 && b != 0 ? 1 : 0
        case "Or": return a != 0 || b != 0 ? 1 : 0
        case "Xor": return (a != 0) != (b != 0) ? 1 : 0
        case "Not": return a == 0 ? 1 : 0
        case "Where": return a != 0 ? b : operands[2]
        case "Expand", "Relu": return op == "Relu" ? max(a, 0) : a
        case "Sqrt": return a.squareRoot()
        case "Neg": return -a
        case "Abs": return abs(a)
        case "Floor": return a.rounded(.down)
        case "Ceil": return a.rounded(.up)
        case "Sign": return a > 0 ? 1 : a < 0 ? -1 : 0
        case "Reciprocal": return 1 / a
        default: return .nan
        }
    }

    /// Elementwise evaluation over numpy broadcasting (`Expand` broadcasts its data input only).
    private static func broadcastValues(_ context: NodeContext, outputShape: [Int]) throws -> [Double] {
        let op = context.node.opType
        let unary = op == "Expand" || !(ShapeRules.broadcasting.contains(op) || ShapeRules.logical.contains(op) || op == "Where")
        let operandIndices = unary ? [0] : (0..<context.inputs.count).filter(context.has)
        let shapes = try operandIndices.map(context.shape)
        let values = try operandIndices.map(context.values)
        let rank = outputShape.count
        guard shapes.allSatisfy({ $0.count <= rank }) else { throw ShapeFailure("an operand has a higher rank than the output") }
        let strides: [[Int]] = shapes.map { shape in
            var running = 1
            var result = [Int](repeating: 0, count: rank)
            for axis in stride(from: shape.count - 1, through: 0, by: -1) {
                result[rank - shape.count + axis] = shape[axis] == 1 ? 0 : running
                running *= shape[axis]
            }
            return result
        }
        let integer = isInteger(context.elementType(0))
        let count = Shape.elementCount(outputShape)
        var output = [Double](repeating: 0, count: count)
        var index = [Int](repeating: 0, count: rank)
        var operands = [Double](repeating: 0, count: values.count)
        for position in 0..<count {
            for operand in 0..<values.count {
                var offset = 0
                for axis in 0..<rank { offset += index[axis] * strides[operand][axis] }
                guard offset < values[operand].count else { throw ShapeFailure("operand is smaller than its shape") }
                operands[operand] = values[operand][offset]
            }
            output[position] = apply(op, operands, integer: integer)
            var axis = rank - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < outputShape[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
        return output
    }

    private static func gather(_ context: NodeContext) throws -> [Double] {
        let shape = try context.shape(0)
        let data = try context.values(0)
        let indices = try context.integers(1)
        let axis = try Shape.axis(try context.intAttribute("axis", 0), rank: shape.count)
        let outer = Shape.elementCount(Array(shape.prefix(axis)))
        let inner = Shape.elementCount(Array(shape.dropFirst(axis + 1)))
        var output: [Double] = []
        for block in 0..<outer {
            for rawIndex in indices {
                let index = rawIndex < 0 ? rawIndex + shape[axis] : rawIndex
                guard index >= 0, index < shape[axis] else { throw ShapeFailure("index \(rawIndex) out of range") }
                let start = (block * shape[axis] + index) * inner
                output.append(contentsOf: data[start..<(start + inner)])
            }
        }
        return output
    }

    private static func concat(_ context: NodeContext) throws -> [Double] {
        let present = (0..<context.inputs.count).filter(context.has)
        let shapes = try present.map(context.shape)
        let values = try present.map(context.values)
        guard let first = shapes.first else { return [] }
        let axis = try Shape.axis(try context.intAttribute("axis", 0), rank: first.count)
        let outer = Shape.elementCount(Array(first.prefix(axis)))
        var output: [Double] = []
        for block in 0..<outer {
            for (shape, data) in zip(shapes, values) {
                let size = Shape.elementCount(Array(shape.dropFirst(axis)))
                output.append(contentsOf: data[(block * size)..<((block + 1) * size)])
            }
        }
        return output
    }

    private static func gatherIndices(shape: [Int], values: [Double], ranges: [(start: Int, step: Int, count: Int)]) -> [Double] {
        var strides = [Int](repeating: 1, count: shape.count)
        for axis in stride(from: shape.count - 2, through: 0, by: -1) { strides[axis] = strides[axis + 1] * shape[axis + 1] }
        let count = ranges.reduce(1) { $0 * $1.count }
        var output: [Double] = []
        output.reserveCapacity(count)
        var index = [Int](repeating: 0, count: shape.count)
        for _ in 0..<count {
            var offset = 0
            for axis in 0..<shape.count { offset += (ranges[axis].start + index[axis] * ranges[axis].step) * strides[axis] }
            output.append(values[offset])
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < ranges[axis].count { break }
                index[axis] = 0
                axis -= 1
            }
        }
        return output
    }

    private static func transpose(_ values: [Double], shape: [Int], perm: [Int]) -> [Double]? {
        guard perm.count == shape.count, Set(perm) == Set(0..<shape.count) else { return nil }
        var strides = [Int](repeating: 1, count: shape.count)
        for axis in stride(from: shape.count - 2, through: 0, by: -1) { strides[axis] = strides[axis + 1] * shape[axis + 1] }
        let ranges = perm.map { (start: 0, step: strides[$0], count: shape[$0]) }
        // Reuse the strided walk with unit strides over a flat view.
        var output: [Double] = []
        var index = [Int](repeating: 0, count: shape.count)
        for _ in 0..<values.count {
            var offset = 0
            for axis in 0..<shape.count { offset += index[axis] * ranges[axis].step }
            output.append(values[offset])
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < ranges[axis].count { break }
                index[axis] = 0
                axis -= 1
            }
        }
        return output
    }
}
