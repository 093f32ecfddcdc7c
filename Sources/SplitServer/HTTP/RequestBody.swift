import Foundation
import Hummingbird
import SplitCore

/// Reading request bodies: size limits and JSON decoding with errors that name the field.
enum RequestBody {
    /// The raw body, refusing more than `limit` bytes with 413.
    static func data(_ request: inout Request, limit: Int) async throws -> Data {
        do {
            let buffer = try await request.collectBody(upTo: limit)
            return Data(buffer: buffer)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw APIError.tooLarge("request body is larger than \(limit) bytes")
        }
    }

    /// Decodes a JSON body into `T`: invalid JSON is 400, a wrong or missing field 422 naming it.
    static func decode<T: Decodable>(_ type: T.Type, from request: inout Request, limit: Int) async throws -> T {
        let body = try await data(&request, limit: limit)
        return try decode(type, from: body)
    }

    static func decode<T: Decodable>(_ type: T.Type, from body: Data) throws -> T {
        guard !body.isEmpty else { throw APIError.badRequest("request body is empty; expected a JSON object") }
        do {
            return try JSONDecoder().decode(type, from: body)
        } catch let error as APIError {
            throw error
        } catch let error as DecodingError {
            let mapped = GraphError(decoding: error)
            if mapped.kind == .invalidJSON { throw APIError.badRequest(mapped.reason) }
            let field = mapped.field ?? "body"
            switch error {
            case .keyNotFound: throw APIError.invalid(field, "is required")
            case .typeMismatch(let expected, _): throw APIError.invalid(field, "must be \(describe(expected))")
            case .valueNotFound(let expected, _): throw APIError.invalid(field, "must be \(describe(expected)), not null")
            default: throw APIError.invalid(field, mapped.reason)
            }
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Int.Type, is Int64.Type: return "an integer"
        case is Double.Type: return "a number"
        case is Bool.Type: return "true or false"
        default: return type is any Collection.Type ? "an array" : "an object"
        }
    }
}

/// Validation of decoded values, throwing 422 with the field's path.
enum Check {
    static func positive(_ value: Double, _ field: String) throws {
        guard value.isFinite && value > 0 else { throw APIError.invalid(field, "must be a finite number > 0, got \(value)") }
    }

    static func nonNegative(_ value: Double, _ field: String) throws {
        guard value.isFinite && value >= 0 else { throw APIError.invalid(field, "must be a finite number >= 0, got \(value)") }
    }

    static func identifier(_ value: String, _ field: String) throws {
        guard !value.isEmpty, value.count <= 200 else { throw APIError.invalid(field, "must be a non-empty string of at most 200 characters") }
        guard !value.contains(where: { $0.isNewline || $0 == "\0" || $0 == "/" }) else {
            throw APIError.invalid(field, "must not contain '/', newlines or NUL")
        }
    }

    static func range(_ value: Int, _ bounds: ClosedRange<Int>, _ field: String) throws {
        guard bounds.contains(value) else { throw APIError.invalid(field, "must be between \(bounds.lowerBound) and \(bounds.upperBound), got \(value)") }
    }
}

extension Data {
    init(buffer: ByteBuffer) {
        self = buffer.withUnsafeReadableBytes { Data($0) }
    }
}
