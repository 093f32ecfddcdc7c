import Foundation
import SplitSupport
import Testing

@Suite("RFC 3339 timestamps")
struct TimestampTests {
    @Test(
        "parses what the API accepts and refuses what it should not",
        arguments: [
            ("2026-11-27T06:00:00Z", 1_795_759_200.0 as Double?),
            ("2026-11-27T06:00:00.5Z", 1_795_759_200.5),
            ("2026-11-27 06:00:00.123456Z", 1_795_759_200.123456),
            ("2026-11-27T07:30:00+01:30", 1_795_759_200.0),
            ("2026-11-27T06:00:00", nil),
            ("2026-13-27T06:00:00Z", nil),
            ("2026-11-27T25:00:00Z", nil),
            ("yesterday", nil),
            ("2026-11-27T06:00:00Zjunk", nil),
        ])
    func parse(text: String, expected: Double?) {
        let parsed = Timestamp.parse(text)?.timeIntervalSince1970
        if let expected {
            #expect(parsed.map { abs($0 - expected) < 1e-6 } == true, "\(text) → \(String(describing: parsed))")
        } else {
            #expect(parsed == nil, "\(text) should be refused")
        }
    }

    @Test("format round-trips through parse")
    func roundTrip() {
        let date = Date(timeIntervalSince1970: 1_795_759_200.25)
        #expect(Timestamp.format(date) == "2026-11-27T06:00:00.250000Z")
        #expect(Timestamp.parse(Timestamp.format(date)) == date)
    }

    @Test("formatting agrees with Foundation's calendar on dates from 1900 to 2200, leap days included")
    func formatMatchesFoundation() throws {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        var seed: UInt64 = 0x7153_7A3D
        for _ in 0..<2_000 {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let seconds = Double(Int64(seed >> 20) % 9_467_280_000) - 2_208_988_800  // 1900-01-01 … 2200-01-01
            let date = Date(timeIntervalSince1970: seconds)
            let expected = formatter.string(from: date).dropLast() + ".000000Z"
            #expect(Timestamp.format(date) == String(expected))
        }
        let leapDay = try #require(formatter.date(from: "2024-02-29T23:59:59Z"))
        #expect(Timestamp.format(leapDay) == "2024-02-29T23:59:59.000000Z")
    }

    @Test("PostgreSQL's timestamptz text (space, +00 or +05:30 offsets) parses to the same instant")
    func parsesPostgresFields() {
        let quarter = Timestamp.parseFields("2026-11-27 06:00:00.25+00")?.timeIntervalSince1970
        #expect(quarter.map { abs($0 - 1_795_759_200.25) < 1e-6 } == true)
        #expect(Timestamp.parseFields("2026-11-27 11:30:00+05:30")?.timeIntervalSince1970 == 1_795_759_200)
        #expect(Timestamp.parseFields("2026-11-27 xx:00:00+00") == nil)
    }
}
