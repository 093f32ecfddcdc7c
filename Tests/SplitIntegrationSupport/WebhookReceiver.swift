import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import SplitTestSupport

/// A real HTTP server on loopback that records webhook deliveries and answers as told.
package final class WebhookReceiver: Sendable {
    /// One request as received.
    package struct Received: Sendable {
        package var path: String
        package var headers: [String: String]
        package var body: Data
        package var receivedAt: Date
        package var webhookID: String? { headers["webhook-id"] }
        package var timestamp: Int? { headers["webhook-timestamp"].flatMap { Int($0) } }
        package var signature: String? { headers["webhook-signature"] }
    }

    /// How to answer: status, extra headers, and an optional delay before answering.
    package struct Reply: Sendable {
        package var status: Int
        package var headers: [String: String]
        package var delaySeconds: Double
        package init(status: Int = 200, headers: [String: String] = [:], delaySeconds: Double = 0) {
            self.status = status
            self.headers = headers
            self.delaySeconds = delaySeconds
        }
    }

    private actor Log {
        var received: [Received] = []
        var behaviour: @Sendable (Int, Received) -> Reply = { _, _ in Reply() }
        func append(_ request: Received) -> Reply {
            received.append(request)
            return behaviour(received.count, request)
        }
        func set(_ behaviour: @escaping @Sendable (Int, Received) -> Reply) { self.behaviour = behaviour }
    }

    private let log = Log()
    private let task: Task<Void, Error>
    private let group: ServiceGroup
    /// The port it listens on (127.0.0.1).
    package let port: Int

    /// The address it listens on (127.0.0.1 or ::1).
    package let host: String

    /// Starts listening on `host` (127.0.0.1 by default, or ::1) at a free port (or `port`).
    package init(port requested: Int = 0, host: String = "127.0.0.1") async throws {
        self.host = host
        let log = self.log
        let router = Router()
        router.post("/**") { request, _ -> Response in
            var request = request
            let buffer = try await request.collectBody(upTo: 16 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let reply = await log.append(Received(path: request.uri.path, headers: headers, body: Data(buffer.readableBytesView), receivedAt: Date()))
            if reply.delaySeconds > 0 { try await Task.sleep(nanoseconds: UInt64(reply.delaySeconds * 1e9)) }
            var response = Response(status: HTTPResponse.Status(code: reply.status))
            for (name, value) in reply.headers { if let field = HTTPField.Name(name) { response.headers[field] = value } }
            return response
        }
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        var logger = Logger(label: "receiver")
        logger.logLevel = .critical
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: requested), serverName: "receiver"),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(services: [app], gracefulShutdownSignals: [], logger: logger)
        self.group = group
        task = Task { try await group.run() }
        var iterator = stream.makeAsyncIterator()
        guard let bound = await iterator.next(), bound > 0 else { throw CancellationError() }
        port = bound
    }

    /// Sets how to answer request number n (1-based, counting every request received).
    package func respond(_ behaviour: @escaping @Sendable (Int, Received) -> Reply) async { await log.set(behaviour) }

    /// Everything received so far.
    package func received() async -> [Received] { await log.received }

    /// Waits until `count` requests arrived (or the timeout passes) and returns what arrived.
    package func waitFor(_ count: Int, timeoutSeconds: Double = 20) async -> [Received] {
        _ = await eventually(timeoutSeconds: timeoutSeconds, minimumProbes: 250, intervalSeconds: 0.02) { await log.received.count >= count }
        return await log.received
    }

    /// URL of `path` on this receiver.
    package func url(_ path: String = "/hook") -> String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)\(path)" }

    /// Stops listening: a graceful shutdown (requests in flight are answered, idle connections
    /// closed), then cancellation if a request still runs after `graceSeconds` (a reply told to
    /// wait long). Cancelling a server with connections open is the last resort only: NIO traps
    /// on an async writer dropped unfinished.
    package func stop(graceSeconds: Double = 10) async {
        await group.triggerGracefulShutdown()
        let task = self.task
        let stopped = Task { _ = try? await task.value }
        let watchdog = Task {
            try await Task.sleep(nanoseconds: UInt64(graceSeconds * 1e9))
            task.cancel()
        }
        await stopped.value
        watchdog.cancel()
    }
}
