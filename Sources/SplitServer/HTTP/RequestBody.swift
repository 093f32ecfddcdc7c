import Foundation
import Hummingbird
import NIOCore
import SplitCore

/// Reading request bodies: size limits, and JSON whose errors say where (line and column for
/// malformed JSON: 400; the field's path for a value that cannot be accepted: 422).
enum RequestBody {
    /// The raw body, refusing more than `limit` bytes with 413.
    static func data(_ request: inout Request, limit: Int) async throws -> Data {
        do {
            let buffer = try await request.collectBody(upTo: limit)
            return buffer.withUnsafeReadableBytes { Data($0) }
        } catch is NIOTooManyBytesError {
            throw APIError.tooLarge("request body is larger than \(limit) bytes")
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError.tooLarge("request body is larger than \(limit) bytes")
        }
    }

    /// The body as a JSON object.
    static func object(_ request: inout Request, limit: Int) async throws -> JSONObject {
        try object(from: try await data(&request, limit: limit))
    }

    /// `body` as a JSON object.
    static func object(from body: Data) throws -> JSONObject {
        guard !body.isEmpty else { throw APIError.badRequest("request body is empty; expected a JSON object") }
        do {
            return try JSONObject(parsing: body)
        } catch let error as JSONSyntaxError {
            throw APIError.badRequest(error.description)
        } catch let error as JSONFieldError {
            throw APIError.badRequest("the request body \(error.reason)")
        }
    }

    /// Decodes the body into `T`, mapping field errors to 422 naming the field.
    static func decode<T: JSONRequest>(_ type: T.Type, _ request: inout Request, limit: Int) async throws -> T {
        try decode(type, from: try await object(&request, limit: limit))
    }

    static func decode<T: JSONRequest>(_ type: T.Type, from object: JSONObject) throws -> T {
        do {
            return try T(json: object)
        } catch let error as JSONFieldError {
            throw APIError(error)
        }
    }
}

/// A request body read from JSON, checking every field as it is read.
protocol JSONRequest {
    init(json: JSONObject) throws
}

/// Validation shared by request bodies.
enum Check {
    /// Ids and names used as keys: 1...200 characters, no '/', newline or NUL.
    static func identifier(_ object: JSONObject, _ key: String) throws -> String? {
        guard let value = try object.string(key, maximumLength: 200, allowEmpty: false) else { return nil }
        try identifier(value, object.field(key))
        return value
    }

    static func requiredIdentifier(_ object: JSONObject, _ key: String) throws -> String {
        guard let value = try identifier(object, key) else { throw JSONFieldError(field: object.field(key), "is required") }
        return value
    }

    static func identifier(_ value: String, _ field: String) throws {
        guard !value.isEmpty, value.count <= 200 else { throw JSONFieldError(field: field, "must be a non-empty string of at most 200 characters") }
        guard !value.contains("/"), !value.unicodeScalars.contains(where: isControl) else {
            throw JSONFieldError(field: field, "must not contain '/' or control characters (NUL, newlines, ...)")
        }
    }

    /// Control characters (Unicode Cc: C0, DEL, C1), which no id, name or query value may hold.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool { scalar.properties.generalCategory == .control }

    /// Percent-decodes one path or query component strictly: a malformed escape or bytes that are
    /// not UTF-8 are an error (never replaced by U+FFFD), and so is a control character.
    static func decoded(_ raw: Substring, _ what: String) throws -> String {
        guard let text = String(raw).removingPercentEncoding else {
            throw APIError.badRequest("\(what) is not valid percent-encoded UTF-8")
        }
        guard !text.unicodeScalars.contains(where: isControl) else {
            throw APIError.badRequest("\(what) must not contain control characters (NUL, newlines, ...)")
        }
        return text
    }

    /// An integer query parameter within `range`.
    static func queryInteger(_ request: Request, _ name: String, _ range: ClosedRange<Int>) throws -> Int? {
        guard let text = try Query(request).get(name) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw APIError.invalid(name, "must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    /// A path parameter, percent-decoded strictly and checked as an identifier (the same rule as
    /// ids in bodies), so that `dev%00x` can never name device `dev`.
    static func pathParameter(_ name: String, _ context: SplitRequestContext) throws -> String {
        guard let raw = context.parameters.get(name) else { throw APIError.badRequest("missing path parameter \(name)") }
        let value = try decoded(Substring(raw), "path parameter '\(name)'")
        do {
            try identifier(value, name)
        } catch let error as JSONFieldError {
            throw APIError.badRequest("path parameter '\(name)' \(error.reason)")
        }
        return value
    }
}

/// A request's query parameters, decoded strictly (see `Check.decoded`): Hummingbird's own
/// decoding replaces invalid bytes with U+FFFD, which would let `?name=%FF` register a name nobody
/// sent.
struct Query {
    private let pairs: [(name: String, value: String)]

    init(_ request: Request) throws {
        var pairs: [(String, String)] = []
        for component in (request.uri.query ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let parts = component.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = try Check.decoded(parts[0], "a query parameter name")
            pairs.append((name, parts.count > 1 ? try Check.decoded(parts[1], "query parameter '\(name)'") : ""))
        }
        self.pairs = pairs
    }

    /// The first value of `name`, if given.
    func get(_ name: String) -> String? { pairs.first { $0.name == name }?.value }

    /// Every value of `name`, in order.
    func getAll(_ name: String) -> [String] { pairs.filter { $0.name == name }.map(\.value) }
}
