/// Shape rules of the data-movement, reduction and constant-producing operators.
enum TensorShapeRules {
    typealias Output = ShapeRules.Output

    /// Reductions that take `axes` (attribute before opset 18, input from 18; ReduceSum from 13).
    static let reductions: Set<String> = [
        "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
        "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare",
    ]

    /// Output shapes and types of `context.node`, or nil for an unknown operator.
    static func infer(_ context: NodeContext) throws -> [Output]? {
        let node = context.node
        let type0 = context.elementType(0)
        if reductions.contains(node.opType) { return [(try reduce(context), type0)] }
        switch node.opType {
        case "Concat":
            let shapes = try (0..<context.inputs.count).filter(context.has).map(context.shape)
            guard let first = shapes.first else { throw ShapeFailure("no inputs") }
            let axis = try Shape.axis(try context.intAttribute("axis", 0), rank: first.count)
            var result = first
            result[axis] = 0
            for shape in shapes {
                guard shape.count == first.count else { throw ShapeFailure("inputs have different ranks") }
                for index in shape.indices where index != axis && shape[index] != first[index] {
                    throw ShapeFailure("inputs differ outside the concatenation axis: \(shapes.map(Shape.describe).joined(separator: ", "))")
                }
                result[axis] += shape[axis]
                guard result[axis] <= Shape.maximumElements else { throw ShapeFailure("concatenation is too large") }
            }
            return [(result, type0)]
        case "Split": return try split(context)
        case "Slice": return [(try slice(context), type0)]
        case "Reshape": return [(try reshape(context), type0)]
        case "Flatten":
            let shape = try context.shape(0)
            var axis = try context.intAttribute("axis", 1)
            if axis < 0 { axis += shape.count }
            guard axis >= 0, axis <= shape.count else { throw ShapeFailure("axis out of range") }
            return [([Shape.elementCount(Array(shape.prefix(axis))), Shape.elementCount(Array(shape.dropFirst(axis)))], type0)]
        case "Transpose":
            let shape = try context.shape(0)
            let perm = try context.intsAttribute("perm") ?? Array((0..<shape.count).reversed())
            guard perm.count == shape.count,
                Set(perm) == Set(0..<shape.count)
            else { throw ShapeFailure("perm \(perm) is not a permutation of rank \(shape.count)") }
            return [(perm.map { shape[$0] }, type0)]
        case "Squeeze":
            let shape = try context.shape(0)
            let given = try context.opset >= 13 ? context.optionalIntegers(1) : context.intsAttribute("axes")
            let axes = try given.map { try Set($0.map { try Shape.axis($0, rank: shape.count) }) }
            return [(shape.enumerated().filter { index, dimension in axes.map { !$0.contains(index) } ?? (dimension != 1) }.map(\.element), type0)]
        case "Unsqueeze":
            let shape = try context.shape(0)
            guard let given = try context.opset >= 13 ? context.optionalIntegers(1) : context.intsAttribute("axes") else {
                throw ShapeFailure("axes are missing")
            }
            let rank = shape.count + given.count
            let axes = Set(try given.map { try Shape.axis($0, rank: rank) })
            guard axes.count == given.count else { throw ShapeFailure("repeated axes \(given)") }
            var remaining = shape.makeIterator()
            return [((0..<rank).map { axes.contains($0) ? 1 : remaining.next() ?? 1 }, type0)]
        case "Expand":
            return [(try Shape.validated(Shape.broadcast([context.shape(0), context.integers(1)])), type0)]
        case "Tile":
            let shape = try context.shape(0)
            let repeats = try context.integers(1)
            guard repeats.count == shape.count else { throw ShapeFailure("repeats do not match rank \(shape.count)") }
            return [(try Shape.validated(zip(shape, repeats).map { try Shape.product([$0, $1]) }), type0)]
        case "Resize", "Upsample": return [(try resize(context), type0)]
        case "Pad": return [(try pad(context), type0)]
        case "ArgMax", "ArgMin":
            let shape = try context.shape(0)
            let axis = try Shape.axis(try context.intAttribute("axis", 0), rank: shape.count)
            var result = shape
            if context.node.int("keepdims", 1) != 0 { result[axis] = 1 } else { result.remove(at: axis) }
            return [(result, ONNXDataType.int64)]
        case "Shape":
            let rank = try context.shape(0).count
            let (start, end) = shapeRange(context, rank: rank)
            return [([max(end - start, 0)], ONNXDataType.int64)]
        case "Size": return [([], ONNXDataType.int64)]
        case "Constant": return [try constant(context.node)]
        case "ConstantOfShape":
            let type = context.node.attribute("value")?.tensor?.dataType ?? ONNXDataType.float
            return [(try Shape.validated(context.integers(0)), type)]
        case "Range":
            let (start, limit, delta) = (try context.values(0), try context.values(1), try context.values(2))
            guard start.count == 1, limit.count == 1, delta.count == 1,
                delta[0] != 0
            else { throw ShapeFailure("start, limit and delta must be scalars, delta non-zero") }
            let count = max(((limit[0] - start[0]) / delta[0]).rounded(.up), 0)
            guard count <= Double(Shape.maximumElements) else { throw ShapeFailure("range is too long") }
            return [([Int(count)], type0)]
        case "TopK":
            let shape = try context.shape(0)
            let axis = try Shape.axis(try context.intAttribute("axis", -1), rank: shape.count)
            let k = try context.opset >= 10 ? context.integers(1).first ?? 0 : context.intAttribute("k", 0)
            var result = shape
            result[axis] = k
            return [(result, type0), (result, ONNXDataType.int64)]
        case "DepthToSpace", "SpaceToDepth":
            let shape = try context.shape(0)
            let block = try context.intAttribute("blocksize", 1)
            guard shape.count == 4, block >= 1, block <= 1 << 15 else { throw ShapeFailure("expects N x C x H x W and blocksize 1...32768") }
            if context.node.opType == "DepthToSpace" {
                return [
                    ([shape[0], shape[1] / (block * block), try Shape.product([shape[2], block]), try Shape.product([shape[3], block])], type0)
                ]
            }
            return [([shape[0], try Shape.product([shape[1], block, block]), shape[2] / block, shape[3] / block], type0)]
        case "EyeLike":
            return [(try context.shape(0), Int32(truncatingIfNeeded: context.node.int("dtype", Int64(type0))))]
        case "NonZero":
            // Data-dependent: known only when the input is folded.
            let values = try context.values(0)
            return [([try context.shape(0).count, values.filter { $0 != 0 }.count], ONNXDataType.int64)]
        default:
            return nil
        }
    }

