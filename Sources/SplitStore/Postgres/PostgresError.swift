/// A failure talking to PostgreSQL: what kind, the server's SQLSTATE and message when there is one.
package struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// Where the failure came from.
    package enum Kind: String, Sendable {
        /// Could not connect, or the connection broke.
        case connection
        /// The server rejected a statement.
        case server
        /// A value in a result could not be decoded as asked.
        case decoding
        /// A protocol-level surprise (unexpected result status).
        case protocolViolation
    }

    package let kind: Kind
    /// Five-character SQLSTATE (e.g. `23505` unique violation), when the server sent one.
    package let sqlState: String?
    /// Primary message.
    package let message: String
    /// The server's DETAIL and HINT, when present.
    package let detail: String?
    package let hint: String?

    package init(_ kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil, hint: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
    }

    /// True for errors after which the connection cannot be used any more.
    package var isConnectionFailure: Bool {
        kind == .connection || (sqlState?.hasPrefix(State.connectionExceptionClass) ?? false)
            || [State.adminShutdown, State.crashShutdown, State.cannotConnectNow].contains(sqlState)
    }

    package var description: String {
        var text = "postgres \(kind.rawValue) error"
        if let sqlState { text += " \(sqlState)" }
        text += ": \(message)"
        if let detail { text += " (\(detail))" }
        if let hint { text += " hint: \(hint)" }
        return text
    }

    /// The SQLSTATEs splitd tells apart (PostgreSQL's appendix A names).
    package enum State {
        /// Class 08: connection exceptions (the first two characters of the code).
        package static let connectionExceptionClass = "08"
        package static let adminShutdown = "57P01"
        package static let crashShutdown = "57P02"
        package static let cannotConnectNow = "57P03"
        package static let duplicateDatabase = "42P04"
        package static let uniqueViolation = "23505"
        package static let foreignKeyViolation = "23503"
        package static let checkViolation = "23514"
        package static let serializationFailure = "40001"
        package static let lockNotAvailable = "55P03"
    }
}
