import Foundation
import SplitCore
import SplitFuzzSupport
import SplitTestSupport
import Testing

@testable import SplitSim

/// Seeded corruptions of CSV link traces (what `splitctl simulate --trace` reads): every case
/// must decode to a valid trace or throw a `TraceError` naming the line or column; never trap.
@Suite("Fuzzing the network trace reader")
struct TraceFuzzTests {
    static let trace = """
        # lab trace
        time_seconds,uplink_bps,downlink_bps,rtt_seconds
        0,1.58883e+08,3.26998e+08,0.0101048
        1,2e6,4e6,0.02

        2.5,1e9,2e9,0
        4,5e5,1e6,0.5
        10,3e7,6e7,0.015
        """

    /// Values a CSV field must refuse or survive.
    static let hostileFields = [
        "", "nan", "NaN", "inf", "-inf", "-1", "0", "1e999", "-1e999", "0x10", "1e-400", "abc", "1,2",
        String(repeating: "9", count: 400), "\u{0}", "1\u{0}", " 5 ", "+3", "1_000", "٣",
    ]

    /// `count` cases with one field, line or header of `text` replaced, removed or repeated.
    static func fieldCases(_ text: String, count: Int, seed: UInt64) -> [FuzzCase] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        return (0..<count).map { number in
            var random = SplitMix64(seed: seed &* 5_000_011 &+ UInt64(number))
            var copy = lines
            let line = Int.random(in: 0..<copy.count, using: &random)
            var fields = copy[line].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            let what: String
            switch Int.random(in: 0..<5, using: &random) {
            case 0, 1:
                let field = Int.random(in: 0..<fields.count, using: &random)
                fields[field] = hostileFields.randomElement(using: &random)!
                copy[line] = fields.joined(separator: ",")
                what = "field \(field) of line \(line + 1) replaced by \(fields[field].debugDescription.prefix(20))"
            case 2:
                copy.remove(at: line)
                what = "line \(line + 1) removed"
            case 3:
                copy.insert(copy[line], at: Int.random(in: 0...copy.count, using: &random))
                what = "line \(line + 1) repeated"
            default:
                fields.append(fields.randomElement(using: &random)!)
                copy[line] = fields.joined(separator: ",")
                what = "a field of line \(line + 1) repeated"
            }
            return FuzzCase("seed \(seed) case \(number): \(what)", Array(copy.joined(separator: "\n").utf8))
        }
    }

    /// Decodes one case as splitctl does (bytes as UTF-8, invalid sequences replaced). A trace
    /// must satisfy its own rules; an error must be a `TraceError` naming a line within the text
    /// or a column. Returns whether it decoded.
    static func check(_ fuzz: FuzzCase) -> Bool {
        let text = String(decoding: fuzz.bytes, as: UTF8.self)
        do {
            let trace = try NetworkTrace(csv: text)
            #expect(!trace.samples.isEmpty && trace.durationSeconds > trace.samples[0].timeSeconds, "\(fuzz.label)")
            for (index, sample) in trace.samples.enumerated() {
                #expect(sample.timeSeconds.isFinite && sample.timeSeconds >= 0, "\(fuzz.label)")
                #expect(sample.uplinkBitsPerSecond.isFinite && sample.uplinkBitsPerSecond >= 0, "\(fuzz.label)")
                #expect(sample.downlinkBitsPerSecond.isFinite && sample.downlinkBitsPerSecond >= 0, "\(fuzz.label)")
                #expect(sample.rttSeconds.map { $0.isFinite && $0 >= 0 } ?? true, "\(fuzz.label)")
                if index > 0 { #expect(sample.timeSeconds > trace.samples[index - 1].timeSeconds, "\(fuzz.label)") }
            }
            // Each direction carries something (a trace that is an outage throughout is refused).
            #expect(trace.samples.contains { $0.uplinkBitsPerSecond > 0 } && trace.samples.contains { $0.downlinkBitsPerSecond > 0 }, "\(fuzz.label)")
            return true
        } catch let error as TraceError {
            let lineCount = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).count
            if let line = error.line {
                #expect(line >= 1 && line <= lineCount, "\(fuzz.label): \(error) names line \(line) of \(lineCount)")
            } else {
                #expect(error.column != nil || error.reason.contains("trace"), "\(fuzz.label): \(error) says not where")
            }
            return false
        } catch {
            Issue.record("\(fuzz.label): untyped error \(type(of: error)): \(error)")
            return false
        }
    }

    @Test("2,900 corruptions of a small trace and 200 of a shipped one: a valid trace or a TraceError naming the line or column")
    func corruptions() throws {
        let bytes = Array(Self.trace.utf8)
        let small =
            ByteMutations.truncations(of: bytes, every: 1) + ByteMutations.bitFlips(of: bytes, count: 700, seed: 5)
            + ByteMutations.corruptions(of: bytes, count: 700, seed: 5) + Self.fieldCases(Self.trace, count: 1_300, seed: 5)
        let shipped = try String(contentsOf: packageRoot.appendingPathComponent("ops/traces/steps.csv"), encoding: .utf8)
        let prefix = String(shipped.prefix(4_000))
        let large = ByteMutations.bitFlips(of: Array(prefix.utf8), count: 100, seed: 6) + Self.fieldCases(prefix, count: 100, seed: 6)
        let decoded = (small + large).filter(Self.check).count
        #expect(small.count + large.count >= 3_000)
        #expect(decoded > 100 && decoded < (small.count + large.count) / 2, "\(decoded) decoded")
    }

    @Test("Windows line endings (CRLF) and a lone CR read the same as LF")
    func lineEndings() throws {
        let expected = try NetworkTrace(csv: Self.trace)
        #expect(try NetworkTrace(csv: Self.trace.replacingOccurrences(of: "\n", with: "\r\n")) == expected)
        #expect(try NetworkTrace(csv: Self.trace.replacingOccurrences(of: "\n", with: "\r")) == expected)
        let error = try #require(throws: TraceError.self) {
            try NetworkTrace(csv: "time_seconds,uplink_bps,downlink_bps\r\n0,1e6,2e6\r\n1,x,2e6\r\n")
        }
        #expect(error.line == 3 && error.column == "uplink_bps")
    }
}

