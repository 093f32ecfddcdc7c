/// A parsed JSON document: what every splitd input (graphs, profiles, API bodies) is read into
/// before it is checked field by field with `JSONObject`, so every error can name its field.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// A number; literals beyond Double's range are ±infinity (refused, with the field named, by
    /// the readers in `JSONObject`).
    case number(Double)
    case string(String)
    case array([JSONValue])
    /// Members in document order; a repeated key keeps its last value.
    case object([(key: String, value: JSONValue)])

    public static func == (left: JSONValue, right: JSONValue) -> Bool {
        switch (left, right) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.number(a), .number(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)): return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// What kind of value this is, for messages ("a string", "an object").
    public var kindDescription: String {
        switch self {
        case .null: return "null"
        case .bool: return "true or false"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// Parses `bytes` as one JSON document (RFC 8259), throwing `JSONSyntaxError` with the line
    /// and column of the first problem.
    public static func parse<Bytes: Collection>(_ bytes: Bytes, maximumDepth: Int = 64) throws -> JSONValue where Bytes.Element == UInt8 {
        let array = Array(bytes)
        return try array.withUnsafeBufferPointer { buffer in
            var parser = JSONParser(bytes: buffer, maximumDepth: maximumDepth)
            return try parser.document()
        }
    }
}

/// Why a document is not JSON: what, and where (1-based line and column).
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public let line: Int
    public let column: Int
    public let reason: String

    public var description: String { "invalid JSON at line \(line), column \(column): \(reason)" }
}

