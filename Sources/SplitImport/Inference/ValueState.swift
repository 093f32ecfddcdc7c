/// What the importer knows about one ONNX value while it walks the graph.
struct ValueState {
    /// ONNX element type code.
    var elementType: Int32
    /// Dimensions, when known.
    var shape: [Int]?
    /// Contents, when the value is static and small enough to fold (row-major).
    var values: [Double]?
    /// Whether the value does not depend on the data of a graph input (initializers, constants,
    /// shapes and anything computed only from those): such values are folded, never layers.
    var isStatic: Bool
    /// For values that depend on input data: the layer that produces them.
    var layer: Int?
    /// Parameters (float initializers) this static value was computed from, as indices into the
    /// importer's parameter table; the first layer that reads the value is charged for them.
    var parameters: [Int] = []
    /// For static values whose shape or contents are unknown: why (the producing node and reason).
    var unknownBecause: String?

    /// Number of elements, when the shape is known.
    var elementCount: Int? { shape.map(Shape.elementCount) }
}

/// Why a node's output shape could not be determined (the importer adds the node's name).
struct ShapeFailure: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// Helpers on shapes (`[Int]`, row-major dimensions).
///
/// The arithmetic of every shape rule stays far from `Int` overflow because of three bounds,
/// enforced where values enter: a validated dimension is at most `maximumDimension` (2^31), an
/// attribute integer is clamped to ±2^31 (`NodeContext`), and a folded integer is clamped to
/// ±2^31 (`integers`, exporters write INT64_MAX for "to the end"). A sum of a few such numbers or
/// a product of two is then below 2^63; anything longer goes through `product` or `sum`, which
/// check.
enum Shape {
    /// The largest element count a tensor may have (2^50).
    static let maximumElements = 1 << 50
    /// The largest single dimension (2^31): no real tensor has a longer axis.
    static let maximumDimension = 1 << 31

    /// Product of the dimensions (1 for a scalar); callers only pass validated shapes.
    static func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    /// Checks dimensions are in 0...`maximumDimension` and the element count stays below
    /// `maximumElements`.
    static func validated(_ shape: [Int]) throws -> [Int] {
        var count = 1
        for dimension in shape {
            guard dimension >= 0 else { throw ShapeFailure("negative dimension \(dimension) in \(describe(shape))") }
            guard dimension <= maximumDimension else {
                throw ShapeFailure("dimension \(dimension) in \(describe(shape)) is larger than 2^31")
            }
            let (product, overflow) = count.multipliedReportingOverflow(by: max(dimension, 1))
            guard !overflow, product <= maximumElements else { throw ShapeFailure("shape \(describe(shape)) is too large") }
            count = product
        }
        return shape
    }

    /// Converts folded values to integers, rejecting non-integers; magnitudes are clamped to
    /// `maximumDimension` (2^31), which is past the end of any valid axis.
    static func integers(_ values: [Double], what: String) throws -> [Int] {
        let limit = Double(maximumDimension)
        return try values.map { value in
            guard value.isFinite, value == value.rounded() else {
                throw ShapeFailure("\(what) holds \(value), not an integer")
            }
            return Int(max(min(value, limit), -limit))
        }
    }

    /// Product of `factors`, or a failure when it leaves the valid element range.
    static func product(_ factors: [Int]) throws -> Int {
        var result = 1
        for factor in factors {
            let (next, overflow) = result.multipliedReportingOverflow(by: factor)
            guard !overflow, next <= maximumElements,
                next >= -maximumElements
            else { throw ShapeFailure("size \(factors.map(String.init).joined(separator: " x ")) is too large") }
            result = next
        }
        return result
    }

    /// Sum of `terms`, or a failure when it leaves the valid element range.
    static func sum(_ terms: [Int]) throws -> Int {
        var result = 0
        for term in terms {
            let (next, overflow) = result.addingReportingOverflow(term)
            guard !overflow, next <= maximumElements, next >= -maximumElements else {
                throw ShapeFailure("sum \(terms.map(String.init).joined(separator: " + ")) is too large")
            }
            result = next
        }
        return result
    }
    /// Numpy-style broadcast of several shapes.
    static func broadcast(_ shapes: [[Int]]) throws -> [Int] {
        let rank = shapes.map(\.count).max() ?? 0
        var result = [Int](repeating: 1, count: rank)
        for shape in shapes {
            let offset = rank - shape.count
            for (index, dimension) in shape.enumerated() {
                let current = result[offset + index]
                if current == 1 {
                    result[offset + index] = dimension
                } else if dimension != 1 && dimension != current {
                    throw ShapeFailure("shapes \(shapes.map(describe).joined(separator: ", ")) do not broadcast")
                }
            }
        }
        return result
    }

    /// Normalises a possibly negative axis against `rank`.
    static func axis(_ axis: Int, rank: Int) throws -> Int {
        let normalised = axis < 0 ? axis + rank : axis
        guard normalised >= 0, normalised < rank else { throw ShapeFailure("axis \(axis) is out of range for rank \(rank)") }
        return normalised
    }

    /// `1x3x224x224`.
    static func describe(_ shape: [Int]) -> String {
        shape.isEmpty ? "scalar" : shape.map(String.init).joined(separator: "x")
    }
}