/// Seeded corruptions of the other trace formats: mahimahi pairs, two-column logs and CSV with
/// units. Every case decodes to a valid trace or throws a `TraceError` naming the file (mahimahi),
/// a line within the text, or a column; never traps.
@Suite("Fuzzing the mahimahi, two-column and unit-CSV readers")
struct TraceFormatFuzzTests {
    static let mahimahiUp = "0\n0\n3\n7\n7\n7\n12\n20\n21\n21\n30\n"
    static let mahimahiDown = "1\n2\n2\n5\n9\n9\n15\n16\n25\n31\n"
    static let twoColumn = "0.0\t2.29085714286\n1.01\t1.35911287129\n2.011\t0\n3.02\t2.59228543112\n4.03\t2.39917623762\n"
    static let unitCSV = """
        # lab trace, units in the header
        time_ms;uplink (Mbit/s);downlink [kB/s];rtt_ms
        0;10;1250;12
        500;0;0;30
        1500;4.5;800;15
        """

    /// Checks one decoded trace against its format's rules.
    static func checkTrace(_ trace: NetworkTrace, _ label: String) {
        #expect(!trace.samples.isEmpty && trace.durationSeconds > trace.samples[0].timeSeconds, "\(label)")
        for (index, sample) in trace.samples.enumerated() {
            #expect(sample.timeSeconds.isFinite && sample.timeSeconds >= 0, "\(label)")
            #expect(sample.uplinkBitsPerSecond.isFinite && sample.uplinkBitsPerSecond >= 0, "\(label)")
            #expect(sample.downlinkBitsPerSecond.isFinite && sample.downlinkBitsPerSecond >= 0, "\(label)")
            if index > 0 { #expect(sample.timeSeconds > trace.samples[index - 1].timeSeconds, "\(label)") }
        }
        #expect((try? LinkTimeline(trace, defaultRTTSeconds: 0)) != nil, "\(label): a trace that reads has capacity both ways")
    }

    /// Checks an error: typed, naming a line of the text (1-based) or a column.
    static func checkError(_ error: Error, lineCount: Int, _ label: String) -> Bool {
        guard let error = error as? TraceError else {
            Issue.record("\(label): untyped error \(type(of: error)): \(error)")
            return false
        }
        if let line = error.line {
            #expect(line >= 1 && line <= lineCount + 1, "\(label): \(error) names line \(line) of \(lineCount)")
        } else {
            #expect(error.column != nil || error.reason.contains("trace"), "\(label): \(error) says not where")
        }
        return false
    }

    static func lineCount(_ bytes: [UInt8]) -> Int {
        String(decoding: bytes, as: UTF8.self).split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).count
    }