    /// `start` and `end` of `Shape` (opset 15), clamped to the rank.
    static func shapeRange(_ context: NodeContext, rank: Int) -> (Int, Int) {
        func clamp(_ value: Int64) -> Int {
            let normalised = value < 0 ? value + Int64(rank) : value
            return Int(min(max(normalised, 0), Int64(rank)))
        }
        return (clamp(context.node.int("start", 0)), clamp(context.node.int("end", Int64(rank))))
    }

    /// The output of a `Constant` node, from whichever `value*` attribute it carries.
    static func constant(_ node: ONNXNode) throws -> Output {
        if let tensor = node.attribute("value")?.tensor {
            return (try Shape.validated(tensor.dims.map { Int(clamping: $0) }), tensor.dataType)
        }
        if node.attribute("value_float") != nil { return ([], ONNXDataType.float) }
        if node.attribute("value_int") != nil { return ([], ONNXDataType.int64) }
        if let floats = node.attribute("value_floats") { return ([floats.floats.count], ONNXDataType.float) }
        if let ints = node.attribute("value_ints") { return ([ints.ints.count], ONNXDataType.int64) }
        throw ShapeFailure("no supported 'value' attribute")
    }

    private static func split(_ context: NodeContext) throws -> [Output] {
        let shape = try context.shape(0)
        let axis = try Shape.axis(try context.intAttribute("axis", 0), rank: shape.count)
        let outputs = context.node.outputs.count
        var sizes = try context.opset >= 13 ? context.optionalIntegers(1) : context.intsAttribute("split")
        if sizes == nil {
            let parts = context.node.attribute("num_outputs")?.int ?? Int64(outputs)
            guard parts >= 1, parts == Int64(outputs) else {
                throw ShapeFailure("num_outputs is \(parts), but the node has \(outputs) outputs")
            }
            let chunk = (shape[axis] + outputs - 1) / outputs
            sizes = (0..<outputs).map { max(min(chunk, shape[axis] - $0 * chunk), 0) }
        }
        guard let sizes, sizes.count == outputs, sizes.allSatisfy({ $0 >= 0 }), try Shape.sum(sizes) == shape[axis] else {
            throw ShapeFailure("split sizes do not add up to dimension \(shape[axis]) across \(outputs) outputs")
        }
        return sizes.map { size in
            var result = shape
            result[axis] = size
            return (result, context.elementType(0))
        }
    }

