/// A failure talking to PostgreSQL: what kind, the server's SQLSTATE and message when there is one.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// Where the failure came from.
    public enum Kind: String, Sendable {
        /// Could not connect, or the connection broke.
        case connection
        /// The server rejected a statement.
        case server
        /// A value in a result could not be decoded as asked.
        case decoding
        /// A protocol-level surprise (unexpected result status).
        case protocolViolation
    }

    public let kind: Kind
    /// Five-character SQLSTATE (e.g. `23505` unique violation), when the server sent one.
    public let sqlState: String?
    /// Primary message.
    public let message: String
    /// The server's DETAIL and HINT, when present.
    public let detail: String?
    public let hint: String?

    public init(_ kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil, hint: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
    }

    /// True for errors after which the connection cannot be used any more.
    public var isConnectionFailure: Bool {
        kind == .connection || (sqlState?.hasPrefix("08") ?? false) || sqlState == "57P01" || sqlState == "57P02" || sqlState == "57P03"
    }

    public var description: String {
        var text = "postgres \(kind.rawValue) error"
        if let sqlState { text += " \(sqlState)" }
        text += ": \(message)"
        if let detail { text += " (\(detail))" }
        if let hint { text += " hint: \(hint)" }
        return text
    }

    /// Well-known SQLSTATEs.
    public enum State {
        public static let uniqueViolation = "23505"
        public static let foreignKeyViolation = "23503"
        public static let checkViolation = "23514"
        public static let serializationFailure = "40001"
        public static let lockNotAvailable = "55P03"
    }
}
