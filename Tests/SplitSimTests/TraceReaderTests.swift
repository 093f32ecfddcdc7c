import Foundation
import SplitCore
import SplitTestSupport
import Testing

@testable import SplitSim

/// The real traces in `../shared/traces` (relative to the package root; not copied into the project).
enum SharedTraces {
    static let root = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/traces")
    static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }
}

@Suite("Trace readers: splitd CSV, CSV with units, mahimahi, two-column")
struct TraceReaderTests {
    @Test("every trace in ../shared/traces reads: 4 mahimahi pairs and every two-column log, with outages kept")
    func everySharedTrace() throws {
        let sources = try TraceFiles.sources(SharedTraces.root.path)
        let mahimahi = sources.filter { $0.format == .mahimahi }, logs = sources.filter { $0.format == .twoColumn }
        let names = try FileManager.default.contentsOfDirectory(atPath: SharedTraces.path("pensieve")).filter {
            !$0.hasSuffix(".md") && !$0.hasPrefix(".")
        }
        #expect(mahimahi.count == 4 && logs.count == names.count && sources.count == mahimahi.count + logs.count)
        var outages = 0
        for source in sources {
            let trace = try TraceFiles.load(source, uplinkRatio: 0.5)
            #expect(trace.durationSeconds > trace.samples[0].timeSeconds, "\(source.name)")
            #expect(trace.samples.allSatisfy { $0.uplinkBitsPerSecond >= 0 && $0.downlinkBitsPerSecond >= 0 })
            if trace.samples.contains(where: { $0.downlinkBitsPerSecond == 0 || $0.uplinkBitsPerSecond == 0 }) { outages += 1 }
            _ = try LinkTimeline(trace, defaultRTTSeconds: 0.01)
        }
        #expect(outages >= 15, "the shared traces hold zero-capacity stretches, and they are read as outages")
    }

    @Test("a mahimahi pair carries exactly 1500 bytes per line within its duration, by prefix or by either file")
    func mahimahiExact() throws {
        let prefix = SharedTraces.path("mahimahi/Verizon-LTE-short")
        let byPrefix = try TraceFiles.sources(prefix), byUp = try TraceFiles.sources(prefix + ".up"),
            byDown = try TraceFiles.sources(prefix + ".down")
        #expect(byPrefix == byUp && byUp == byDown && byPrefix.count == 1 && byPrefix[0].format == .mahimahi)
        let trace = try TraceFiles.load(byPrefix[0], uplinkRatio: nil)
        let timeline = try LinkTimeline(trace, defaultRTTSeconds: 0)
        func lines(_ file: String) throws -> [Int] {
            try String(contentsOfFile: file, encoding: .utf8).split(whereSeparator: \.isNewline).map { try #require(Int($0)) }
        }
        let up = try lines(prefix + ".up"), down = try lines(prefix + ".down")
        let length = min(up.last!, down.last!)
        #expect(trace.durationSeconds == Double(length) / 1000)
        // Every line before the shorter file's end, and that file's last line (its wrap-around point).
        func expectedBits(_ stamps: [Int]) -> Double {
            Double(stamps.filter { $0 < length || ($0 == length && stamps.last! == length) }.count) * 12_000
        }
        #expect(abs(timeline.uplink.periodBits - expectedBits(up)) <= 1e-6 * expectedBits(up))
        #expect(abs(timeline.downlink.periodBits - expectedBits(down)) <= 1e-6 * expectedBits(down))
        // A millisecond with three opportunities carries 36 kbit: 36 Mbit/s in that millisecond.
        let counts = Dictionary(grouping: up.filter { $0 < length }, by: { $0 }).mapValues(\.count)
        if let (millisecond, count) = counts.first(where: { $0.value == 3 }) {
            #expect(abs(timeline.uplink.rate(at: Double(millisecond) / 1000 + 0.0005) - Double(count) * 12e6) < 1e-3)
        }
    }

    @Test("mahimahi by hand: lines sharing a millisecond add up, gaps are outages, the shorter file sets the length")
    func mahimahiByHand() throws {
        let up = Array("1\n1\n3\n5\n".utf8), down = Array("0\n2\n2\n2\n4\n6\n7\n".utf8)
        let trace = try NetworkTrace(mahimahiUplink: up, downlink: down, uplinkFile: "x.up", downlinkFile: "x.down")
        let timeline = try LinkTimeline(trace, defaultRTTSeconds: 0)
        #expect(trace.durationSeconds == 0.005)
        // Up: two at 1 ms, one at 3 ms, and its last line (5 ms = the length) wraps to 0 ms.
        #expect(timeline.uplink.periodBits == 4 * 12_000)
        #expect(timeline.uplink.rate(at: 0.0015) == 24e6 && timeline.uplink.rate(at: 0.0025) == 0)
        // Down: 0, three at 2 ms, 4; the lines at 6 and 7 ms are past the length.
        #expect(timeline.downlink.periodBits == 5 * 12_000)
        #expect(timeline.downlink.rate(at: 0.0021) == 36e6)
    }

    @Test("two-column logs need an uplink ratio and take uplink = ratio x downlink; the samples are the lines")
    func twoColumn() throws {
        let path = SharedTraces.path("pensieve/bus.ljansbakken-oslo-report.2010-09-28_1407CEST.log")
        let source = try #require(try TraceFiles.sources(path).first)
        #expect(source.format == .twoColumn)
        let error = try #require(throws: TraceError.self) { try TraceFiles.load(source, uplinkRatio: nil) }
        #expect(error.description.contains("uplink ratio") && error.description.contains(path))
        let trace = try TraceFiles.load(source, uplinkRatio: 0.25)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(whereSeparator: \.isNewline)
        #expect(trace.samples.count == lines.count)
        for (sample, line) in zip(trace.samples, lines) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            #expect(sample.timeSeconds == Double(fields[0]) && sample.downlinkBitsPerSecond == Double(fields[1])! * 1e6)
            #expect(sample.uplinkBitsPerSecond == 0.25 * sample.downlinkBitsPerSecond)
        }
    }