    /// Output shape of `Slice` (inputs from opset 10, attributes before).
    private static func slice(_ context: NodeContext) throws -> [Int] {
        let shape = try context.shape(0)
        let starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?
        if context.opset >= 10 {
            (starts, ends) = (try context.integers(1), try context.integers(2))
            (axes, steps) = (try context.optionalIntegers(3), try context.optionalIntegers(4))
        } else {
            guard let s = try context.intsAttribute("starts"),
                let e = try context.intsAttribute("ends")
            else { throw ShapeFailure("starts/ends missing") }
            (starts, ends, axes, steps) = (s, e, try context.intsAttribute("axes"), nil)
        }
        return try SliceRange.outputShape(shape: shape, starts: starts, ends: ends, axes: axes, steps: steps)
    }

    private static func reshape(_ context: NodeContext) throws -> [Int] {
        let shape = try context.shape(0)
        let target = try context.opset >= 5 ? context.integers(1) : (context.intsAttribute("shape") ?? [])
        let allowZero = context.node.int("allowzero", 0) != 0
        var result = try target.enumerated().map { index, value -> Int in
            if value == 0 && !allowZero {
                guard index < shape.count else { throw ShapeFailure("target \(target) copies dimension \(index) of \(Shape.describe(shape))") }
                return shape[index]
            }
            guard value >= -1 else { throw ShapeFailure("target \(target) has \(value)") }
            return value
        }
        let total = Shape.elementCount(shape)
        let unknown = result.indices.filter { result[$0] == -1 }
        guard unknown.count <= 1 else { throw ShapeFailure("target \(target) has more than one -1") }
        let known = try Shape.product(result.filter { $0 != -1 })
        if let index = unknown.first {
            guard known > 0, total % known == 0 else { throw ShapeFailure("cannot reshape \(Shape.describe(shape)) to \(target)") }
            result[index] = total / known
        } else if known != total {
            throw ShapeFailure("cannot reshape \(Shape.describe(shape)) (\(total) elements) to \(target)")
        }
        return try Shape.validated(result)
    }

