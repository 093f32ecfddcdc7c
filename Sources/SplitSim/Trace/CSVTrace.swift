import Foundation

/// CSV traces with named columns and units (splitd's own CSV is one of them).
///
/// The first line that is neither blank nor a `#` comment is the header. Each column names a
/// quantity and its unit: `NAME_UNIT`, `NAME (UNIT)` or `NAME [UNIT]`, where NAME is `time`
/// (`t`, `timestamp`), `uplink` (`up`, `ul`), `downlink` (`down`, `dl`) or `rtt`, and UNIT is
/// `s`/`seconds`/`ms`/`us`/`ns` for times and bits (`bps`, `kbps`, `Mbit/s`, `mbps`, `Gbps`;
/// `b` is a bit, case does not matter) or bytes (`Bps`, `kB/s`, `MB/s`: a capital `B`) per second
/// for rates. splitd writes `time_seconds,uplink_bps,downlink_bps[,rtt_seconds]`. Columns may come
/// in any order; the separator is a comma, or a semicolon or tab when the header has no comma.
/// `time` and `downlink` are required; `uplink` too unless an uplink ratio is given (a
/// downlink-only trace); a column without a unit, an unknown column or a repeated quantity is
/// refused naming it. Values must be finite numbers ≥ 0 (a rate of 0 is an outage) with times
/// strictly increasing; LF, CRLF or CR line breaks.
extension NetworkTrace {
    /// The quantities a CSV column can hold.
    enum CSVQuantity: String, CaseIterable {
        case time, uplink, downlink, rtt

        static let names: [String: CSVQuantity] = [
            "time": .time, "t": .time, "timestamp": .time, "uplink": .uplink, "up": .uplink, "ul": .uplink, "downlink": .downlink,
            "down": .downlink, "dl": .downlink, "rtt": .rtt,
        ]

        var isRate: Bool { self == .uplink || self == .downlink }
    }

    /// One header field read: the quantity and the factor to the base unit (s or bit/s).
    struct CSVColumn {
        var quantity: CSVQuantity
        var scale: Double
    }

    static let durationUnits: [String: Double] = [
        "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "ms": 1e-3, "msec": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3,
        "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "microseconds": 1e-6, "ns": 1e-9,
    ]

