import CLibPQ
import Foundation

/// Cells in PostgreSQL's binary format (a statement run with `binaryResults`): numbers, booleans
/// and times arrive as the server holds them, so neither side writes or parses their text. Used by
/// statements that return many numbers per row, like the planning claim (a thousand devices, a
/// dozen floats each). Supported: text-like types, bool, int2/int4/int8, float4/float8,
/// timestamp/timestamptz and jsonb; anything else is a programming error.
extension PostgresResult {
    private enum TypeOID {
        static let bool: Oid = 16, name: Oid = 19, int8: Oid = 20, int2: Oid = 21, int4: Oid = 23, text: Oid = 25
        static let float4: Oid = 700, float8: Oid = 701, unknown: Oid = 705, bpchar: Oid = 1042, varchar: Oid = 1043
        static let timestamp: Oid = 1114, timestamptz: Oid = 1184, jsonb: Oid = 3802
    }

    /// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 UTC).
    private static let postgresEpochMicroseconds: Int64 = 946_684_800_000_000

    /// The cell's bytes (nil for NULL).
    private func bytes(_ row: Int, _ column: Int) -> UnsafeRawBufferPointer? {
        guard PQgetisnull(handle, Int32(row), Int32(column)) == 0, let value = PQgetvalue(handle, Int32(row), Int32(column)) else { return nil }
        return UnsafeRawBufferPointer(start: value, count: Int(PQgetlength(handle, Int32(row), Int32(column))))
    }

    private func bigEndian<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, as: T.Type) -> T? {
        guard bytes.count == MemoryLayout<T>.size else { return nil }
        return T(bigEndian: bytes.loadUnaligned(as: T.self))
    }

    func binaryInt(_ row: Int, _ column: Int) -> Int? {
        guard let cell = bytes(row, column) else { return nil }
        switch PQftype(handle, Int32(column)) {
        case TypeOID.int2: return bigEndian(cell, as: Int16.self).map(Int.init)
        case TypeOID.int4: return bigEndian(cell, as: Int32.self).map(Int.init)
        case TypeOID.int8: return bigEndian(cell, as: Int64.self).map(Int.init)
        default: return nil
        }
    }

    func binaryDouble(_ row: Int, _ column: Int) -> Double? {
        guard let cell = bytes(row, column) else { return nil }
        switch PQftype(handle, Int32(column)) {
        case TypeOID.float8: return bigEndian(cell, as: UInt64.self).map(Double.init(bitPattern:))
        case TypeOID.float4: return bigEndian(cell, as: UInt32.self).map { Double(Float(bitPattern: $0)) }
        default: return binaryInt(row, column).map(Double.init)
        }
    }

    func binaryBool(_ row: Int, _ column: Int) -> Bool? {
        guard PQftype(handle, Int32(column)) == TypeOID.bool, let cell = bytes(row, column), cell.count == 1 else { return nil }
        return cell[0] != 0
    }

    func binaryDate(_ row: Int, _ column: Int) -> Date? {
        let type = PQftype(handle, Int32(column))
        guard type == TypeOID.timestamptz || type == TypeOID.timestamp, let cell = bytes(row, column),
            let microseconds = bigEndian(cell, as: Int64.self)
        else { return nil }
        if microseconds == .max { return .distantFuture }
        if microseconds == .min { return .distantPast }
        let (unix, overflow) = microseconds.addingReportingOverflow(Self.postgresEpochMicroseconds)
        guard !overflow else { return nil }
        // Whole seconds and the microseconds apart, so the Date is as exact as text parsing makes it.
        let (seconds, fraction) = unix.quotientAndRemainder(dividingBy: 1_000_000)
        return Date(timeIntervalSince1970: Double(seconds) + Double(fraction) / 1e6)
    }

    /// A binary cell written as text: nil for text-like types (their bytes are the text).
    func binaryText(_ row: Int, _ column: Int) -> String? {
        switch PQftype(handle, Int32(column)) {
        case TypeOID.text, TypeOID.varchar, TypeOID.name, TypeOID.bpchar, TypeOID.unknown:
            return nil
        case TypeOID.jsonb:
            // A version byte (1), then the JSON text.
            return bytes(row, column).map { String(decoding: $0.dropFirst(), as: UTF8.self) }
        case TypeOID.bool:
            return binaryBool(row, column).map { $0 ? "t" : "f" }
        case TypeOID.int2, TypeOID.int4, TypeOID.int8:
            return binaryInt(row, column).map { String($0) }
        case TypeOID.float4, TypeOID.float8:
            return binaryDouble(row, column).map { "\($0)" }
        case TypeOID.timestamp, TypeOID.timestamptz:
            return binaryDate(row, column).map(PostgresTimestamp.format)
        case let type:
            preconditionFailure("column '\(columns[column])' has type \(type), which binary results do not decode")
        }
    }
}
