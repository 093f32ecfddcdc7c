/// A JSON object being read field by field, knowing its own path in the document
/// (`samples[3]`), so every refusal names the exact field: `samples[3].uplink_bps must be ...`.
///
/// The readers enforce the rules every input shares: numbers finite and within their
/// `ValueRange`, integers whole and in range, strings free of NUL and within a length limit.
public struct JSONObject: Sendable {
    /// Path of this object in the document ("" for the root).
    public let path: String
    /// Its members.
    public let members: [(key: String, value: JSONValue)]

    /// Reads `value` as an object at `path`, or throws naming the path.
    public init(_ value: JSONValue, path: String = "") throws {
        guard case .object(let members) = value else {
            throw JSONFieldError(field: path.isEmpty ? "body" : path, "must be an object, got \(value.kindDescription)")
        }
        self.path = path
        self.members = members
    }

    /// Parses `bytes` and reads the root as an object.
    public init<Bytes: Collection>(parsing bytes: Bytes) throws where Bytes.Element == UInt8 {
        try self.init(try JSONValue.parse(bytes))
    }

    /// The path of member `key`.
    public func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The value of `key`, or nil when absent or null.
    public subscript(_ key: String) -> JSONValue? {
        guard let value = members.last(where: { $0.key == key })?.value, value != .null else { return nil }
        return value
    }

    /// Whether `key` is present (even as null).
    public func contains(_ key: String) -> Bool { members.contains { $0.key == key } }

    func required<T>(_ key: String, _ read: (String) throws -> T?) throws -> T {
        guard let value = try read(key) else { throw JSONFieldError(field: field(key), "is required") }
        return value
    }

    // MARK: Strings

    /// A string, or nil when absent; refused when not a string, empty (unless allowed), longer
    /// than `maximumLength` characters, or containing NUL.
    public func string(_ key: String, maximumLength: Int = 10_000, allowEmpty: Bool = true) throws -> String? {
        guard let value = self[key] else { return nil }
        guard case .string(let text) = value else { throw JSONFieldError(field: field(key), "must be a string, got \(value.kindDescription)") }
        try Self.check(text, field: field(key), maximumLength: maximumLength, allowEmpty: allowEmpty)
        return text
    }

    /// A required string.
    public func requiredString(_ key: String, maximumLength: Int = 10_000, allowEmpty: Bool = true) throws -> String {
        try required(key) { try string($0, maximumLength: maximumLength, allowEmpty: allowEmpty) }
    }

    /// An array of strings, or nil when absent.
    public func strings(_ key: String, maximumLength: Int = 10_000) throws -> [String]? {
        guard let elements = try array(key) else { return nil }
        return try elements.enumerated().map { index, element in
            let path = "\(field(key))[\(index)]"
            guard case .string(let text) = element else { throw JSONFieldError(field: path, "must be a string, got \(element.kindDescription)") }
            try Self.check(text, field: path, maximumLength: maximumLength, allowEmpty: true)
            return text
        }
    }

    static func check(_ text: String, field: String, maximumLength: Int, allowEmpty: Bool) throws {
        if !allowEmpty && text.isEmpty { throw JSONFieldError(field: field, "must not be empty") }
        if text.utf8.contains(0) { throw JSONFieldError(field: field, "must not contain NUL (\\u0000)") }
        if text.utf8.count > maximumLength * 4 || text.count > maximumLength {
            throw JSONFieldError(field: field, "must be at most \(maximumLength) characters")
        }
    }

    // MARK: Numbers

    /// A number within `range`, or nil when absent.
    public func number(_ key: String, within range: ValueRange) throws -> Double? {
        guard let value = self[key] else { return nil }
        guard case .number(let number) = value else { throw JSONFieldError(field: field(key), "must be a number, got \(value.kindDescription)") }
        guard number.isFinite else { throw JSONFieldError(field: field(key), "is too large to be a number splitd accepts") }
        if let violation = range.violation(number) { throw JSONFieldError(field: field(key), violation) }
        return number
    }

    /// A required number within `range`.
    public func requiredNumber(_ key: String, within range: ValueRange) throws -> Double {
        try required(key) { try number($0, within: range) }
    }

    /// A whole number within `range`, or nil when absent (2.5 and 1e20 are refused, naming the field).
    public func integer(_ key: String, within range: ClosedRange<Int>) throws -> Int? {
        guard let value = self[key] else { return nil }
        guard case .number(let number) = value else { throw JSONFieldError(field: field(key), "must be an integer, got \(value.kindDescription)") }
        guard number.isFinite, number == number.rounded() else { throw JSONFieldError(field: field(key), "must be a whole number, got \(number)") }
        guard number >= Double(range.lowerBound), number <= Double(range.upperBound) else {
            throw JSONFieldError(
                field: field(key),
                "must be an integer between \(range.lowerBound) and \(range.upperBound), got \(ValueRange.format(number))")
        }
        return Int(number)
    }

    /// A required whole number within `range`.
    public func requiredInteger(_ key: String, within range: ClosedRange<Int>) throws -> Int {
        try required(key) { try integer($0, within: range) }
    }

    // MARK: Others

    /// A boolean, or nil when absent.
    public func bool(_ key: String) throws -> Bool? {
        guard let value = self[key] else { return nil }
        guard case .bool(let flag) = value else { throw JSONFieldError(field: field(key), "must be true or false, got \(value.kindDescription)") }
        return flag
    }

    /// A nested object, or nil when absent.
    public func object(_ key: String) throws -> JSONObject? {
        guard let value = self[key] else { return nil }
        return try JSONObject(value, path: field(key))
    }

    /// An array, or nil when absent.
    public func array(_ key: String) throws -> [JSONValue]? {
        guard let value = self[key] else { return nil }
        guard case .array(let elements) = value else { throw JSONFieldError(field: field(key), "must be an array, got \(value.kindDescription)") }
        return elements
    }

    /// The objects of an array, each knowing its path (`samples[3]`), or nil when absent.
    public func objects(_ key: String) throws -> [JSONObject]? {
        guard let elements = try array(key) else { return nil }
        return try elements.enumerated().map { try JSONObject($1, path: "\(field(key))[\($0)]") }
    }

    /// Refuses members not in `known` (for request bodies, where a misspelt field must not be
    /// silently ignored).
    public func refuseUnknown(_ known: Set<String>) throws {
        if let unknown = members.first(where: { !known.contains($0.key) }) {
            throw JSONFieldError(field: field(unknown.key), "is not a known field (expected one of \(known.sorted().joined(separator: ", ")))")
        }
    }
}

/// A field that cannot be accepted: its path in the document, and why.
public struct JSONFieldError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The field's path (`samples[3].uplink_bps`).
    public let field: String
    /// What is wrong with it.
    public let reason: String

    /// Creates an error.
    public init(field: String, _ reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field) \(reason)" }
}
