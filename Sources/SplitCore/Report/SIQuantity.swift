/// Parses numbers written with SI suffixes, as operators type them: `20M`, `1.5T`, `40e6`, `10m`.
public enum SIQuantity {
    /// Multipliers by suffix. Upper-case M is mega and lower-case m milli, as in SI.
    static let multipliers: [Character: Double] = [
        "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
        "m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9,
    ]

    /// The value of `text`, or nil when it is not a finite number with an optional SI suffix.
    public static func parse(_ text: String) -> Double? {
        var body = Substring(text.trimmingWhitespace())
        var multiplier = 1.0
        if let last = body.last, let factor = multipliers[last], body.count > 1 {
            multiplier = factor
            body = body.dropLast()
        }
        guard let value = Double(body), value.isFinite else { return nil }
        let result = value * multiplier
        return result.isFinite ? result : nil
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars = scalars.dropFirst() }
        while let last = scalars.last, last.isWhitespace { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
