/// The physically meaningful range of every number splitd accepts, one rule for every surface:
/// graph and profile files, CLI flags, HTTP bodies, telemetry, configuration.
///
/// The bounds are far beyond any real hardware or network, yet tight enough that every cost the
/// model derives from accepted values (seconds, bytes, their sums over a million layers) stays a
/// finite Double, and quantizing them for max-flow cannot overflow. Values outside are refused
/// where they enter, with the range in the message, so nothing absurd is ever stored.
public struct ValueRange: Sendable, Equatable {
    /// What the value is, for messages ("link rate").
    public let what: String
    /// Its unit, for messages ("bit/s").
    public let unit: String
    /// The accepted closed interval.
    public let bounds: ClosedRange<Double>
    /// Whether 0 is accepted even though it is below `bounds` (an RTT of 0, a zero-FLOP layer).
    public let allowsZero: Bool

    /// Creates a range.
    public init(_ what: String, unit: String, _ bounds: ClosedRange<Double>, allowsZero: Bool = false) {
        self.what = what
        self.unit = unit
        self.bounds = bounds
        self.allowsZero = allowsZero
    }

    /// Nil when `value` is accepted, else the reason it is not (to put after a field name).
    public func violation(_ value: Double) -> String? {
        if value.isNaN { return "must be a number, got NaN" }
        if allowsZero && value == 0 { return nil }
        if bounds.contains(value) { return nil }
        let lower = allowsZero ? "0" : "\(Self.format(bounds.lowerBound)) \(unit)"
        return "must be a \(what) between \(lower) and \(Self.format(bounds.upperBound)) \(unit), got \(Self.format(value))"
    }

    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}

/// The accepted range of each kind of number (see `ValueRange`).
public enum Limits {
    /// Uplink or downlink rate: 1 bit/s to 10 Tbit/s.
    public static let linkRate = ValueRange("link rate", unit: "bit/s", 1...1e13)
    /// Round-trip time: 0 to a minute.
    public static let rtt = ValueRange("round-trip time", unit: "s", 1e-9...60, allowsZero: true)
    /// Compute throughput of a device or server: 1 kFLOP/s to 10 EFLOP/s.
    public static let computeThroughput = ValueRange("compute throughput", unit: "FLOP/s", 1e3...1e19)
    /// Samples per iteration.
    public static let batchSize = ValueRange("batch size", unit: "samples", 1...1_000_000)
    /// Per-sample forward or backward FLOPs of one layer: up to 10^18.
    public static let layerFLOPs = ValueRange("FLOP count", unit: "FLOPs", 0...1e18)
    /// Output or parameter bytes of one layer: up to 10 TB.
    public static let layerBytes = ValueRange("byte count", unit: "bytes", 0...1e13)
    /// A measured per-layer time: up to 10^7 ms (about 2.8 hours) per iteration.
    public static let profileMilliseconds = ValueRange("time", unit: "ms", 0...1e7)
    /// A measured per-layer memory (splitprofile/1 `memory_bytes`): up to 1 PB.
    public static let measuredMemory = ValueRange("memory size", unit: "bytes", 0...1e15)
    /// Device memory available for training: 1 MB to 1 PB.
    public static let deviceMemory = ValueRange("memory size", unit: "bytes", 1e6...1e15)

    /// The payback rule's factor θ: accrued savings must reach θ × the migration seconds.
    public static let paybackFactor = ValueRange("payback factor", unit: "", 1e-9...1_000, allowsZero: true)
    /// The least relative saving a better split must offer (either switching rule).
    public static let minimumGain = ValueRange("fraction", unit: "", 1e-9...0.999, allowsZero: true)
    /// The horizon rule's iterations.
    public static let horizonIterations = 0...1_000_000

    /// Any finite positive number (internal probes, never user input).
    static let anyPositive = ValueRange("positive number", unit: "", Double.leastNormalMagnitude...Double.greatestFiniteMagnitude)

    /// Rates typed without a unit below this are refused as likely mistakes (`--uplink 100`
    /// probably meant 100M); `100bps` is the deliberate form.
    public static let bareRateMinimum = 1e3
    /// Durations typed without a unit below this (but above 0) are refused as likely mistakes
    /// (`--rtt 1e-9` probably meant milliseconds); `1ns` is the deliberate form.
    public static let bareDurationMinimum = 1e-6

    /// Parses a link rate as typed (CLI, configuration) and checks its range.
    public static func parseRate(_ text: String) throws -> Double {
        let parsed = try Quantity.parse(text, as: .rate)
        if !parsed.hadUnit && parsed.value > 0 && parsed.value < bareRateMinimum {
            throw QuantityError(
                text: text, kind: .rate,
                """
                is \(ValueRange.format(parsed.value)) bit/s, under 1 kbit/s; rates are in bit/s, so write e.g. '\(text)M' for \
                Mbit/s, or '\(text)bps' if you mean it
                """)
        }
        return try checked(parsed.value, linkRate, text: text, kind: .rate)
    }

    /// Parses a duration as typed and checks it against `range` (default: any ≥ 0 up to a day).
    public static func parseDuration(
        _ text: String,
        range: ValueRange = ValueRange("duration", unit: "s", 0...86_400, allowsZero: true)
    ) throws -> Double {
        let parsed = try Quantity.parse(text, as: .duration)
        if !parsed.hadUnit && parsed.value > 0 && parsed.value < bareDurationMinimum {
            throw QuantityError(
                text: text, kind: .duration,
                "is under 1 µs; durations without a unit are seconds, so write e.g. '\(text)ms', or '\(text)s' if you mean it")
        }
        do {
            return try checked(parsed.value, range, text: text, kind: .duration)
        } catch let error as QuantityError where text.trimmingWhitespace().hasSuffix("m") {
            throw QuantityError(text: text, kind: .duration, error.reason + " ('m' is minutes; write 'ms' for milliseconds)")
        }
    }

    /// Parses a compute throughput as typed and checks its range.
    public static func parseThroughput(_ text: String) throws -> Double {
        try checked(try Quantity.parse(text, as: .throughput).value, computeThroughput, text: text, kind: .throughput)
    }

    /// Parses a byte size as typed and checks it against `range`.
    public static func parseSize(_ text: String, range: ValueRange) throws -> Double {
        try checked(try Quantity.parse(text, as: .size).value, range, text: text, kind: .size)
    }

    static func checked(_ value: Double, _ range: ValueRange, text: String, kind: Quantity.Kind) throws -> Double {
        if let violation = range.violation(value) { throw QuantityError(text: text, kind: kind, violation) }
        return value
    }
}
