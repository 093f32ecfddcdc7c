import Foundation

/// A network trace: link rates over time, piecewise constant from each sample to the next.
public struct NetworkTrace: Sendable, Equatable {
    /// One measurement.
    public struct Sample: Sendable, Equatable {
        public var timeSeconds: Double
        public var uplinkBitsPerSecond: Double
        public var downlinkBitsPerSecond: Double
        /// Round-trip time, or nil when the trace has none (the simulation's default applies).
        public var rttSeconds: Double?

        public init(timeSeconds: Double, uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double, rttSeconds: Double? = nil) {
            self.timeSeconds = timeSeconds
            self.uplinkBitsPerSecond = uplinkBitsPerSecond
            self.downlinkBitsPerSecond = downlinkBitsPerSecond
            self.rttSeconds = rttSeconds
        }
    }

    /// Samples in strictly increasing time order.
    public let samples: [Sample]
    /// Length of the trace: the simulation runs from the first sample's time to this.
    public let durationSeconds: Double

    /// Creates a trace, checking order and values; `duration` defaults to the last sample's time
    /// plus the median sample spacing (so the last sample also holds for a while).
    public init(samples: [Sample], durationSeconds: Double? = nil) throws {
        guard let first = samples.first else { throw TraceError(line: nil, "trace has no samples") }
        for (index, sample) in samples.enumerated() {
            try Self.check(sample, line: nil, index: index)
            if index > 0 && !(sample.timeSeconds > samples[index - 1].timeSeconds) {
                throw TraceError(
                    line: nil, column: "time_seconds",
                    "sample \(index): times must increase strictly (\(sample.timeSeconds) after \(samples[index - 1].timeSeconds))")
            }
        }
        let spacing = samples.count > 1 ? (samples.last!.timeSeconds - first.timeSeconds) / Double(samples.count - 1) : 1
        let duration = durationSeconds ?? (samples.last!.timeSeconds + spacing)
        guard duration.isFinite && duration > first.timeSeconds else {
            throw TraceError(line: nil, column: "duration", "must be after the first sample (\(first.timeSeconds) s), got \(duration)")
        }
        self.samples = samples
        self.durationSeconds = duration
    }

    /// The sample in effect at `time` (the latest at or before it; the first before the trace starts).
    public func sample(at time: Double) -> Sample {
        var low = 0, high = samples.count - 1
        guard time >= samples[0].timeSeconds else { return samples[0] }
        while low < high {
            let middle = (low + high + 1) / 2
            if samples[middle].timeSeconds <= time { low = middle } else { high = middle - 1 }
        }
        return samples[low]
    }

    static func check(_ sample: Sample, line: Int?, index: Int) throws {
        let location = line.map { _ in "" } ?? "sample \(index): "
        guard sample.timeSeconds.isFinite && sample.timeSeconds >= 0 else {
            throw TraceError(line: line, column: "time_seconds", "\(location)must be a finite number >= 0, got \(sample.timeSeconds)")
        }
        for (column, value) in [("uplink_bps", sample.uplinkBitsPerSecond), ("downlink_bps", sample.downlinkBitsPerSecond)]
        where !(value.isFinite && value > 0) {
            throw TraceError(line: line, column: column, "\(location)must be a finite rate > 0 bit/s, got \(value)")
        }
        if let rtt = sample.rttSeconds, !(rtt.isFinite && rtt >= 0) {
            throw TraceError(line: line, column: "rtt_seconds", "\(location)must be a finite number >= 0, got \(rtt)")
        }
    }
}

/// Why a trace was rejected: the line and column at fault and what was expected.
public struct TraceError: Error, Sendable, Equatable, CustomStringConvertible {
    public let line: Int?
    public let column: String?
    public let reason: String

    public init(line: Int?, column: String? = nil, _ reason: String) {
        self.line = line
        self.column = column
        self.reason = reason
    }

    public var description: String {
        var location: [String] = []
        if let line { location.append("line \(line)") }
        if let column { location.append("column '\(column)'") }
        return location.isEmpty ? reason : "\(location.joined(separator: ", ")): \(reason)"
    }
}

extension NetworkTrace {
    /// The CSV header this format uses; `rtt_seconds` is optional.
    public static let csvColumns = ["time_seconds", "uplink_bps", "downlink_bps", "rtt_seconds"]

    /// Parses CSV with header `time_seconds,uplink_bps,downlink_bps[,rtt_seconds]` (columns in any
    /// order; blank lines and lines starting with `#` are ignored; LF, CRLF or CR line breaks).
    public init(csv text: String, durationSeconds: Double? = nil) throws {
        var header: [String]? = nil
        var columnIndex: [String: Int] = [:]
        var samples: [Sample] = []
        // Split on any line break: "\r\n" is one Character in Swift, so splitting on "\n" would
        // read a whole Windows-edited file as a single line.
        for (offset, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = offset + 1
            let content = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if content.isEmpty || content.hasPrefix("#") { continue }
            let fields = content.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard let columns = header else {
                for required in Self.csvColumns.prefix(3) where !fields.contains(required) {
                    throw TraceError(
                        line: line, column: required,
                        "missing column; the header must name time_seconds,uplink_bps,downlink_bps[,rtt_seconds]")
                }
                for field in fields where !Self.csvColumns.contains(field) {
                    throw TraceError(line: line, column: field, "unknown column; expected time_seconds,uplink_bps,downlink_bps[,rtt_seconds]")
                }
                header = fields
                for (index, name) in fields.enumerated() { columnIndex[name] = index }
                continue
            }
            guard fields.count == columns.count else {
                throw TraceError(line: line, "expected \(columns.count) fields, found \(fields.count)")
            }
            func value(_ column: String) throws -> Double? {
                guard let index = columnIndex[column] else { return nil }
                guard let number = Double(fields[index]) else {
                    throw TraceError(line: line, column: column, "'\(fields[index])' is not a number")
                }
                return number
            }
            let sample = Sample(
                timeSeconds: try value("time_seconds")!, uplinkBitsPerSecond: try value("uplink_bps")!,
                downlinkBitsPerSecond: try value("downlink_bps")!, rttSeconds: try value("rtt_seconds"))
            try Self.check(sample, line: line, index: samples.count)
            if let previous = samples.last, !(sample.timeSeconds > previous.timeSeconds) {
                throw TraceError(
                    line: line, column: "time_seconds",
                    "times must increase strictly (\(sample.timeSeconds) after \(previous.timeSeconds))")
            }
            samples.append(sample)
        }
        guard header != nil else {
            throw TraceError(
                line: nil,
                "trace is empty: expected a header time_seconds,uplink_bps,downlink_bps[,rtt_seconds]")
        }
        guard !samples.isEmpty else { throw TraceError(line: nil, "trace has a header but no samples") }
        try self.init(samples: samples, durationSeconds: durationSeconds)
    }

    /// CSV text of the trace (with `rtt_seconds` when every sample has one).
    public func csv() -> String {
        let withRTT = samples.allSatisfy { $0.rttSeconds != nil }
        var lines = [withRTT ? Self.csvColumns.joined(separator: ",") : Self.csvColumns.prefix(3).joined(separator: ",")]
        for sample in samples {
            var fields = [Self.format(sample.timeSeconds), Self.format(sample.uplinkBitsPerSecond), Self.format(sample.downlinkBitsPerSecond)]
            if withRTT { fields.append(Self.format(sample.rttSeconds!)) }
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(format: "%.6g", value)
    }
}