    @Test("CSV columns with units read the same link however they are written; splitd's CSV is one of them")
    func csvUnits() throws {
        let reference = try NetworkTrace(csv: "time_seconds,uplink_bps,downlink_bps,rtt_seconds\n0,1e6,2e6,0.01\n1.5,0,8e6,0.02\n")
        for text in [
            "time_ms,uplink_kbps,downlink_mbps,rtt_ms\n0,1000,2,10\n1500,0,8,20\n",
            "rtt (ms);time [s];downlink (Mbit/s);uplink (kB/s)\n10;0;2;125\n20;1.5;8;0\n",
            "# a lab trace\nt_us\tdl_Gbps\tul_bit/s\trtt_s\n0\t0.002\t1000000\t0.01\n1500000\t0.008\t0\t0.02\n",
            "timestamp_seconds,up_MB/s,down_bps,rtt_seconds\r\n0,0.125,2e6,0.01\r\n1.5,0,8e6,0.02\r\n",
        ] {
            let trace = try NetworkTrace(csv: text)
            #expect(trace.samples.count == reference.samples.count, "\(text)")
            for (sample, expected) in zip(trace.samples, reference.samples) {
                for (value, want) in [
                    (sample.timeSeconds, expected.timeSeconds), (sample.uplinkBitsPerSecond, expected.uplinkBitsPerSecond),
                    (sample.downlinkBitsPerSecond, expected.downlinkBitsPerSecond), (sample.rttSeconds!, expected.rttSeconds!),
                ] {
                    #expect(abs(value - want) <= 1e-12 * max(1, want), "\(text)")
                }
            }
        }
        // A downlink-only CSV takes an uplink ratio, like a two-column log.
        let downlinkOnly = try NetworkTrace(csv: "time_s,downlink_mbps\n0,4\n", uplinkRatio: 0.5)
        #expect(downlinkOnly.samples[0].uplinkBitsPerSecond == 2e6)
    }

