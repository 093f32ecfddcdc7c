/// An `Einsum` equation resolved against its operand shapes: index sizes and the output shape.
///
/// Supports explicit (`ij,jk->ik`) and implicit (`ij,jk`) outputs and `...` broadcasting.
struct Einsum {
    /// Size of every index letter (ellipsis dimensions get private placeholder indices).
    let sizes: [Character: Int]
    /// Output shape.
    let outputShape: [Int]

    init(equation: String, inputs: [[Int]]) throws {
        let compact = equation.filter { !$0.isWhitespace }
        let sides = compact.components(separatedBy: "->")
        guard sides.count <= 2, !compact.isEmpty else { throw ShapeFailure("invalid equation '\(equation)'") }
        let operandTerms = sides[0].components(separatedBy: ",")
        guard operandTerms.count == inputs.count else {
            throw ShapeFailure("equation '\(equation)' names \(operandTerms.count) operands, node has \(inputs.count)")
        }
        // Ellipsis dimensions become the placeholders "0"... right-aligned, broadcast across operands.
        let placeholders: [Character] = Array("0123456789!#$%&*+:;<=>?@^|~")
        var ellipsisShape: [Int] = []
        var sizes: [Character: Int] = [:]
        var counts: [Character: Int] = [:]
        var expandedTerms: [[Character]] = []
        for (term, shape) in zip(operandTerms, inputs) {
            let parts = term.components(separatedBy: "...")
            guard parts.count <= 2 else { throw ShapeFailure("more than one ellipsis in '\(term)'") }
            let explicitCount = parts.joined().count
            var letters: [Character] = Array(parts[0])
            if parts.count == 2 {
                let ellipsisRank = shape.count - explicitCount
                guard ellipsisRank >= 0,
                    ellipsisRank <= placeholders.count
                else { throw ShapeFailure("operand '\(term)' does not match rank \(shape.count)") }
                let dims = Array(shape[parts[0].count..<(parts[0].count + ellipsisRank)])
                ellipsisShape = try Shape.broadcast([ellipsisShape, dims])
                letters += placeholders.suffix(ellipsisRank).prefix(ellipsisRank)
                letters += Array(parts[1])
            }
            guard letters.count == shape.count else { throw ShapeFailure("operand '\(term)' does not match rank \(shape.count)") }
            for (letter, dimension) in zip(letters, shape) {
                guard letter.isLetter || placeholders.contains(letter) else { throw ShapeFailure("invalid index '\(letter)' in '\(equation)'") }
                if let known = sizes[letter], known != dimension, known != 1, dimension != 1 {
                    throw ShapeFailure("index '\(letter)' has sizes \(known) and \(dimension)")
                }
                sizes[letter] = max(sizes[letter] ?? 1, dimension)
                counts[letter, default: 0] += 1
            }
            expandedTerms.append(letters)
        }
        let ellipsisLetters = Array(placeholders.suffix(ellipsisShape.count).prefix(ellipsisShape.count))
        for (letter, dimension) in zip(ellipsisLetters, ellipsisShape) { sizes[letter] = dimension }
        let outputLetters: [Character]
        if sides.count == 2 {
            let parts = sides[1].components(separatedBy: "...")
            outputLetters = parts.count == 2 ? Array(parts[0]) + ellipsisLetters + Array(parts[1]) : Array(sides[1])
        } else {
            outputLetters = ellipsisLetters + counts.filter { $0.value == 1 && $0.key.isLetter }.keys.sorted()
        }
        self.sizes = sizes
        self.outputShape = try outputLetters.map { letter in
            guard let size = sizes[letter] else { throw ShapeFailure("output index '\(letter)' appears in no operand") }
            return size
        }
    }

    /// Multiply-accumulates of a direct evaluation: the product of every index's size.
    var multiplyAccumulates: Double { sizes.values.reduce(1.0) { $0 * Double($1) } }
}
