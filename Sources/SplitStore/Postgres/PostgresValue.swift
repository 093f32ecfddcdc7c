import Foundation

/// A statement parameter, sent in PostgreSQL's text format; values are never spliced into SQL.
public enum PostgresValue: Sendable, Equatable {
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
    public var textEncoding: String? {
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
public protocol PostgresEncodable: Sendable {
    var postgresValue: PostgresValue { get }
}

extension String: PostgresEncodable { public var postgresValue: PostgresValue { .text(self) } }
extension Int: PostgresEncodable { public var postgresValue: PostgresValue { .int(Int64(self)) } }
extension Int64: PostgresEncodable { public var postgresValue: PostgresValue { .int(self) } }
extension Double: PostgresEncodable { public var postgresValue: PostgresValue { .double(self) } }
extension Bool: PostgresEncodable { public var postgresValue: PostgresValue { .bool(self) } }
extension Date: PostgresEncodable { public var postgresValue: PostgresValue { .timestamp(self) } }
extension Array: PostgresEncodable where Element == String { public var postgresValue: PostgresValue { .textArray(self) } }
extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresValue: PostgresValue { self?.postgresValue ?? .null }
}
extension PostgresValue: PostgresEncodable { public var postgresValue: PostgresValue { self } }

/// `timestamptz` text in and out (the connection runs with TimeZone UTC and DateStyle ISO).
enum PostgresTimestamp {
    static func format(_ date: Date) -> String {
        var writer = CopyWriter()
        writer.timestamp(date)
        return String(decoding: writer.buffer, as: UTF8.self)
    }

    /// Parses `2026-11-27 05:47:03.123456+00` (ISO DateStyle; offsets like +05:30 accepted).
    static func parse(_ text: String) -> Date? {
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
        if text == "infinity" { return .distantFuture }
        if text == "-infinity" { return .distantPast }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2) else { return nil }
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
