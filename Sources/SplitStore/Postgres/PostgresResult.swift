import CLibPQ
import Foundation

/// The rows of one statement, decoded from PostgreSQL's text format on access.
///
/// NULL is explicit: every getter returns an Optional (nil for NULL), and `require` turns an
/// unexpected NULL or a bad value into a `PostgresError` naming the column and row.
public final class PostgresResult: @unchecked Sendable {
    private let handle: OpaquePointer
    /// Number of rows.
    public let rowCount: Int
    /// Column names in order.
    public let columns: [String]
    /// Rows affected by INSERT/UPDATE/DELETE/COPY (0 when not applicable).
    public let affectedRows: Int

    init(handle: OpaquePointer) {
        self.handle = handle
        rowCount = Int(PQntuples(handle))
        columns = (0..<PQnfields(handle)).map { String(cString: PQfname(handle, $0)) }
        affectedRows = Int(String(cString: PQcmdTuples(handle))) ?? 0
    }

    deinit { PQclear(handle) }

    /// Index of column `name`; traps on a name the statement does not return (a programming error).
    public func column(_ name: String) -> Int {
        guard let index = columns.firstIndex(of: name) else { preconditionFailure("no column '\(name)' in result (\(columns))") }
        return index
    }

    /// Raw text of a cell, or nil for NULL.
    public func string(_ row: Int, _ column: Int) -> String? {
        guard PQgetisnull(handle, Int32(row), Int32(column)) == 0 else { return nil }
        return String(cString: PQgetvalue(handle, Int32(row), Int32(column)))
    }

    public func string(_ row: Int, _ name: String) -> String? { string(row, column(name)) }
    public func int(_ row: Int, _ name: String) -> Int? { string(row, name).flatMap { Int($0) } }
    public func double(_ row: Int, _ name: String) -> Double? { string(row, name).flatMap { Double($0) } }
    public func bool(_ row: Int, _ name: String) -> Bool? { string(row, name).map { $0 == "t" } }
    public func date(_ row: Int, _ name: String) -> Date? { string(row, name).flatMap(PostgresTimestamp.parse) }
    /// A `jsonb`/`json` cell as its JSON text.
    public func json(_ row: Int, _ name: String) -> String? { string(row, name) }
    /// A `text[]` cell (NULL elements dropped).
    public func textArray(_ row: Int, _ name: String) -> [String]? {
        string(row, name).flatMap(PostgresArray.parse).map { $0.compactMap { $0 } }
    }

    /// A non-NULL value decoded by `decode`, or a decoding error naming column and row.
    public func require<T>(_ row: Int, _ name: String, _ decode: (Int, String) -> T?) throws -> T {
        guard let value = decode(row, name) else {
            let raw = string(row, name)
            throw PostgresError(.decoding, message: raw == nil
                ? "unexpected NULL in column '\(name)', row \(row)"
                : "cannot decode column '\(name)', row \(row): '\(raw!)'")
        }
        return value
    }
}
