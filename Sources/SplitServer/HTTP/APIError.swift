import Foundation
import Hummingbird
import SplitCore
import SplitStore
import SplitSupport

/// An API failure rendered as `{"error": code, "detail": sentence, "field": path?}`.
package struct APIError: Error, HTTPResponseError, Sendable {
    package let status: HTTPResponse.Status
    /// Stable machine-readable code (`invalid_field`, `not_found`, ...).
    package let code: String
    /// What went wrong, naming the field when there is one.
    package let detail: String
    package let field: String?
    package var headers: HTTPFields = [:]

    package init(_ status: HTTPResponse.Status, _ code: String, _ detail: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
    }

    /// The JSON body of an error.
    struct Body: Encodable {
        var error: String
        var detail: String
        var field: String?
    }

    package func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(Body(error: code, detail: detail, field: field))) ?? Data()
        var response = Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        for field in headers { response.headers.append(field) }
        return response
    }

    static func badRequest(_ detail: String, field: String? = nil) -> APIError { APIError(.badRequest, "bad_request", detail, field: field) }
    static func invalid(_ field: String, _ detail: String) -> APIError {
        APIError(
            .unprocessableContent, "invalid_field", "\(field) \(detail)",
            field: field)
    }
    static func notFound(_ detail: String) -> APIError { APIError(.notFound, "not_found", detail) }
    static func conflict(_ detail: String, field: String? = nil) -> APIError { APIError(.conflict, "conflict", detail, field: field) }
    static func unauthorized(_ detail: String) -> APIError {
        var error = APIError(.unauthorized, "unauthorized", detail)
        error.headers[.wwwAuthenticate] = "Bearer realm=\"splitd\""
        return error
    }
    static func forbidden(_ detail: String) -> APIError { APIError(.forbidden, "forbidden", detail) }
    static func tooLarge(_ detail: String) -> APIError { APIError(.contentTooLarge, "payload_too_large", detail) }

    /// The API error for a store-level refusal.
    init(_ error: StoreError) {
        switch error.kind {
        case .notFound: self.init(.notFound, "not_found", error.message, field: error.field)
        case .conflict: self.init(.conflict, "conflict", error.message, field: error.field)
        case .invalid:
            self.init(
                .unprocessableContent, "invalid_field", error.field.map { "\($0): \(error.message)" } ?? error.message,
                field: error.field)
        }
    }

    /// The API error for a field that cannot be accepted.
    init(_ error: JSONFieldError) {
        self.init(.unprocessableContent, "invalid_field", error.description, field: error.field)
    }
}

/// UTC ISO 8601 with microseconds, as every timestamp in the API is written.
func iso8601(_ date: Date) -> String { Timestamp.format(date) }

/// Parses RFC 3339 timestamps with or without fractional seconds.
func parseISO8601(_ text: String) -> Date? { Timestamp.parse(text) }