    /// The factor of a rate unit to bit/s, or nil when it is not one.
    static func rateScale(_ unit: String) -> Double? {
        let prefixes: [Character: Double] = ["k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12]
        var body = Substring(unit)
        var scale = 1.0
        if body.count > 1, let first = body.first, let prefix = prefixes[Character(first.lowercased())] {
            scale = prefix
            body = body.dropFirst()
        }
        if ["Bps", "B/s", "Byte/s", "Bytes/s"].contains(String(body)) { return scale * 8 }
        if !body.contains("B") && ["bps", "bit/s", "bits/s", "b/s"].contains(body.lowercased()) { return scale }
        return nil
    }

    /// Reads one header field, or throws naming it.
    static func csvColumn(_ field: String, line: Int) throws -> CSVColumn {
        var name = field, unit = ""
        if let open = field.firstIndex(where: { $0 == "(" || $0 == "[" }), let last = field.last, last == ")" || last == "]" {
            name = String(field[..<open]).trimmingCharacters(in: .whitespaces)
            unit = String(field[field.index(after: open)..<field.index(before: field.endIndex)]).trimmingCharacters(in: .whitespaces)
        } else if let underscore = field.firstIndex(of: "_") {
            name = String(field[..<underscore])
            unit = String(field[field.index(after: underscore)...])
        }
        let expected = "expected time, uplink, downlink and optionally rtt, each with a unit (time_seconds, uplink_bps, 'downlink (Mbit/s)', rtt_ms)"
        guard let quantity = CSVQuantity.names[name.lowercased()] else { throw TraceError(line: line, column: field, "unknown column; \(expected)") }
        guard !unit.isEmpty else {
            throw TraceError(
                line: line, column: field,
                "column has no unit; name it like \(quantity.rawValue)_\(quantity.isRate ? "bps" : "seconds") or "
                    + "'\(quantity.rawValue) (\(quantity.isRate ? "Mbit/s" : "ms"))'"
            )
        }
        if quantity.isRate {
            guard let scale = rateScale(unit) else {
                throw TraceError(
                    line: line, column: field, "unknown rate unit '\(unit)'; expected bps, kbps, Mbit/s, mbps, Gbps (bits) or Bps, kB/s, MB/s (bytes)"
                )
            }
            return CSVColumn(quantity: quantity, scale: scale)
        }
        guard let scale = durationUnits[unit.lowercased()] ?? durationUnits[unit] else {
            throw TraceError(line: line, column: field, "unknown time unit '\(unit)'; expected s, seconds, ms, us or ns")
        }
        return CSVColumn(quantity: quantity, scale: scale)
    }

    /// Parses CSV with named columns and units (see the extension's documentation). A trace
    /// without an uplink column takes `uplinkRatio × downlink` as its uplink when a ratio is given.
    public init(csv text: String, durationSeconds: Double? = nil, uplinkRatio: Double? = nil) throws {
        try Self.checkUplinkRatio(uplinkRatio)
        var columns: [CSVColumn]? = nil
        var headerFields: [String] = []
        var separator: Character = ","
        var samples: [Sample] = []
        // Split on any line break: "\r\n" is one Character in Swift, so splitting on "\n" would
        // read a whole Windows-edited file as a single line.
        for (offset, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = offset + 1
            let content = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if content.isEmpty || content.hasPrefix("#") { continue }
            guard let header = columns else {
                if !content.contains(",") { separator = content.contains(";") ? ";" : content.contains("\t") ? "\t" : "," }
                headerFields = content.split(separator: separator, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
                var read: [CSVColumn] = []
                for field in headerFields {
                    let column = try Self.csvColumn(field, line: line)
                    if let earlier = read.firstIndex(where: { $0.quantity == column.quantity }) {
                        throw TraceError(line: line, column: field, "repeats the \(column.quantity.rawValue) of column '\(headerFields[earlier])'")
                    }
                    read.append(column)
                }
                for required in [CSVQuantity.time, .downlink] + (uplinkRatio == nil ? [.uplink] : [])
                where !read.contains(where: { $0.quantity == required }) {
                    let hint = required == .uplink ? "; a downlink-only trace needs an uplink ratio (--uplink-ratio)" : ""
                    throw TraceError(
                        line: line, column: "\(required.rawValue)_\(required == .time ? "seconds" : "bps")",
                        "missing column; the header must name time, uplink and downlink with units, "
                            + "e.g. time_seconds,uplink_bps,downlink_bps[,rtt_seconds]\(hint)"
                    )
                }
                columns = read
                continue
            }
            let fields = content.split(separator: separator, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count == header.count else { throw TraceError(line: line, "expected \(header.count) fields, found \(fields.count)") }
            var values: [CSVQuantity: Double] = [:]
            for (index, column) in header.enumerated() {
                guard let number = Double(fields[index]) else {
                    throw TraceError(line: line, column: headerFields[index], "'\(fields[index])' is not a number")
                }
                guard number.isFinite else {
                    throw TraceError(line: line, column: headerFields[index], "'\(fields[index])' is not a finite number")
                }
                guard number >= 0 else {
                    throw TraceError(
                        line: line, column: headerFields[index], "must be >= 0\(column.quantity.isRate ? " (0: outage)" : ""), got \(number)")
                }
                values[column.quantity] = number * column.scale
            }
            let downlink = values[.downlink]!
            let sample = Sample(
                timeSeconds: values[.time]!, uplinkBitsPerSecond: values[.uplink] ?? (uplinkRatio ?? 1) * downlink,
                downlinkBitsPerSecond: downlink, rttSeconds: values[.rtt])
            try Self.check(sample, line: line, index: samples.count)
            if let previous = samples.last, !(sample.timeSeconds > previous.timeSeconds) {
                let timeColumn = header.firstIndex { $0.quantity == .time }.map { headerFields[$0] } ?? "time"
                throw TraceError(
                    line: line, column: timeColumn, "times must increase strictly (\(sample.timeSeconds) after \(previous.timeSeconds))")
            }
            samples.append(sample)
        }
        guard columns != nil else {
            throw TraceError(line: nil, "trace is empty: expected a header such as time_seconds,uplink_bps,downlink_bps[,rtt_seconds]")
        }
        guard !samples.isEmpty else { throw TraceError(line: nil, "trace has a header but no samples") }
        try self.init(samples: samples, durationSeconds: durationSeconds)
    }

    /// Throws unless `ratio` is nil or a finite number > 0.
    static func checkUplinkRatio(_ ratio: Double?) throws {
        if let ratio, !(ratio.isFinite && ratio > 0) {
            throw TraceError(line: nil, column: "uplink ratio", "must be a finite number > 0 (uplink = ratio x downlink), got \(ratio)")
        }
    }
}