/// A recursive-descent JSON parser over UTF-8 bytes.
struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let maximumDepth: Int
    var position = 0
    var depth = 0

    init(bytes: UnsafeBufferPointer<UInt8>, maximumDepth: Int) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    mutating func document() throws -> JSONValue {
        skipWhitespace()
        if position == 0, bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { position = 3; skipWhitespace() }
        guard position < bytes.count else { throw error("the document is empty; expected a JSON value") }
        let value = try parseValue()
        skipWhitespace()
        guard position == bytes.count else { throw error("unexpected '\(character(at: position))' after the JSON value") }
        return value
    }

    func error(_ reason: String, at offset: Int? = nil) -> JSONSyntaxError {
        let end = min(offset ?? position, bytes.count)
        var line = 1, column = 1
        var index = 0
        while index < end {
            if bytes[index] == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if bytes[index] & 0xC0 != 0x80 {
                column += 1
            }
            index += 1
        }
        return JSONSyntaxError(line: line, column: column, reason: reason)
    }

    func character(at offset: Int) -> String {
        guard offset < bytes.count else { return "end of input" }
        let byte = bytes[offset]
        return byte >= 0x20 && byte < 0x7F ? String(UnicodeScalar(byte)) : "byte 0x" + String(byte, radix: 16)
    }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func parseValue() throws -> JSONValue {
        guard position < bytes.count else { throw error("unexpected end of input; expected a value") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectWord("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectWord("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectWord("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected '\(character(at: position))'; expected a value")
        }
    }

    mutating func expectWord(_ word: StaticString) throws {
        let start = position
        for byte in UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount) {
            guard position < bytes.count, bytes[position] == byte else {
                throw error("unexpected '\(character(at: start))'; expected a value", at: start)
            }
            position += 1
        }
    }

    mutating func enter() throws {
        depth += 1
        guard depth <= maximumDepth else { throw error("nesting deeper than \(maximumDepth) levels") }
    }

    mutating func parseObject() throws -> JSONValue {
        try enter()
        defer { depth -= 1 }
        position += 1
        var members: [(key: String, value: JSONValue)] = []
        var indexByKey: [String: Int] = [:]
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                throw error("expected a member name in double quotes, found '\(character(at: position))'")
            }
            let keyPosition = position
            let key = try parseString()
            if indexByKey[key] != nil {
                // Last-wins or first-wins would let two readers of one body see different values.
                position = keyPosition
                throw error("duplicate member name \"\(key)\"")
            }
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else {
                throw error("expected ':' after member name \"\(key)\", found '\(character(at: position))'")
            }
            position += 1
            skipWhitespace()
            let value = try parseValue()
            indexByKey[key] = members.count
            members.append((key, value))
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of input; expected ',' or '}'") }
            if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
            if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
            throw error("expected ',' or '}' after a member, found '\(character(at: position))'")
        }
    }

    mutating func parseArray() throws -> JSONValue {
        try enter()
        defer { depth -= 1 }
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue())
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of input; expected ',' or ']'") }
            if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
            if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(elements) }
            throw error("expected ',' or ']' after an element, found '\(character(at: position))'")
        }
    }

    mutating func parseNumber() throws -> Double {
        let start = position
        func digits() -> Int {
            let from = position
            while position < bytes.count, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9") { position += 1 }
            return position - from
        }
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        let integerStart = position
        guard digits() > 0 else { throw error("a number needs digits", at: start) }
        if bytes[integerStart] == UInt8(ascii: "0") && position - integerStart > 1 { throw error("numbers may not have leading zeros", at: start) }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard digits() > 0 else { throw error("a number needs digits after '.'", at: start) }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard digits() > 0 else { throw error("a number needs digits in its exponent", at: start) }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        // Double(_:) gives ±infinity for literals beyond its range (kept; refused by the readers).
        guard let value = Double(text) else { throw error("'\(text)' is not a number", at: start) }
        return value
    }

    mutating func parseString() throws -> String {
        let start = position
        position += 1
        var segmentStart = position
        var result = ""
        var plain = true
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                let segment = UnsafeBufferPointer(rebasing: bytes[segmentStart..<position])
                guard let text = String(validating: segment, as: UTF8.self) else { throw error("invalid UTF-8 in a string", at: segmentStart) }
                position += 1
                if plain { return text }
                result += text
                return result
            }
            if byte < 0x20 { throw error("control character (0x\(String(byte, radix: 16))) in a string; escape it") }
            if byte == UInt8(ascii: "\\") {
                plain = false
                let segment = UnsafeBufferPointer(rebasing: bytes[segmentStart..<position])
                guard let text = String(validating: segment, as: UTF8.self) else { throw error("invalid UTF-8 in a string", at: segmentStart) }
                result += text
                position += 1
                guard position < bytes.count else { break }
                switch bytes[position] {
                case UInt8(ascii: "\""): result += "\""
                case UInt8(ascii: "\\"): result += "\\"
                case UInt8(ascii: "/"): result += "/"
                case UInt8(ascii: "b"): result += "\u{08}"
                case UInt8(ascii: "f"): result += "\u{0C}"
                case UInt8(ascii: "n"): result += "\n"
                case UInt8(ascii: "r"): result += "\r"
                case UInt8(ascii: "t"): result += "\t"
                case UInt8(ascii: "u"):
                    var scalar = try hexQuad()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard position + 2 < bytes.count, bytes[position + 1] == UInt8(ascii: "\\"), bytes[position + 2] == UInt8(ascii: "u") else {
                            throw error("unpaired surrogate in a \\u escape")
                        }
                        position += 2
                        let low = try hexQuad()
                        guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate in a \\u escape") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw error("unpaired surrogate in a \\u escape")
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                    result.unicodeScalars.append(unicode)
                default:
                    throw error("invalid escape '\\\(character(at: position))' in a string")
                }
                position += 1
                segmentStart = position
                continue
            }
            position += 1
        }
        throw error("unterminated string", at: start)
    }

    /// The four hex digits after `\u` (position is on the `u`; ends on the last digit).
    mutating func hexQuad() throws -> UInt32 {
        guard position + 4 < bytes.count else { throw error("incomplete \\u escape") }
        var value: UInt32 = 0
        for offset in 1...4 {
            let byte = bytes[position + offset]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("invalid hex digit in a \\u escape", at: position + offset)
            }
            value = value << 4 | digit
        }
        position += 4
        return value
    }
}
