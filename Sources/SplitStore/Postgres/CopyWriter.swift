import Foundation

/// Writes rows for `COPY ... FROM STDIN` (text format) straight into the send buffer: numbers,
/// timestamps and arrays are formatted without intermediate strings, and every field is escaped
/// for COPY (backslash, tab, newline, carriage return).
public struct CopyWriter {
    var buffer: [UInt8] = []
    private var fieldsInRow = 0
    /// Receives full buffers (set by the connection).
    var sink: ([UInt8]) throws -> Void = { _ in }

    init() { buffer.reserveCapacity(1 << 20) }

    /// Sends the buffer on when it holds about a megabyte (call between rows).
    public mutating func flushIfFull() throws {
        if buffer.count >= (1 << 20) - 65_536 { try flush() }
    }

    mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        try sink(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    private mutating func separate() {
        if fieldsInRow > 0 { buffer.append(9) }
        fieldsInRow += 1
    }

    /// Ends the current row.
    public mutating func endRow() {
        buffer.append(10)
        fieldsInRow = 0
    }

    public mutating func null() {
        separate()
        buffer.append(92)
        buffer.append(78)
    }

    public mutating func text(_ value: String) {
        separate()
        for byte in value.utf8 { appendEscaped(byte) }
    }

    public mutating func text(_ value: String?) {
        if let value { text(value) } else { null() }
    }

    public mutating func int(_ value: Int) {
        separate()
        appendDigits(value)
    }

    public mutating func double(_ value: Double) {
        separate()
        if value.isNaN { buffer.append(contentsOf: Array("NaN".utf8)); return }
        if value.isInfinite { buffer.append(contentsOf: Array((value > 0 ? "Infinity" : "-Infinity").utf8)); return }
        // Integral values below 2^53 print exactly as integers; others use Swift's shortest repr.
        if value == value.rounded(), abs(value) < 9e15 {
            appendDigits(Int(value))
        } else {
            buffer.append(contentsOf: value.description.utf8)
        }
    }

    public mutating func double(_ value: Double?) {
        if let value { double(value) } else { null() }
    }

    /// A `timestamptz` as `YYYY-MM-DD HH:MM:SS.ffffff+00`.
    public mutating func timestamp(_ date: Date) {
        separate()
        let total = date.timeIntervalSince1970
        var seconds = Int(total.rounded(.down))
        var micros = Int(((total - Double(seconds)) * 1_000_000).rounded())
        if micros >= 1_000_000 { seconds += 1; micros -= 1_000_000 }
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = Self.civil(fromDays: days)
        appendPadded(year, 4); buffer.append(45); appendPadded(month, 2); buffer.append(45); appendPadded(day, 2)
        buffer.append(32)
        appendPadded(secondOfDay / 3600, 2); buffer.append(58); appendPadded(secondOfDay / 60 % 60, 2); buffer.append(58)
        appendPadded(secondOfDay % 60, 2); buffer.append(46); appendPadded(micros, 6)
        buffer.append(contentsOf: [43, 48, 48])  // +00
    }

    /// A `text[]` literal `{"a","b"}`, escaped for the array and then for COPY.
    public mutating func textArray(_ values: [String]) {
        separate()
        buffer.append(123)
        for (index, value) in values.enumerated() {
            if index > 0 { buffer.append(44) }
            buffer.append(34)
            for byte in value.utf8 {
                if byte == 92 || byte == 34 { appendEscaped(92) }  // array escape, itself COPY-escaped
                appendEscaped(byte)
            }
            buffer.append(34)
        }
        buffer.append(125)
    }

    /// Raw JSON text (already valid JSON), COPY-escaped.
    public mutating func json(_ value: String) { text(value) }

    @inline(__always)
    private mutating func appendEscaped(_ byte: UInt8) {
        switch byte {
        case 92: buffer.append(92); buffer.append(92)
        case 9: buffer.append(92); buffer.append(116)
        case 10: buffer.append(92); buffer.append(110)
        case 13: buffer.append(92); buffer.append(114)
        default: buffer.append(byte)
        }
    }

    private mutating func appendDigits(_ value: Int) {
        if value < 0 { buffer.append(45) }
        var magnitude = value.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { storage in
            repeat {
                storage[count] = UInt8(48 + magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            for index in stride(from: count - 1, through: 0, by: -1) { buffer.append(storage[index]) }
        }
    }

    private mutating func appendPadded(_ value: Int, _ width: Int) {
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
