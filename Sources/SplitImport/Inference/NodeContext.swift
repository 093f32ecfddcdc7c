/// One node and what is known about its inputs, as the shape rules and constant folder see it.
struct NodeContext {
    /// The node.
    let node: ONNXNode
    /// Its inputs in order; nil for an absent optional input (empty name).
    let inputs: [ValueState?]
    /// Version of the default operator set the model imports.
    let opset: Int

    /// The input at `index`, which must be present.
    func input(_ index: Int) throws -> ValueState {
        guard index < inputs.count, let input = inputs[index] else { throw ShapeFailure("input #\(index) is missing") }
        return input
    }

    /// Whether the optional input at `index` is given.
    func has(_ index: Int) -> Bool { index < inputs.count && inputs[index] != nil }

    /// The shape of input `index`, which must be known.
    func shape(_ index: Int) throws -> [Int] {
        let input = try input(index)
        guard let shape = input.shape else {
            let cause = input.unknownBecause.map { " (\($0))" } ?? ""
            throw ShapeFailure("the shape of input #\(index) ('\(node.inputs[index])') is unknown\(cause)")
        }
        return shape
    }

    /// The element type of input `index` (float when absent).
    func elementType(_ index: Int) -> Int32 {
        index < inputs.count ? inputs[index]?.elementType ?? ONNXDataType.float : ONNXDataType.float
    }

    /// The folded contents of input `index`, which must be known (shape-plumbing inputs).
    func values(_ index: Int) throws -> [Double] {
        let input = try input(index)
        guard let values = input.values else {
            let cause = input.unknownBecause.map { " (\($0))" } ?? ""
            throw ShapeFailure("the value of input #\(index) ('\(node.inputs[index])') is not known statically\(cause)")
        }
        if let count = input.elementCount, count != values.count {
            throw ShapeFailure("input '\(node.inputs[index])' has \(values.count) values for \(count) elements")
        }
        return values
    }

    /// Integer contents of input `index`.
    func integers(_ index: Int) throws -> [Int] {
        try Shape.integers(values(index), what: "input '\(node.inputs[index])'")
    }

    /// Integer contents of an optional input, nil when absent.
    func optionalIntegers(_ index: Int) throws -> [Int]? { has(index) ? try integers(index) : nil }

    /// Attribute integers are clamped to ±2^31 (exporters write INT64_MAX for "to the end"); with
    /// dimensions bounded by `Shape.maximumDimension`, a product of two such numbers or a sum of a
    /// few cannot overflow (see `Shape`).
    static let attributeLimit: Int64 = 1 << 31

    /// An integer-list attribute as `Int`s (clamped to ±2^31).
    func intsAttribute(_ name: String) throws -> [Int]? {
        node.ints(name)?.map { Int(min(max($0, -Self.attributeLimit), Self.attributeLimit)) }
    }

    /// An integer attribute as `Int` (clamped to ±2^31).
    func intAttribute(_ name: String, _ fallback: Int) throws -> Int {
        Int(min(max(node.int(name, Int64(fallback)), -Self.attributeLimit), Self.attributeLimit))
    }
}