    @Test("2,000 corruptions of a mahimahi pair's uplink and downlink files")
    func mahimahi() {
        var decoded = 0, total = 0
        for (which, text) in [("up", Self.mahimahiUp), ("down", Self.mahimahiDown)] {
            let bytes = Array(text.utf8)
            let cases =
                ByteMutations.truncations(of: bytes, every: 1) + ByteMutations.bitFlips(of: bytes, count: 420, seed: 11)
                + ByteMutations.corruptions(of: bytes, count: 580, seed: 11)
            for fuzz in cases {
                total += 1
                let up = which == "up" ? fuzz.bytes : Array(Self.mahimahiUp.utf8)
                let down = which == "down" ? fuzz.bytes : Array(Self.mahimahiDown.utf8)
                do {
                    Self.checkTrace(try NetworkTrace(mahimahiUplink: up, downlink: down, uplinkFile: "l.up", downlinkFile: "l.down"), fuzz.label)
                    decoded += 1
                } catch {
                    _ = Self.checkError(error, lineCount: Self.lineCount(fuzz.bytes), fuzz.label)
                    if let error = error as? TraceError, error.line != nil { #expect(error.file == "l.\(which)", "\(fuzz.label): \(error)") }
                }
            }
        }
        #expect(total >= 2_000)
        #expect(decoded > 50 && decoded < total, "\(decoded) of \(total) decoded")
    }

    @Test("1,500 corruptions of a two-column log and 1,500 of a CSV with units")
    func twoColumnAndUnits() {
        var decoded = 0, total = 0
        for (format, text) in [("two-column", Self.twoColumn), ("csv", Self.unitCSV)] {
            let bytes = Array(text.utf8)
            let cases =
                ByteMutations.truncations(of: bytes, every: 1) + ByteMutations.bitFlips(of: bytes, count: 500, seed: 13)
                + ByteMutations.corruptions(of: bytes, count: 500, seed: 13)
                + TraceFuzzTests.fieldCases(format == "csv" ? text.replacingOccurrences(of: ";", with: ",") : text, count: 400, seed: 13)
            for fuzz in cases {
                total += 1
                let text = String(decoding: fuzz.bytes, as: UTF8.self)
                do {
                    let trace = format == "csv" ? try NetworkTrace(csv: text, uplinkRatio: nil) : try NetworkTrace(twoColumn: text, uplinkRatio: 0.5)
                    Self.checkTrace(trace, fuzz.label)
                    decoded += 1
                } catch {
                    _ = Self.checkError(error, lineCount: Self.lineCount(fuzz.bytes), fuzz.label)
                }
            }
        }
        #expect(total >= 3_000)
        #expect(decoded > 100 && decoded < total, "\(decoded) of \(total) decoded")
    }
}