    private static func resize(_ context: NodeContext) throws -> [Int] {
        let shape = try context.shape(0)
        // Upsample and Resize-10: (X, scales); Resize-11+: (X, roi, scales, sizes).
        let scalesIndex = context.node.opType == "Upsample" || context.opset < 11 ? 1 : 2
        let axes = try context.intsAttribute("axes")?.map { try Shape.axis($0, rank: shape.count) } ?? Array(0..<shape.count)
        if context.has(3), let sizes = try? context.integers(3), !sizes.isEmpty {
            guard sizes.count == axes.count else { throw ShapeFailure("sizes do not match the axes") }
            var result = shape
            for (axis, size) in zip(axes, sizes) { result[axis] = size }
            return try Shape.validated(result)
        }
        let scales: [Double]
        if context.node.opType == "Upsample" && context.opset < 9 {
            scales = context.node.attribute("scales")?.floats ?? []
        } else {
            scales = try context.values(scalesIndex)
        }
        guard scales.count == axes.count else { throw ShapeFailure("scales \(scales) do not match rank \(shape.count)") }
        var result = shape
        for (axis, scale) in zip(axes, scales) {
            let size = (Double(shape[axis]) * scale).rounded(.down)
            guard size.isFinite, size >= 0, size <= Double(Shape.maximumElements) else { throw ShapeFailure("scale \(scale) is out of range") }
            result[axis] = Int(size)
        }
        return try Shape.validated(result)
    }

    private static func pad(_ context: NodeContext) throws -> [Int] {
        let shape = try context.shape(0)
        let pads = try context.opset >= 11 ? context.integers(1) : (context.intsAttribute("pads") ?? [])
        let axes = try context.optionalIntegers(3)?.map { try Shape.axis($0, rank: shape.count) } ?? Array(0..<shape.count)
        guard pads.count == 2 * axes.count else { throw ShapeFailure("pads \(pads) do not match \(axes.count) axes") }
        guard Set(axes).count == axes.count else { throw ShapeFailure("repeated axes \(axes)") }
        var result = shape
        for (position, axis) in axes.enumerated() { result[axis] = try Shape.sum([result[axis], pads[position], pads[position + axes.count]]) }
        return try Shape.validated(result)
    }

    private static func reduce(_ context: NodeContext) throws -> [Int] {
        let shape = try context.shape(0)
        let axesFromInput = context.node.opType == "ReduceSum" ? context.opset >= 13 : context.opset >= 18
        let given = try axesFromInput ? context.optionalIntegers(1) : context.intsAttribute("axes")
        let keep = context.node.int("keepdims", 1) != 0
        var axes = Set(try (given ?? []).map { try Shape.axis($0, rank: shape.count) })
        if axes.isEmpty {
            if context.node.int("noop_with_empty_axes", 0) != 0 { return shape }
            axes = Set(0..<shape.count)
        }
        return shape.enumerated().compactMap { index, dimension in axes.contains(index) ? (keep ? 1 : nil) : dimension }
    }
}

/// Clamped `Slice` index ranges, shared by shape inference and constant folding.
enum SliceRange {
    /// Per-axis (start, step, count) after clamping, for every axis of `shape`.
    static func ranges(shape: [Int], starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?) throws -> [(start: Int, step: Int, count: Int)] {
        let axes = try (axes ?? Array(0..<starts.count)).map { try Shape.axis($0, rank: shape.count) }
        let steps = steps ?? Array(repeating: 1, count: starts.count)
        guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
            throw ShapeFailure("starts, ends, axes and steps have different lengths")
        }
        var ranges = shape.map { (start: 0, step: 1, count: $0) }
        for (position, axis) in axes.enumerated() {
            let dimension = shape[axis]
            let step = steps[position]
            guard step != 0 else { throw ShapeFailure("step 0") }
            func normalise(_ value: Int, low: Int, high: Int) -> Int {
                min(max(value < 0 ? value + dimension : value, low), high)
            }
            let start = step > 0 ? normalise(starts[position], low: 0, high: dimension) : normalise(starts[position], low: -1, high: dimension - 1)
            let end = step > 0 ? normalise(ends[position], low: 0, high: dimension) : normalise(ends[position], low: -1, high: dimension - 1)
            let count = step > 0 ? max((end - start + step - 1) / step, 0) : max((start - end + (-step) - 1) / (-step), 0)
            ranges[axis] = (start, step, count)
        }
        return ranges
    }

    /// The sliced shape.
    static func outputShape(shape: [Int], starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?) throws -> [Int] {
        try ranges(shape: shape, starts: starts, ends: ends, axes: axes, steps: steps).map(\.count)
    }
}