    @Test(
        "negative, NaN and unsorted values are refused naming file, line and column, in every format",
        arguments: [
            ("csv", "time_seconds,uplink_bps,downlink_bps\n0,1e6,1e6\n1,-5,1e6\n", 3, "uplink_bps"),
            ("csv", "time_ms,uplink (Mbit/s),downlink (Mbit/s)\n0,1,1\n10,nan,1\n", 3, "uplink (Mbit/s)"),
            ("csv", "time_ms,uplink_mbps,downlink_mbps\n0,1,1\n10,1,1\n5,1,1\n", 4, "time_ms"),
            ("csv", "time,uplink_bps,downlink_bps\n0,1,1\n", 1, "time"),
            ("csv", "time_s,uplink_furlongs,downlink_bps\n0,1,1\n", 1, "uplink_furlongs"),
            ("two-column", "0 1.5\n1 -2\n", 2, "2 (downlink, Mbit/s)"),
            ("two-column", "0 1.5\n1 nan\n", 2, "2 (downlink, Mbit/s)"),
            ("two-column", "0 1.5\n1 2\n0.5 2\n", 3, "1 (time, s)"),
            ("mahimahi", "1\n5\n-3\n", 3, "timestamp_ms"),
            ("mahimahi", "1\n5\n3\n", 3, "timestamp_ms"),
            ("mahimahi", "1\n5\n7.5\n", 3, "timestamp_ms"),
        ])
    func refusals(format: String, text: String, line: Int, column: String) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("traces-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file: String
        if format == "mahimahi" {
            try Data(text.utf8).write(to: directory.appendingPathComponent("link.up"))
            try Data("1\n2\n9\n".utf8).write(to: directory.appendingPathComponent("link.down"))
            file = directory.appendingPathComponent("link.up").path
        } else {
            file = directory.appendingPathComponent("trace.txt").path
            try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        }
        let source = try #require(try TraceFiles.sources(file, format: TraceFormat(name: format)).first)
        let error = try #require(throws: TraceError.self) { try TraceFiles.load(source, uplinkRatio: 1) }
        #expect(error.file == file, "\(error)")
        #expect(error.line == line, "\(error)")
        #expect(error.column == column, "\(error)")
        #expect(error.description.hasPrefix(file + ": line \(line), column '\(column)'"))
    }

    @Test("formats are detected from the first line; a lone mahimahi file or an unknown shape is refused with the way out")
    func detection() throws {
        #expect(TraceFormat.detect(text: "# comment\n\ntime_seconds,uplink_bps,downlink_bps\n") == .csv)
        #expect(TraceFormat.detect(text: "0.0\t2.29\n1.01\t1.35\n") == .twoColumn)
        #expect(TraceFormat.detect(text: "831\n880\n") == .mahimahi)
        #expect(TraceFormat.detect(text: "1 2 3\n") == nil)
        #expect(TraceFormat(name: "pensieve") == .twoColumn && TraceFormat(name: "splitd") == .csv && TraceFormat(name: "pcap") == nil)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("traces-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let lone = directory.appendingPathComponent("lonely.txt").path
        try Data("1\n2\n3\n".utf8).write(to: URL(fileURLWithPath: lone))
        #expect(throws: TraceError.self) { try TraceFiles.sources(lone) }
        #expect(throws: TraceError.self) { try TraceFiles.sources(directory.appendingPathComponent("missing").path) }
        let up = directory.appendingPathComponent("half.up").path
        try Data("1\n2\n".utf8).write(to: URL(fileURLWithPath: up))
        let error = try #require(throws: TraceError.self) { try TraceFiles.sources(up) }
        #expect(error.reason.contains("half.down"))
    }

    @Test("a summary by hand: mean, percentiles of 1 s windows, outage seconds and a sparkline")
    func summary() throws {
        // Up: 4 s at 1 Mbit/s, 2 s of outage, 4 s at 3 Mbit/s; down twice that.
        let trace = try NetworkTrace(
            samples: [
                .init(timeSeconds: 0, uplinkBitsPerSecond: 1e6, downlinkBitsPerSecond: 2e6),
                .init(timeSeconds: 4, uplinkBitsPerSecond: 0, downlinkBitsPerSecond: 4e6),
                .init(timeSeconds: 6, uplinkBitsPerSecond: 3e6, downlinkBitsPerSecond: 6e6),
            ], durationSeconds: 10)
        let summary = try TraceSummary(trace)
        #expect(summary.durationSeconds == 10 && summary.uplink.windowBitsPerSecond.count == 10)
        #expect(abs(summary.uplink.meanBitsPerSecond - 1.6e6) < 1e-6)
        #expect(summary.uplink.outageSeconds == 2 && summary.downlink.outageSeconds == 0)
        // Sorted windows: 0, 0, 1, 1, 1, 1, 3, 3, 3, 3 (Mbit/s): p5 → rank 1, p25 → rank 3, p50 → rank 5, p95 → rank 10.
        #expect(summary.uplink.percentiles[5] == 0 && summary.uplink.percentiles[25] == 1e6 && summary.uplink.percentiles[50] == 1e6)
        #expect(summary.uplink.percentiles[95] == 3e6)
        let line = TraceSummary.sparkline(summary.uplink.windowBitsPerSecond)
        #expect(line.count == 10 && Array(line)[4] == " " && Array(line)[9] == "█")
        let text = summary.text(name: "lab")
        #expect(text.hasPrefix("lab: 10.0 s") && text.contains("outage 2 s"))
        #expect(summary.svg(title: "lab").hasPrefix("<svg"))
    }
}
