import Foundation
import SplitSupport

/// A statement parameter, sent in PostgreSQL's text format; values are never spliced into SQL.
package enum PostgresValue: Sendable, Equatable {
    case null
    case text(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    /// A `timestamptz`, sent as UTC ISO 8601 with microseconds.
    case timestamp(Date)
    /// A `jsonb` document (its JSON text).
    case json(String)
    /// A `text[]`.
    case textArray([String])
    /// A `float8[]`.
    case doubleArray([Double])
    /// A `float8[]` with NULL elements.
    case optionalDoubleArray([Double?])
    /// An `int8[]`.
    case intArray([Int64])
    /// An `int8[]` with NULL elements.
    case optionalIntArray([Int64?])
    /// A `timestamptz[]` with NULL elements.
    case optionalTimestampArray([Date?])

    /// The text-format encoding libpq sends, or nil for NULL.
    package var textEncoding: String? {
        switch self {
        case .null: return nil
        case .text(let value): return value
        case .int(let value): return String(value)
        case .double(let value):
            if value.isNaN { return "NaN" }
            if value.isInfinite { return value > 0 ? "Infinity" : "-Infinity" }
            return "\(value)"
        case .bool(let value): return value ? "t" : "f"
        case .timestamp(let date): return PostgresTimestamp.format(date)
        case .json(let text): return text
        case .textArray(let values): return PostgresArray.literal(values)
        case .doubleArray(let values): return "{" + values.map { PostgresValue.double($0).textEncoding! }.joined(separator: ",") + "}"
        case .optionalDoubleArray(let values):
            return "{" + values.map { $0.map { PostgresValue.double($0).textEncoding! } ?? "NULL" }.joined(separator: ",") + "}"
        case .intArray(let values): return "{" + values.map(String.init).joined(separator: ",") + "}"
        case .optionalIntArray(let values): return "{" + values.map { $0.map(String.init) ?? "NULL" }.joined(separator: ",") + "}"
        case .optionalTimestampArray(let values):
            return "{" + values.map { $0.map { "\"" + PostgresTimestamp.format($0) + "\"" } ?? "NULL" }.joined(separator: ",") + "}"
        }
    }
}

/// Conversions used with `PostgresValue` parameters.
package protocol PostgresEncodable: Sendable {
    var postgresValue: PostgresValue { get }
}

extension String: PostgresEncodable { package var postgresValue: PostgresValue { .text(self) } }
extension Int: PostgresEncodable { package var postgresValue: PostgresValue { .int(Int64(self)) } }
extension Int64: PostgresEncodable { package var postgresValue: PostgresValue { .int(self) } }
extension Double: PostgresEncodable { package var postgresValue: PostgresValue { .double(self) } }
extension Bool: PostgresEncodable { package var postgresValue: PostgresValue { .bool(self) } }
extension Date: PostgresEncodable { package var postgresValue: PostgresValue { .timestamp(self) } }
extension Array: PostgresEncodable where Element == String { package var postgresValue: PostgresValue { .textArray(self) } }
extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    package var postgresValue: PostgresValue { self?.postgresValue ?? .null }
}
extension PostgresValue: PostgresEncodable { package var postgresValue: PostgresValue { self } }

/// `timestamptz` text in and out (the connection runs with TimeZone UTC and DateStyle ISO).
enum PostgresTimestamp {
    static func format(_ date: Date) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(29)
        Timestamp.append(date, separator: 32, to: &bytes)
        bytes.append(contentsOf: [43, 48, 48])  // +00
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses `2026-11-27 05:47:03.123456+00` (ISO DateStyle; offsets like +05:30 accepted).
    static func parse(_ text: String) -> Date? {
        if text == "infinity" { return .distantFuture }
        if text == "-infinity" { return .distantPast }
        return Timestamp.parseFields(text)
    }
}

/// PostgreSQL array literals for `text[]`.
enum PostgresArray {
    static func literal(_ values: [String]) -> String {
        var bytes: [UInt8] = [123]
        bytes.reserveCapacity(values.reduce(2) { $0 + $1.utf8.count + 3 })
        for (index, value) in values.enumerated() {
            if index > 0 { bytes.append(44) }
            bytes.append(34)
            for byte in value.utf8 {
                if byte == 92 || byte == 34 { bytes.append(92) }
                bytes.append(byte)
            }
            bytes.append(34)
        }
        bytes.append(125)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses `{a,"b c","d\"e",NULL}`; NULL elements come back as nil.
    static func parse(_ text: String) -> [String?]? {
        var characters = Array(text.unicodeScalars)
        guard characters.first == "{", characters.last == "}" else { return nil }
        characters = Array(characters.dropFirst().dropLast())
        var result: [String?] = []
        guard !characters.isEmpty else { return result }
        var index = 0
        while index <= characters.count {
            var element = String.UnicodeScalarView()
            var quoted = false
            if index < characters.count && characters[index] == "\"" {
                quoted = true
                index += 1
                while index < characters.count && characters[index] != "\"" {
                    if characters[index] == "\\" { index += 1 }
                    guard index < characters.count else { return nil }
                    element.append(characters[index])
                    index += 1
                }
                index += 1  // closing quote
            } else {
                while index < characters.count && characters[index] != "," {
                    element.append(characters[index])
                    index += 1
                }
            }
            let value = String(element)
            result.append(!quoted && value == "NULL" ? nil : value)
            index += 1  // comma
        }
        return result
    }
}
