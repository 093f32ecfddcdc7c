import Foundation

/// A network trace: link capacity over time, piecewise constant from each sample to the next.
///
/// A rate of 0 is an outage (nothing can be sent until the capacity returns); each direction must
/// carry something somewhere in the trace. Readers for the formats real traces come in (splitd's
/// CSV, CSV with named columns and units, mahimahi, two-column Mbit/s logs) are in `TraceFormat`.
public struct NetworkTrace: Sendable, Equatable {
    /// One measurement.
    public struct Sample: Sendable, Equatable {
        public var timeSeconds: Double
        /// Device → server capacity, bit/s (0: outage).
        public var uplinkBitsPerSecond: Double
        /// Server → device capacity, bit/s (0: outage).
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
    /// plus the mean sample spacing (so the last sample also holds for a while).
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
        // A direction that carries nothing within the trace would stall every transfer forever.
        for (column, rate) in [("uplink_bps", \Sample.uplinkBitsPerSecond), ("downlink_bps", \Sample.downlinkBitsPerSecond)] {
            let carries = samples.indices.contains { index in
                samples[index][keyPath: rate] > 0 && samples[index].timeSeconds < duration
            }
            if !carries {
                throw TraceError(
                    line: nil, column: column,
                    "the trace carries nothing this way: every sample within its duration is 0 bit/s (an outage throughout)")
            }
        }
        self.samples = samples
        self.durationSeconds = duration
    }

    /// The sample in effect at `time` (the latest at or before it; the first before the trace starts).
    public func sample(at time: Double) -> Sample {
        samples[index(at: time)]
    }

    /// Index of the sample in effect at `time` (see `sample(at:)`).
    func index(at time: Double) -> Int {
        var low = 0, high = samples.count - 1
        guard time >= samples[0].timeSeconds else { return 0 }
        while low < high {
            let middle = (low + high + 1) / 2
            if samples[middle].timeSeconds <= time { low = middle } else { high = middle - 1 }
        }
        return low
    }

    /// The time-weighted mean round trip over the trace, or nil when no sample has one.
    public var meanRTTSeconds: Double? {
        guard samples.contains(where: { $0.rttSeconds != nil }) else { return nil }
        var weighted = 0.0, covered = 0.0
        for (index, sample) in samples.enumerated() {
            guard let rtt = sample.rttSeconds else { continue }
            let end = min(index + 1 < samples.count ? samples[index + 1].timeSeconds : durationSeconds, durationSeconds)
            let length = max(0, end - sample.timeSeconds)
            weighted += rtt * length
            covered += length
        }
        return covered > 0 ? weighted / covered : samples.compactMap(\.rttSeconds).first
    }

    /// The same trace with every rate multiplied by `factor` (a what-if: the same fluctuations on a
    /// faster or slower link).
    public func scaled(by factor: Double) throws -> NetworkTrace {
        try NetworkTrace(
            samples: samples.map {
                Sample(
                    timeSeconds: $0.timeSeconds, uplinkBitsPerSecond: $0.uplinkBitsPerSecond * factor,
                    downlinkBitsPerSecond: $0.downlinkBitsPerSecond * factor, rttSeconds: $0.rttSeconds)
            }, durationSeconds: durationSeconds)
    }

    /// The same trace with a different duration (`--duration`: cut or extend the last sample).
    public func with(durationSeconds: Double) throws -> NetworkTrace {
        try NetworkTrace(samples: samples.filter { $0.timeSeconds < durationSeconds || $0 == samples[0] }, durationSeconds: durationSeconds)
    }

    static func check(_ sample: Sample, line: Int?, index: Int) throws {
        let location = line.map { _ in "" } ?? "sample \(index): "
        guard sample.timeSeconds.isFinite && sample.timeSeconds >= 0 else {
            throw TraceError(line: line, column: "time_seconds", "\(location)must be a finite number >= 0, got \(sample.timeSeconds)")
        }
        for (column, value) in [("uplink_bps", sample.uplinkBitsPerSecond), ("downlink_bps", sample.downlinkBitsPerSecond)]
        where !(value.isFinite && value >= 0) {
            throw TraceError(line: line, column: column, "\(location)must be a finite rate >= 0 bit/s (0: outage), got \(value)")
        }
        if let rtt = sample.rttSeconds, !(rtt.isFinite && rtt >= 0) {
            throw TraceError(line: line, column: "rtt_seconds", "\(location)must be a finite number >= 0, got \(rtt)")
        }
    }
}

/// Why a trace was rejected: the file, line and column at fault and what was expected.
public struct TraceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file at fault, when the trace came from one.
    public var file: String?
    public let line: Int?
    public let column: String?
    public let reason: String

    public init(file: String? = nil, line: Int?, column: String? = nil, _ reason: String) {
        self.file = file
        self.line = line
        self.column = column
        self.reason = reason
    }

    /// The same error, naming `file` (unless it names one already).
    public func naming(file: String) -> TraceError {
        var error = self
        if error.file == nil { error.file = file }
        return error
    }

    public var description: String {
        var location: [String] = []
        if let line { location.append("line \(line)") }
        if let column { location.append("column '\(column)'") }
        let text = location.isEmpty ? reason : "\(location.joined(separator: ", ")): \(reason)"
        return file.map { "\($0): \(text)" } ?? text
    }
}

extension NetworkTrace {
    /// The CSV header splitd writes; `rtt_seconds` is optional.
    public static let csvColumns = ["time_seconds", "uplink_bps", "downlink_bps", "rtt_seconds"]

    /// CSV text of the trace (with `rtt_seconds` when every sample has one).
    public func csv() -> String {
        let withRTT = samples.allSatisfy { $0.rttSeconds != nil }
        var lines = [withRTT ? Self.csvColumns.joined(separator: ",") : Self.csvColumns.prefix(3).joined(separator: ",")]
        lines.reserveCapacity(samples.count + 1)
        for sample in samples {
            var fields = [Self.format(sample.timeSeconds), Self.format(sample.uplinkBitsPerSecond), Self.format(sample.downlinkBitsPerSecond)]
            if withRTT { fields.append(Self.format(sample.rttSeconds!)) }
            lines.append(fields.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(format: "%.12g", value)
    }
}
