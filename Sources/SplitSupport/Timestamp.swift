import Foundation

/// Fast RFC 3339 timestamps for the API (`2026-11-27T06:00:00.123Z`, offsets allowed), without
/// a formatter object per call.
public enum Timestamp {
    /// Parses a strict RFC 3339 date-time (`T` or space separator, `Z` or `±HH:MM`), or nil.
    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20,
              bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
              [UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")].contains(bytes[10]),
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":") else { return nil }
        var index = 19
        if bytes[index] == UInt8(ascii: ".") {
            index += 1
            let start = index
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 { index += 1 }
            guard index > start else { return nil }
        }
        guard index < bytes.count else { return nil }
        switch bytes[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            guard index + 1 == bytes.count else { return nil }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard index + 6 == bytes.count, bytes[index + 3] == UInt8(ascii: ":") else { return nil }
        default:
            return nil
        }
        // Reject impossible fields (month 13, second 61, ...) that timegm would normalise.
        guard validFields(bytes), let date = PostgresTimestamp.parse(text) else { return nil }
        return date
    }

    private static func validFields(_ bytes: [UInt8]) -> Bool {
        func number(_ start: Int, _ length: Int) -> Int {
            bytes[start..<start + length].reduce(0) { $0 * 10 + Int($1) - 48 }
        }
        let month = number(5, 2), day = number(8, 2), hour = number(11, 2), minute = number(14, 2), second = number(17, 2)
        return (1...12).contains(month) && (1...31).contains(day) && hour < 24 && minute < 60 && second < 61
    }

    /// `2026-11-27T06:00:00.123456Z`.
    public static func format(_ date: Date) -> String {
        var writer = CopyWriter()
        writer.timestamp(date)
        var text = String(decoding: writer.buffer, as: UTF8.self)  // "YYYY-MM-DD HH:MM:SS.ffffff+00"
        text = String(text.dropLast(3)) + "Z"
        return text.replacingOccurrences(of: " ", with: "T")
    }
}
