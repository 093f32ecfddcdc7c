import Foundation

/// Fast RFC 3339 timestamps for the API (`2026-11-27T06:00:00.123Z`, offsets allowed), without
/// a formatter object per call; also the date-time text of PostgreSQL's `timestamptz` (ISO
/// DateStyle), which differs only in its separator and offset.
package enum Timestamp {
    /// Parses a strict RFC 3339 date-time (`T` or space separator, `Z` or `±HH:MM`), or nil.
    package static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20,
            bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            [UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")].contains(bytes[10]),
            bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":")
        else { return nil }
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
        guard validFields(bytes), let date = parseFields(text) else { return nil }
        return date
    }

    private static func validFields(_ bytes: [UInt8]) -> Bool {
        func number(_ start: Int, _ length: Int) -> Int? {
            var value = 0
            for byte in bytes[start..<start + length] {
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int(byte) - 48
            }
            return value
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
            let minute = number(14, 2), let second = number(17, 2), (1...12).contains(month)
        else { return false }
        guard (1...daysIn(month: month, year: year)).contains(day), hour < 24, minute < 60, second < 61 else { return false }
        // A numeric offset (the last six bytes, `±HH:MM`) must be a real one: at most 23:59.
        if let sign = bytes.dropLast(5).last, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            guard let hours = number(bytes.count - 5, 2), let minutes = number(bytes.count - 2, 2), hours < 24, minutes < 60 else {
                return false
            }
        }
        return true
    }

    /// Days in `month` (1...12) of `year`, leap years by the Gregorian rule.
    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// `2026-11-27T06:00:00.123456Z`.
    package static func format(_ date: Date) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(27)
        append(date, separator: UInt8(ascii: "T"), to: &bytes)
        bytes.append(UInt8(ascii: "Z"))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses the fields of `YYYY-MM-DD?HH:MM:SS[.ffffff][±HH[:MM]]` (any separator at position
    /// 10, as PostgreSQL writes `timestamptz`), without checking their ranges; nil if a field is
    /// not a number.
    package static func parseFields(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        func number(_ start: Int, _ length: Int) -> Int? {
            guard start + length <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[start..<start + length] {
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
            let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2)
        else { return nil }
        var index = 19
        var fraction = 0.0
        if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
            index += 1
            var scale = 0.1
            while index < bytes.count, bytes[index] >= 48 && bytes[index] <= 57 {
                fraction += Double(bytes[index] - 48) * scale
                scale /= 10
                index += 1
            }
        }
        var offsetSeconds = 0
        if index < bytes.count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) {
            let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            guard let hours = number(index + 1, 2) else { return nil }
            var minutes = 0
            if index + 3 < bytes.count && bytes[index + 3] == UInt8(ascii: ":") { minutes = number(index + 4, 2) ?? 0 }
            offsetSeconds = sign * (hours * 3600 + minutes * 60)
        }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let epoch = timegm(&parts)
        return Date(timeIntervalSince1970: Double(epoch - offsetSeconds) + fraction)
    }

    /// Appends `YYYY-MM-DD<separator>HH:MM:SS.ffffff` (UTC, microseconds) to `buffer`, without
    /// intermediate strings (the COPY writer formats every telemetry row's time with it).
    package static func append(_ date: Date, separator: UInt8, to buffer: inout [UInt8]) {
        let total = date.timeIntervalSince1970
        var seconds = Int(total.rounded(.down))
        var micros = Int(((total - Double(seconds)) * 1_000_000).rounded())
        if micros >= 1_000_000 { seconds += 1; micros -= 1_000_000 }
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = civil(fromDays: days)
        appendPadded(year, 4, to: &buffer); buffer.append(45); appendPadded(month, 2, to: &buffer); buffer.append(45)
        appendPadded(day, 2, to: &buffer)
        buffer.append(separator)
        appendPadded(secondOfDay / 3600, 2, to: &buffer); buffer.append(58); appendPadded(secondOfDay / 60 % 60, 2, to: &buffer)
        buffer.append(58); appendPadded(secondOfDay % 60, 2, to: &buffer); buffer.append(46); appendPadded(micros, 6, to: &buffer)
    }

    private static func appendPadded(_ value: Int, _ width: Int, to buffer: inout [UInt8]) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var remaining = value
        while divisor > 0 {
            buffer.append(UInt8(48 + (remaining / divisor) % 10))
            remaining %= divisor
            divisor /= 10
        }
    }

    /// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
    /// (Howard Hinnant's civil_from_days).
    static func civil(fromDays days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
