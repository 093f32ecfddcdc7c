/// Parses the quantities operators type, one rule for every surface (CLI flags, `SPLITD_*`
/// variables, documentation): link rates, durations, compute throughput and byte sizes.
///
/// A quantity is a decimal number followed, optionally after spaces, by a unit:
/// - rates (bit/s): `20M`, `20Mbps`, `20 Mbit/s`, `20Mb/s`, `1.5G`, `500kbps`, `2.5MB/s` (bytes,
///   times 8), `64000bps`; a bare number is bit/s.
/// - durations (s): `10ms`, `0.5s`, `250us`/`250µs`, `100ns`, `2m`/`2min` (minutes), `1h`, `7d`
///   (days of 86,400 s); a bare number is seconds.
/// - throughput (FLOP/s): `100G`, `1.5T`, `2e13`, `100GFLOPS`, `100 GFLOP/s`.
/// - sizes (bytes): `2G`/`2GB` (2·10^9), `2Gi`/`2GiB` (2·2^30), `512MiB`, `64k`, `1e9` (the units of
///   `ByteQuantity`; lower-case `m` and `b` are refused: milli and bits).
///
/// Lower-case `m` is refused for rates and throughput because it is ambiguous (SI milli, but
/// people mean mega): `100m` asks the user to write `100M`. Values must be finite and ≥ 0 here;
/// the physical range of each use is checked by `Limits`.
public enum Quantity {
    /// What a quantity measures; selects its unit table.
    public enum Kind: String, Sendable {
        case rate = "rate"
        case duration = "duration"
        case throughput = "throughput"
        case size = "size"

        /// The base unit values are returned in.
        public var baseUnit: String {
            switch self {
            case .rate: return "bit/s"
            case .duration: return "s"
            case .throughput: return "FLOP/s"
            case .size: return "bytes"
            }
        }

        var examples: String {
            switch self {
            case .rate: return "20M, 20Mbps, 20 Mbit/s, 500kbps, 1.5G"
            case .duration: return "10ms, 0.5s, 250us, 2m, 1h, 7d"
            case .throughput: return "100G, 1.5T, 2e13, 100GFLOPS"
            case .size: return "2G, 2GB, 2Gi, 2GiB, 512MiB"
            }
        }
    }

    /// A parsed quantity: the value in the base unit, and whether the text named a unit.
    public struct Value: Sendable, Equatable {
        /// The value in the kind's base unit (bit/s, s, FLOP/s, bytes).
        public var value: Double
        /// True when the text carried a unit or prefix (a deliberate form), false for a bare number.
        public var hadUnit: Bool
    }

    /// Parses `text` as a quantity of `kind`, or throws `QuantityError` saying what is wrong.
    public static func parse(_ text: String, as kind: Kind) throws -> Value {
        let trimmed = text.trimmingWhitespace()
        guard !trimmed.isEmpty else { throw QuantityError(text: text, kind: kind, "is empty") }
        let (numberText, unitText) = split(trimmed)
        guard let number = Double(numberText), number.isFinite else {
            throw QuantityError(text: text, kind: kind, "is not a number with an optional unit (e.g. \(kind.examples))")
        }
        let unit = String(unitText).trimmingWhitespace()
        let multiplier = try self.multiplier(unit, kind: kind, text: text)
        let value = number * multiplier
        guard value.isFinite else { throw QuantityError(text: text, kind: kind, "is too large") }
        guard value >= 0 else { throw QuantityError(text: text, kind: kind, "must not be negative") }
        return Value(value: value, hadUnit: !unit.isEmpty)
    }

    /// Splits `20.5Mbps` into `20.5` and `Mbps`; an exponent (`2e13`) stays with the number.
    static func split(_ text: String) -> (number: Substring, unit: Substring) {
        let scalars = Array(text.unicodeScalars)
        var end = 0
        var seenDigit = false
        while end < scalars.count {
            let scalar = scalars[end]
            if ("0"..."9").contains(scalar) {
                seenDigit = true
            } else if scalar == "." || ((scalar == "-" || scalar == "+") && end == 0) {
                // part of the number
            } else if (scalar == "e" || scalar == "E") && seenDigit && end + 1 < scalars.count {
                // An exponent only if digits (optionally signed) follow.
                var next = end + 1
                if scalars[next] == "-" || scalars[next] == "+" { next += 1 }
                guard next < scalars.count, ("0"..."9").contains(scalars[next]) else { break }
                end = next
                continue
            } else {
                break
            }
            end += 1
        }
        let index = text.unicodeScalars.index(text.unicodeScalars.startIndex, offsetBy: end)
        return (Substring(text.unicodeScalars[..<index]), Substring(text.unicodeScalars[index...]))
    }

    static let decimalPrefixes: [Character: Double] = ["k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18]

    static func multiplier(_ unit: String, kind: Kind, text: String) throws -> Double {
        if unit.isEmpty { return 1 }
        switch kind {
        case .duration:
            let table: [String: Double] = [
                "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86_400,
            ]
            if let factor = table[unit.lowercased()] { return factor }
        case .rate:
            // prefix? then bps | bit/s | b/s (bits) or Bps | B/s (bytes); or a bare prefix.
            let (prefix, rest) = try decimalPrefix(unit, kind: kind, text: text)
            switch rest {
            case "", "bps", "bit/s", "b/s", "bits/s": return prefix
            case "Bps", "B/s", "byte/s", "bytes/s": return prefix * 8
            default: break
            }
        case .throughput:
            let (prefix, rest) = try decimalPrefix(unit, kind: kind, text: text)
            if ["", "flops", "flop/s"].contains(rest.lowercased()) { return prefix }
        case .size:
            if let factor = ByteQuantity.units[unit] { return factor }
            throw QuantityError(
                text: text, kind: kind,
                """
                has an unknown unit '\(unit)'; use bytes, k/M/G/T/P (powers of 1000) or Ki/Mi/Gi/Ti/Pi (powers of 1024), optionally \
                followed by B (lower-case m is milli and b is bits)
                """)
        }
        throw QuantityError(text: text, kind: kind, "has an unknown unit '\(unit)' (e.g. \(kind.examples))")
    }

    /// Splits an SI prefix off a rate or throughput unit. Lower-case `m` is refused as ambiguous.
    static func decimalPrefix(_ unit: String, kind: Kind, text: String) throws -> (Double, String) {
        guard let first = unit.first else { return (1, "") }
        if first == "m" {
            throw QuantityError(text: text, kind: kind, "is ambiguous: lower-case 'm' is milli in SI; write 'M' for mega (e.g. \(kind.examples))")
        }
        if let factor = decimalPrefixes[first] {
            // `k` alone or followed by a unit; but "bps" etc. start with b, never a prefix letter.
            return (factor, String(unit.dropFirst()))
        }
        return (1, unit)
    }
}

/// A quantity that could not be parsed: the text, what it should have been, and why.
public struct QuantityError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The text as given.
    public let text: String
    /// What it was parsed as.
    public let kind: Quantity.Kind
    /// Why it was refused.
    public let reason: String

    /// Creates an error.
    public init(text: String, kind: Quantity.Kind, _ reason: String) {
        self.text = text
        self.kind = kind
        self.reason = reason
    }

    public var description: String { "'\(text)' \(reason)" }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars = scalars.dropFirst() }
        while let last = scalars.last, last.isWhitespace { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
