import CLibPQ
import Foundation

/// The rows of one statement, decoded on access from PostgreSQL's text format, or from its binary
/// format for a statement run with `binaryResults` (see PostgresBinaryCells.swift).
///
/// NULL is explicit: every getter returns an Optional (nil for NULL), and `require` turns an
/// unexpected NULL or a bad value into a `PostgresError` naming the column and row.
package final class PostgresResult: @unchecked Sendable {
    let handle: OpaquePointer
    /// Whether the cells are in PostgreSQL's binary format.
    let binary: Bool
    /// Number of rows.
    package let rowCount: Int
    /// Column names in order.
    package let columns: [String]
    /// Rows affected by INSERT/UPDATE/DELETE/COPY (0 when not applicable).
    package let affectedRows: Int
    /// Each column's index by name (the first, if a name repeats): cells are read by name, often
    /// thousands of rows times dozens of columns.
    private let indexOfColumn: [String: Int]

    init(handle: OpaquePointer) {
        self.handle = handle
        rowCount = Int(PQntuples(handle))
        columns = (0..<PQnfields(handle)).map { String(cString: PQfname(handle, $0)) }
        affectedRows = Int(String(cString: PQcmdTuples(handle))) ?? 0
        indexOfColumn = Dictionary(columns.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        binary = PQnfields(handle) > 0 && PQfformat(handle, 0) == 1
    }

    deinit { PQclear(handle) }

    /// Index of column `name`; traps on a name the statement does not return (a programming error).
    package func column(_ name: String) -> Int {
        guard let index = indexOfColumn[name] else { preconditionFailure("no column '\(name)' in result (\(columns))") }
        return index
    }

    /// Raw text of a cell (of a binary cell that is not text, its value written as text), or nil
    /// for NULL.
    package func string(_ row: Int, _ column: Int) -> String? {
        guard PQgetisnull(handle, Int32(row), Int32(column)) == 0 else { return nil }
        if binary, let rendered = binaryText(row, column) { return rendered }
        return String(cString: PQgetvalue(handle, Int32(row), Int32(column)))
    }

    /// A cell's text as libpq holds it (valid while the result lives), or nil for NULL.
    private func cString(_ row: Int, _ name: String) -> UnsafePointer<CChar>? {
        let column = Int32(column(name))
        guard PQgetisnull(handle, Int32(row), column) == 0 else { return nil }
        return UnsafePointer(PQgetvalue(handle, Int32(row), column))
    }

    package func string(_ row: Int, _ name: String) -> String? { string(row, column(name)) }

    // Numbers and booleans are read from libpq's text in place (a result of a thousand planned
    // devices has tens of thousands of them).
    package func int(_ row: Int, _ name: String) -> Int? {
        if binary { return binaryInt(row, column(name)) }
        guard let text = cString(row, name) else { return nil }
        var index = 0
        let negative = text[0] == 45  // "-"
        if negative || text[0] == 43 { index = 1 }  // "+"
        guard text[index] != 0 else { return nil }
        var value = 0
        while text[index] != 0 {
            let digit = Int(text[index]) - 48
            guard (0...9).contains(digit) else { return nil }
            let (shifted, overflowed) = value.multipliedReportingOverflow(by: 10)
            let (next, overflowedAgain) = negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            guard !overflowed, !overflowedAgain else { return nil }
            value = next
            index += 1
        }
        return value
    }

    package func double(_ row: Int, _ name: String) -> Double? {
        if binary { return binaryDouble(row, column(name)) }
        guard let text = cString(row, name), text[0] != 0 else { return nil }
        var end: UnsafeMutablePointer<CChar>?
        let value = strtod(text, &end)
        guard let end, end.pointee == 0 else { return nil }
        return value
    }

    package func bool(_ row: Int, _ name: String) -> Bool? {
        if binary { return binaryBool(row, column(name)) }
        return cString(row, name).map { $0[0] == 116 }  // "t"
    }
    package func date(_ row: Int, _ name: String) -> Date? {
        if binary { return binaryDate(row, column(name)) }
        return string(row, name).flatMap(PostgresTimestamp.parse)
    }
    /// A `jsonb`/`json` cell as its JSON text.
    package func json(_ row: Int, _ name: String) -> String? { string(row, name) }
    /// A `text[]` cell (NULL elements dropped).
    package func textArray(_ row: Int, _ name: String) -> [String]? {
        string(row, name).flatMap(PostgresArray.parse).map { $0.compactMap { $0 } }
    }

    /// A non-NULL value decoded by `decode`, or a decoding error naming column and row.
    package func require<T>(_ row: Int, _ name: String, _ decode: (Int, String) -> T?) throws -> T {
        guard let value = decode(row, name) else {
            let raw = string(row, name)
            throw PostgresError(
                .decoding,
                message: raw == nil
                    ? "unexpected NULL in column '\(name)', row \(row)"
                    : "cannot decode column '\(name)', row \(row): '\(raw!)'")
        }
        return value
    }
}
