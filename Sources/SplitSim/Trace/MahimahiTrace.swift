/// mahimahi traces (Winstein et al., NSDI 2013): a pair of files `NAME.up` and `NAME.down`, each
/// line one delivery opportunity for a 1500-byte packet at an integer millisecond from the start;
/// several lines may share a millisecond and a stretch without lines is an outage.
///
/// Read exactly at the data's resolution: millisecond `k` carries `n_k · 1500 · 8` bits, where
/// `n_k` is the number of lines reading `k`, spread evenly over `[k, k+1)` ms (the capacity in
/// that millisecond is `n_k · 12 Mbit/s`). mahimahi loops each file at its last timestamp; the
/// trace here lasts `D` = the shorter file's last timestamp (ms): the longer file is cut there,
/// and the opportunity at `D` itself, the shorter file's wrap-around point, counts at 0.
/// Timestamps must be integers ≥ 0 that never decrease; blank lines are skipped.
extension NetworkTrace {
    /// Bits one mahimahi delivery opportunity carries: one 1500-byte packet.
    public static let mahimahiBitsPerOpportunity = 1500.0 * 8

    /// Reads a mahimahi pair (the files' bytes; their names for errors).
    public init(mahimahiUplink uplink: [UInt8], downlink: [UInt8], uplinkFile: String? = nil, downlinkFile: String? = nil) throws {
        let up = try Self.mahimahiTimestamps(uplink, file: uplinkFile ?? "uplink")
        let down = try Self.mahimahiTimestamps(downlink, file: downlinkFile ?? "downlink")
        let length = min(up.last!, down.last!)
        guard length > 0 else {
            throw TraceError(
                file: up.last! == 0 ? uplinkFile : downlinkFile, line: nil, column: "timestamp_ms",
                "spans no time: its last delivery opportunity is at 0 ms")
        }
        func counts(_ timestamps: [Int]) -> [Int32] {
            var counts = [Int32](repeating: 0, count: length)
            let wraps = timestamps.last! == length
            for time in timestamps {
                if time < length {
                    counts[time] += 1
                } else if time == length && wraps {
                    counts[0] += 1
                }
            }
            return counts
        }
        let upCounts = counts(up), downCounts = counts(down)
        let bitsPerSecondPerOpportunity = Self.mahimahiBitsPerOpportunity / 1e-3
        var samples: [Sample] = []
        for millisecond in 0..<length
        where millisecond == 0 || upCounts[millisecond] != upCounts[millisecond - 1] || downCounts[millisecond] != downCounts[millisecond - 1] {
            samples.append(
                Sample(
                    timeSeconds: Double(millisecond) / 1000, uplinkBitsPerSecond: Double(upCounts[millisecond]) * bitsPerSecondPerOpportunity,
                    downlinkBitsPerSecond: Double(downCounts[millisecond]) * bitsPerSecondPerOpportunity))
        }
        do {
            try self.init(samples: samples, durationSeconds: Double(length) / 1000)
        } catch let error as TraceError {
            let file = error.column == "uplink_bps" ? uplinkFile : error.column == "downlink_bps" ? downlinkFile : nil
            throw file.map { error.naming(file: $0) } ?? error
        }
    }

