import Dispatch
import Foundation

/// A bounded pool of libpq connections for Swift concurrency.
///
/// libpq calls block, so every call runs on the pool's own dispatch queue (never on the
/// cooperative thread pool), and callers `await` the result. At most `maximumConnections` are open;
/// further callers wait in line. A connection found broken (on checkout, or after a connection-level
/// error) is closed and replaced; when that happens every idle connection of the same generation is
/// retired too, because a server restart kills them all — so after a PostgreSQL restart the caller
/// whose statement was in flight sees the failure and everyone after gets a fresh connection.
package actor ConnectionPool {
    /// Where connections go.
    package nonisolated let url: String
    /// Upper bound on open connections.
    package nonisolated let maximumConnections: Int
    private let queue: DispatchQueue
    private var idle: [PostgresConnection] = []
    private var openCount = 0
    private var waiters: [CheckedContinuation<PostgresConnection?, Never>] = []
    private var generation = 0
    private var closed = false

    /// Creates a pool; connections open lazily on first use.
    package init(url: String, maximumConnections: Int = 8) {
        self.url = url
        self.maximumConnections = max(1, maximumConnections)
        self.queue = DispatchQueue(label: "splitd.postgres", qos: .userInitiated, attributes: .concurrent)
    }

    /// Runs `body` with a connection of its own, off the cooperative pool.
    package func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let connection = try await checkOut()
        do {
            let value = try await run(on: connection, body)
            checkIn(connection)
            return value
        } catch {
            checkIn(connection, after: error)
            throw error
        }
    }

    /// `withConnection` for code on a thread of its own (benchmarks, tools): blocks that thread,
    /// never the cooperative pool's.
    package nonisolated func withConnectionBlocking<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) throws -> T {
        let semaphore = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var outcome: Result<T, Error>?
        Task {
            do { outcome = .success(try await self.withConnection(body)) } catch { outcome = .failure(error) }
            semaphore.signal()
        }
        semaphore.wait()
        return try outcome!.get()
    }

    /// Runs `body` inside a transaction (rolled back if it throws).
    package func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await withConnection { connection in try connection.transaction { try body(connection) } }
    }

    /// Closes idle connections and refuses new work; in-flight callers finish normally.
    package func close() {
        closed = true
        for connection in idle { connection.close() }
        openCount -= idle.count
        idle.removeAll()
        for waiter in waiters { waiter.resume(returning: nil) }
        waiters.removeAll()
    }

    /// Open and idle connection counts (for metrics and tests).
    package var statistics: (open: Int, idle: Int, waiting: Int) { (openCount, idle.count, waiters.count) }

    // MARK: - Checkout

    private func checkOut() async throws -> PostgresConnection {
        while true {
            guard !closed else { throw PostgresError(.connection, message: "connection pool is closed") }
            if let connection = idle.popLast() {
                if connection.generation == generation && !connection.isBroken { return connection }
                discard(connection)
                continue
            }
            if openCount < maximumConnections {
                openCount += 1
                let url = self.url, generation = self.generation
                do {
                    return try await runBlocking { try PostgresConnection(url: url, generation: generation) }
                } catch {
                    openCount -= 1
                    wakeOneWaiterToRetry()
                    throw error
                }
            }
            // Wait for a connection to be handed over (or for room to open one: nil).
            if let handed = await withCheckedContinuation({ waiters.append($0) }) { return handed }
        }
    }

    private func checkIn(_ connection: PostgresConnection, after error: Error? = nil) {
        let connectionFailed = (error as? PostgresError)?.isConnectionFailure ?? false
        if connectionFailed || connection.isBroken || connection.generation != generation || closed {
            if connectionFailed || connection.isBroken { retireGeneration(of: connection) }
            discard(connection)
            wakeOneWaiterToRetry()
            return
        }
        if !waiters.isEmpty {
            waiters.removeFirst().resume(returning: connection)
        } else {
            idle.append(connection)
        }
    }

    /// A broken connection means the server probably went away: retire all idle connections of
    /// its generation so no other caller trips over a dead one.
    private func retireGeneration(of connection: PostgresConnection) {
        guard connection.generation == generation else { return }
        generation += 1
        for stale in idle { stale.close() }
        openCount -= idle.count
        idle.removeAll()
    }

    private func discard(_ connection: PostgresConnection) {
        connection.close()
        openCount -= 1
    }

    private func wakeOneWaiterToRetry() {
        if !waiters.isEmpty { waiters.removeFirst().resume(returning: nil) }
    }

    // MARK: - Blocking work

    private nonisolated func run<T: Sendable>(
        on connection: PostgresConnection,
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        try await runBlocking { try body(connection) }
    }

    private nonisolated func runBlocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do { continuation.resume(returning: try work()) } catch { continuation.resume(throwing: error) }
            }
        }
    }
}
