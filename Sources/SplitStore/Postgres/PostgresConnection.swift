import CLibPQ
import Foundation

/// One libpq connection. Calls block the calling thread: use it through `ConnectionPool`, which
/// runs them on its own threads, never on Swift's cooperative pool.
///
/// Not safe for concurrent use; the pool hands each connection to one caller at a time, which is
/// what makes the `@unchecked Sendable` sound.
package final class PostgresConnection: @unchecked Sendable {
    private var handle: OpaquePointer?
    private var preparedNames: [String: String] = [:]
    private var transactionDepth = 0
    /// Pool generation this connection was opened in (older ones are retired after an outage).
    let generation: Int

    /// Connects to `url` (`postgres://user:pass@host:port/db?sslmode=...`, or `host=/socket/dir`
    /// in the query string for a unix socket) and sets UTC, ISO dates and UTF-8.
    package init(url: String, generation: Int = 0) throws {
        self.generation = generation
        guard let connection = PQconnectdb(url) else {
            throw PostgresError(.connection, message: "out of memory creating a connection")
        }
        handle = connection
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(connection))
            PQfinish(connection)
            handle = nil
            throw PostgresError(.connection, message: "cannot connect to \(Self.redacted(url)): \(message)")
        }
        // Server notices would go to stderr; the errors that matter arrive as results.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        _ = try execute("SET TIME ZONE 'UTC'; SET DateStyle = 'ISO'; SET client_encoding = 'UTF8'; SET client_min_messages = 'warning'")
    }

    deinit { close() }

    /// Closes the connection (idempotent).
    package func close() {
        if let handle { PQfinish(handle) }
        handle = nil
    }

    /// Whether the connection is known to be unusable (closed, or broken by the server going away).
    /// Reads any pending input first, so a server that terminated the session is noticed before use.
    package var isBroken: Bool {
        guard let handle else { return true }
        if PQstatus(handle) != CONNECTION_OK { return true }
        _ = PQconsumeInput(handle)
        return PQstatus(handle) != CONNECTION_OK
    }

    /// Runs one statement with bound parameters (`$1`, `$2`, ...) and returns its rows.
    /// Statements are prepared once per connection and reused. `binaryResults` has the rows sent in
    /// PostgreSQL's binary format (for statements returning many numbers; see PostgresBinaryCells).
    @discardableResult
    package func query(_ sql: String, _ parameters: [any PostgresEncodable] = [], binaryResults: Bool = false) throws -> PostgresResult {
        let handle = try open()
        let name = try preparedName(for: sql, parameterCount: parameters.count)
        let encoded = parameters.map { $0.postgresValue.textEncoding }
        // libpq takes C strings: a NUL would silently cut the value short (`dev\0x` would bind as
        // `dev`), so it is refused here whatever the callers checked.
        if let index = encoded.firstIndex(where: { $0?.utf8.contains(0) ?? false }) {
            throw StoreError(.invalid, "parameter $\(index + 1) contains a NUL character, which PostgreSQL text cannot hold")
        }
        let result = withCStrings(encoded) { values in
            PQexecPrepared(handle, name, Int32(values.count), values, nil, nil, binaryResults ? 1 : 0)
        }
        return try check(result, sql: sql)
    }

    /// Runs one or more statements without parameters (schema scripts, SET, BEGIN...).
    @discardableResult
    package func execute(_ sql: String) throws -> PostgresResult {
        let handle = try open()
        return try check(PQexec(handle, sql), sql: sql)
    }

    /// Runs `body` in a transaction: COMMIT when it returns, ROLLBACK when it throws. Called
    /// inside another transaction it becomes a savepoint, so the outer transaction stays atomic and
    /// a failing inner part rolls back only itself.
    @discardableResult
    package func transaction<T>(_ body: () throws -> T) throws -> T {
        let depth = transactionDepth
        let savepoint = "splitd_sp\(depth)"
        try execute(depth == 0 ? "BEGIN" : "SAVEPOINT \(savepoint)")
        transactionDepth += 1
        defer { transactionDepth = depth }
        do {
            let value = try body()
            try execute(depth == 0 ? "COMMIT" : "RELEASE SAVEPOINT \(savepoint)")
            return value
        } catch {
            if !isBroken { _ = try? execute(depth == 0 ? "ROLLBACK" : "ROLLBACK TO SAVEPOINT \(savepoint)") }
            throw error
        }
    }

    /// Whether a transaction opened with `transaction` is in progress.
    package var inTransaction: Bool { transactionDepth > 0 }

    /// Streams rows into `COPY table (columns) FROM STDIN` in text format and returns the row count.
    /// Each row is a list of optional field strings (nil = NULL); escaping is done here.
    @discardableResult
    package func copyIn(_ sql: String, rows: some Sequence<[String?]>) throws -> Int {
        try copyIn(sql) { writer in
            for row in rows {
                for field in row { writer.text(field) }
                writer.endRow()
                try writer.flushIfFull()
            }
        }
    }

    /// Streams rows written by `write` into `COPY ... FROM STDIN`; call `writer.flushIfFull()`
    /// after rows to bound memory. Returns the row count.
    @discardableResult
    package func copyIn(_ sql: String, write: (inout CopyWriter) throws -> Void) throws -> Int {
        try streamCopy(sql) { send in
            var writer = CopyWriter()
            writer.sink = send
            try write(&writer)
            try writer.flush()
        }
    }

    /// Streams binary rows written by `write` into `COPY ... FROM STDIN WITH (FORMAT binary)`.
    @discardableResult
    package func copyInBinary(_ sql: String, write: (inout BinaryCopyWriter) throws -> Void) throws -> Int {
        try streamCopy(sql) { send in
            var writer = BinaryCopyWriter()
            writer.sink = send
            try write(&writer)
            try writer.finish()
        }
    }

    /// The COPY protocol: start, let `produce` send the data through the given function, end,
    /// and collect the result. A failure while producing aborts the COPY (nothing is stored).
    private func streamCopy(_ sql: String, produce: (@escaping ([UInt8]) throws -> Void) throws -> Void) throws -> Int {
        let handle = try open()
        let start = PQexec(handle, sql)
        guard let start, PQresultStatus(start) == PGRES_COPY_IN else {
            return try check(start, sql: sql).affectedRows  // reports the error
        }
        PQclear(start)
        let send: ([UInt8]) throws -> Void = { bytes in
            let status = bytes.withUnsafeBufferPointer { pointer in
                pointer.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress, Int32($0.count)) }
            }
            guard status == 1 else { throw PostgresError(.connection, message: "COPY failed: \(Self.trimmed(PQerrorMessage(handle)))") }
        }
        do {
            try produce(send)
        } catch {
            _ = PQputCopyEnd(handle, "aborted by client")
            while let result = PQgetResult(handle) { PQclear(result) }
            throw error
        }
        guard PQputCopyEnd(handle, nil) == 1 else {
            throw PostgresError(.connection, message: "COPY end failed: \(Self.trimmed(PQerrorMessage(handle)))")
        }
        var copied = 0
        var failure: Error?
        while let result = PQgetResult(handle) {
            do { copied = try check(result, sql: sql).affectedRows } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
        return copied
    }

    // MARK: - Internals

    private func open() throws -> OpaquePointer {
        guard let handle else { throw PostgresError(.connection, message: "connection is closed") }
        return handle
    }

    private func preparedName(for sql: String, parameterCount: Int) throws -> String {
        if let name = preparedNames[sql] { return name }
        let handle = try open()
        let name = "s\(preparedNames.count)"
        _ = try check(PQprepare(handle, name, sql, Int32(parameterCount), nil), sql: sql)
        preparedNames[sql] = name
        return name
    }

    private func check(_ result: OpaquePointer?, sql: String) throws -> PostgresResult {
        guard let result else {
            throw PostgresError(.connection, message: Self.trimmed(PQerrorMessage(handle)))
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY, PGRES_COPY_IN:
            return PostgresResult(handle: result)
        default:
            func field(_ code: Character) -> String? {
                guard let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
                return String(cString: value)
            }
            let state = field("C")
            let message = field("M") ?? Self.trimmed(PQresultErrorMessage(result))
            let error = PostgresError(
                state == nil && isBroken ? .connection : .server, sqlState: state, message: message,
                detail: field("D"), hint: field("H"))
            PQclear(result)
            if error.isConnectionFailure { preparedNames.removeAll() }
            throw error
        }
    }

    static func trimmed(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "unknown error" }
        return String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The URL with any password replaced, for messages and logs.
    package static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? url
    }
}

/// Calls `body` with a C array of C strings (nil entries stay NULL) that lives for the call.
private func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let pointers: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } ?? nil }
    defer { for pointer in pointers { free(pointer) } }
    return body(pointers.map { $0.map { UnsafePointer($0) } })
}
