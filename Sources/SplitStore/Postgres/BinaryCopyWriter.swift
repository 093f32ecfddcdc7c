import Foundation

/// Writes rows for `COPY ... FROM STDIN WITH (FORMAT binary)`: each field is a length and its
/// bytes in PostgreSQL's binary wire format. Used where text parsing would dominate (telemetry
/// timestamps and floats, the numeric columns of plans).
package struct BinaryCopyWriter {
    var buffer: [UInt8] = []
    var sink: ([UInt8]) throws -> Void = { _ in }
    private var fieldCountPosition = -1
    private var fieldsInRow: UInt16 = 0

    init() {
        buffer.reserveCapacity(1 << 20)
        buffer.append(contentsOf: Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00])
        append32(0)  // flags
        append32(0)  // header extension length
    }

    /// Starts a row (call before its fields).
    package mutating func beginRow() {
        fieldCountPosition = buffer.count
        fieldsInRow = 0
        buffer.append(contentsOf: [0, 0])
    }

    /// Ends the row: writes its field count.
    package mutating func endRow() {
        buffer[fieldCountPosition] = UInt8(fieldsInRow >> 8)
        buffer[fieldCountPosition + 1] = UInt8(fieldsInRow & 0xFF)
    }

    package mutating func int64(_ value: Int64) {
        fieldsInRow += 1
        append32(8)
        append64(UInt64(bitPattern: value))
    }

    package mutating func int32(_ value: Int32) {
        fieldsInRow += 1
        append32(4)
        append32(UInt32(bitPattern: value))
    }

    package mutating func double(_ value: Double) {
        fieldsInRow += 1
        append32(8)
        append64(value.bitPattern)
    }

    package mutating func text(_ value: String) {
        fieldsInRow += 1
        let bytes = value.utf8
        append32(UInt32(bytes.count))
        buffer.append(contentsOf: bytes)
    }

    package mutating func double(_ value: Double?) {
        if let value { double(value) } else { null() }
    }

    package mutating func int64(_ value: Int64?) {
        if let value { int64(value) } else { null() }
    }

    package mutating func bool(_ value: Bool) {
        fieldsInRow += 1
        append32(1)
        buffer.append(value ? 1 : 0)
    }

    /// A `timestamptz`: microseconds since 2000-01-01 00:00:00 UTC.
    package mutating func timestamp(_ date: Date) {
        fieldsInRow += 1
        append32(8)
        let micros = ((date.timeIntervalSince1970 - 946_684_800) * 1_000_000).rounded()
        append64(UInt64(bitPattern: Int64(micros)))
    }

    package mutating func null() {
        fieldsInRow += 1
        append32(UInt32.max)
    }

    /// Sends the buffer on when it holds about a megabyte (call between rows).
    package mutating func flushIfFull() throws {
        if buffer.count >= (1 << 20) - 65_536 { try flush() }
    }

    mutating func finish() throws {
        buffer.append(contentsOf: [0xFF, 0xFF])  // trailer
        try flush()
    }

    mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        try sink(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    @inline(__always)
    private mutating func append32(_ value: UInt32) {
        buffer.append(UInt8(value >> 24))
        buffer.append(UInt8((value >> 16) & 0xFF))
        buffer.append(UInt8((value >> 8) & 0xFF))
        buffer.append(UInt8(value & 0xFF))
    }

    @inline(__always)
    private mutating func append64(_ value: UInt64) {
        append32(UInt32(value >> 32))
        append32(UInt32(value & 0xFFFF_FFFF))
    }
}
