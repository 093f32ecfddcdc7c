import CLibPQ
import Foundation

/// The rows of one statement, decoded from PostgreSQL's text format on access.
///
/// NULL is explicit: every getter returns an Optional (nil for NULL), and `require` turns an
/// unexpected NULL or a bad value into a `PostgresError` naming the column and row.
package final class PostgresResult: @unchecked Sendable {
    private let handle: OpaquePointer
    /// Number of rows.
    package let rowCount: Int
    /// Column names in order.
    package let columns: [String]
    /// Rows affected by INSERT/UPDATE/DELETE/COPY (0 when not applicable).
    package let affectedRows: Int

    init(handle: OpaquePointer) {
        self.handle = handle
        rowCount = Int(PQntuples(handle))
        columns = (0..<PQnfields(handle)).map { String(cString: PQfname(handle, $0)) }
        affectedRows = Int(String(cString: PQcmdTuples(handle))) ?? 0
    }

    deinit { PQclear(handle) }

    /// Index of column `name`; traps on a name the statement does not return (a programming error).
    package func column(_ name: String) -> Int {
        guard let index = columns.firstIndex(of: name) else { preconditionFailure("no column '\(name)' in result (\(columns))") }
        return index
    }

    /// Raw text of a cell, or nil for NULL.
    package func string(_ row: Int, _ column: Int) -> String? {
        guard PQgetisnull(handle, Int32(row), Int32(column)) == 0 else { return nil }
        return String(cString: PQgetvalue(handle, Int32(row), Int32(column)))
    }

    package func string(_ row: Int, _ name: String) -> String? { string(row, column(name)) }
    package func int(_ row: Int, _ name: String) -> Int? { string(row, name).flatMap { Int($0) } }
    package func double(_ row: Int, _ name: String) -> Double? { string(row, name).flatMap { Double($0) } }
    package func bool(_ row: Int, _ name: String) -> Bool? { string(row, name).map { $0 == "t" } }
    package func date(_ row: Int, _ name: String) -> Date? { string(row, name).flatMap(PostgresTimestamp.parse) }
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
            throw PostgresError(.decoding, message: raw == nil
                ? "unexpected NULL in column '\(name)', row \(row)"
                : "cannot decode column '\(name)', row \(row): '\(raw!)'")
        }
        return value
    }
}
