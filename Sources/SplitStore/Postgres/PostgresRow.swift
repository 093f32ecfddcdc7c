import Foundation

/// One row of a `PostgresResult`, read by column name into typed values: a query's row struct
/// decodes itself from it in one place (`init(row:)` beside the query), each column named once.
///
/// `decode` requires a value (an unexpected NULL, or a cell it cannot read, is a
/// `PostgresError` naming the column and row); `decodeIfPresent` gives nil for NULL.
package struct PostgresRow {
    let result: PostgresResult
    /// The row's index in its result.
    package let index: Int

    /// A non-NULL cell as `T`, or a decoding error naming the column and row.
    package func decode<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        try result.require(index, column) { T.decode(from: result, row: $0, column: $1) }
    }

    /// A cell as `T`, or nil for NULL (or a value `T` cannot read, as the result's getters do).
    package func decodeIfPresent<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) -> T? {
        T.decode(from: result, row: index, column: column)
    }
}

extension PostgresResult {
    /// The rows, in order.
    package var rows: PostgresRows { PostgresRows(result: self) }

    /// Row `index`.
    package func row(_ index: Int) -> PostgresRow { PostgresRow(result: self, index: index) }
}

/// The rows of a result as a collection (`result.rows.map(Record.init(row:))`).
package struct PostgresRows: RandomAccessCollection {
    let result: PostgresResult
    package var startIndex: Int { 0 }
    package var endIndex: Int { result.rowCount }
    package subscript(position: Int) -> PostgresRow { PostgresRow(result: result, index: position) }
}

/// A type a cell decodes into, through `PostgresResult`'s getters.
package protocol PostgresDecodable {
    /// The cell's value, or nil for NULL or a value this type cannot read.
    static func decode(from result: PostgresResult, row: Int, column: String) -> Self?
}

extension String: PostgresDecodable {
    package static func decode(from result: PostgresResult, row: Int, column: String) -> String? { result.string(row, column) }
}
extension Int: PostgresDecodable {
    package static func decode(from result: PostgresResult, row: Int, column: String) -> Int? { result.int(row, column) }
}
extension Int64: PostgresDecodable {
    package static func decode(from result: PostgresResult, row: Int, column: String) -> Int64? { result.int(row, column).map(Int64.init) }
}
extension Double: PostgresDecodable {
    package static func decode(from result: PostgresResult, row: Int, column: String) -> Double? { result.double(row, column) }
}
extension Bool: PostgresDecodable {
    package static func decode(from result: PostgresResult, row: Int, column: String) -> Bool? { result.bool(row, column) }
}
extension Date: PostgresDecodable {
    package static func decode(from result: PostgresResult, row: Int, column: String) -> Date? { result.date(row, column) }
}
extension Array: PostgresDecodable where Element == String {
    /// A `text[]` cell (NULL elements dropped).
    package static func decode(from result: PostgresResult, row: Int, column: String) -> [String]? { result.textArray(row, column) }
}
