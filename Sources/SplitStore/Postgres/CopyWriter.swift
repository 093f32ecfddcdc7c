import Foundation
import SplitSupport

/// Writes rows for `COPY ... FROM STDIN` (text format) straight into the send buffer: numbers,
/// timestamps and arrays are formatted without intermediate strings, and every field is escaped
/// for COPY (backslash, tab, newline, carriage return).
package struct CopyWriter {
    var buffer: [UInt8] = []
    private var fieldsInRow = 0
    /// Receives full buffers (set by the connection).
    var sink: ([UInt8]) throws -> Void = { _ in }

    init() { buffer.reserveCapacity(1 << 20) }

    /// Sends the buffer on when it holds about a megabyte (call between rows).
    package mutating func flushIfFull() throws {
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
    package mutating func endRow() {
        buffer.append(10)
        fieldsInRow = 0
    }

    package mutating func null() {
        separate()
        buffer.append(92)
        buffer.append(78)
    }

    package mutating func text(_ value: String) {
        separate()
        for byte in value.utf8 { appendEscaped(byte) }
    }

    package mutating func text(_ value: String?) {
        if let value { text(value) } else { null() }
    }

    package mutating func int(_ value: Int) {
        separate()
        appendDigits(value)
    }

    package mutating func double(_ value: Double) {
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

    package mutating func double(_ value: Double?) {
        if let value { double(value) } else { null() }
    }

    /// A `timestamptz` as `YYYY-MM-DD HH:MM:SS.ffffff+00`.
    package mutating func timestamp(_ date: Date) {
        separate()
        Timestamp.append(date, separator: 32, to: &buffer)
        buffer.append(contentsOf: [43, 48, 48])  // +00
    }

    /// A `text[]` literal `{"a","b"}`, escaped for the array and then for COPY.
    package mutating func textArray(_ values: [String]) {
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
    package mutating func json(_ value: String) { text(value) }

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
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
            ) = (
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                0, 0
            )
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
}