    /// The timestamps of one mahimahi file, checked: integers ≥ 0, never decreasing, at least one.
    static func mahimahiTimestamps(_ bytes: [UInt8], file: String) throws -> [Int] {
        var timestamps: [Int] = []
        timestamps.reserveCapacity(bytes.count / 5)
        var line = 1
        var value = 0, digits = 0
        var sawContent = false, trailingSpace = false
        var invalid: UInt8? = nil
        func finish() throws {
            defer {
                value = 0
                digits = 0
                sawContent = false
                trailingSpace = false
                invalid = nil
            }
            guard sawContent else { return }
            if let invalid {
                let shown =
                    invalid == UInt8(ascii: "-")
                    ? "a negative number" : invalid == UInt8(ascii: ".") ? "a fraction" : "a character that is no digit (byte \(invalid))"
                throw TraceError(file: file, line: line, column: "timestamp_ms", "expected an integer number of milliseconds >= 0, found \(shown)")
            }
            guard digits > 0 else { throw TraceError(file: file, line: line, column: "timestamp_ms", "expected an integer number of milliseconds") }
            guard digits <= 12 else {
                throw TraceError(file: file, line: line, column: "timestamp_ms", "is beyond 10^12 ms (31 years): not a trace timestamp")
            }
            if let previous = timestamps.last, value < previous {
                throw TraceError(file: file, line: line, column: "timestamp_ms", "timestamps must not decrease (\(value) ms after \(previous) ms)")
            }
            timestamps.append(value)
        }
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\n"):
                try finish()
                line += 1
            case UInt8(ascii: "\r"):
                try finish()
                line += 1
                if index < bytes.count && bytes[index] == UInt8(ascii: "\n") { index += 1 }
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                sawContent = true
                if trailingSpace { invalid = invalid ?? UInt8(ascii: " ") }
                if digits <= 12 { value = value * 10 + Int(byte - UInt8(ascii: "0")) }
                digits += 1
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                if digits > 0 { trailingSpace = true }
            default:
                sawContent = true
                invalid = invalid ?? byte
            }
        }
        try finish()
        guard !timestamps.isEmpty else {
            throw TraceError(file: file, line: nil, column: "timestamp_ms", "trace is empty: expected one millisecond timestamp per line")
        }
        return timestamps
    }
}

/// Two-column throughput logs, `time_seconds throughput_Mbit_per_s` per line separated by
/// whitespace (the Pensieve repository's cooked traces: FCC broadband, one line every 5 s, and
/// the Norway HSDPA 3G logs, about one a second). They measure the downlink only: the uplink is
/// `uplinkRatio × downlink`, which the caller must give (there is no default). Times must be
/// finite, ≥ 0 and strictly increasing; throughputs finite and ≥ 0 (0: outage); blank lines and
/// `#` comments are skipped; the duration is the last time plus the mean spacing.
extension NetworkTrace {
    /// Reads a two-column trace.
    public init(twoColumn text: String, uplinkRatio: Double?, durationSeconds: Double? = nil) throws {
        guard let uplinkRatio else {
            throw TraceError(
                line: nil, column: "uplink ratio",
                "a two-column trace measures the downlink only: say how to derive the uplink with an uplink ratio "
                    + "(--uplink-ratio R: uplink = R x downlink)"
            )
        }
        try Self.checkUplinkRatio(uplinkRatio)
        let columns = ["1 (time, s)", "2 (downlink, Mbit/s)"]
        var samples: [Sample] = []
        for (offset, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = offset + 1
            let content = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if content.isEmpty || content.hasPrefix("#") { continue }
            let fields = content.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 2 else {
                throw TraceError(line: line, "expected 2 fields (time_seconds throughput_Mbit_per_s), found \(fields.count)")
            }
            var values: [Double] = []
            for (index, field) in fields.enumerated() {
                guard let number = Double(field) else { throw TraceError(line: line, column: columns[index], "'\(field)' is not a number") }
                guard number.isFinite && number >= 0 else {
                    throw TraceError(
                        line: line, column: columns[index], "must be a finite number >= 0\(index == 1 ? " (0: outage)" : ""), got \(field)")
                }
                values.append(number)
            }
            if let previous = samples.last, !(values[0] > previous.timeSeconds) {
                throw TraceError(line: line, column: columns[0], "times must increase strictly (\(values[0]) after \(previous.timeSeconds))")
            }
            let downlink = values[1] * 1e6
            samples.append(Sample(timeSeconds: values[0], uplinkBitsPerSecond: uplinkRatio * downlink, downlinkBitsPerSecond: downlink))
        }
        guard !samples.isEmpty else { throw TraceError(line: nil, "trace is empty: expected lines 'time_seconds throughput_Mbit_per_s'") }
        try self.init(samples: samples, durationSeconds: durationSeconds)
    }
}
