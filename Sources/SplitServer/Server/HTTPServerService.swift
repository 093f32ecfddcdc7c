import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Where the HTTP server's connections come from.
package enum HTTPListener: Sendable, CustomStringConvertible {
    /// A socket splitd binds to HOST:PORT itself; closed on SIGTERM, so connections are refused
    /// until the next process has bound it again.
    case bind(host: String, port: Int)
    /// A listening socket passed by systemd (socket activation); systemd keeps it open across
    /// restarts, so connections made while no splitd accepts wait in its backlog.
    case inherited(InheritedListener)

    package var description: String {
        switch self {
        case .bind(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .inherited(let listener): return listener.address
        }
    }
}

/// splitd's HTTP server: Hummingbird's HTTP/1.1 channel and an application responder on a NIO
/// server socket that is either bound here or inherited from systemd, drained on graceful
/// shutdown without losing a request on a keep-alive connection (`ConnectionDrainHandler`).
///
/// Hummingbird's `Application` only binds addresses, and its quiescing closes idle keep-alive
/// connections at once; so this service does what `ApplicationProtocol.run()` does for each
/// request (request context with a request id in its logger, `Date` and `Server` headers, an
/// unexpected error answered 500) around its own `ServerBootstrap`. On graceful shutdown it
/// closes its listening socket, sends every connection the quiesce event that starts its drain
/// (`ConnectionRegistry`), and returns once the last connection has closed.
package struct HTTPServerService<Responder: HTTPResponder>: Service
where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
    let responder: Responder
    let listener: HTTPListener
    let serverName: String
    let drain: DrainPolicy
    let onServerRunning: @Sendable (any Channel) async -> Void
    let logger: Logger

    /// A server for `responder` on `listener`; `onServerRunning` is called once it accepts.
    package init(
        responder: Responder, listener: HTTPListener, serverName: String, drain: DrainPolicy, logger: Logger,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) {
        self.responder = responder
        self.listener = listener
        self.serverName = serverName
        self.drain = drain
        self.logger = logger
        self.onServerRunning = onServerRunning
    }

    package func run() async throws {
        let report = DrainReport()
        let connections = ConnectionRegistry()
        let (policy, logger) = (drain, logger)
        let channelSetup = HTTP1Channel(
            responder: respond(dates: HTTPDate()),
            configuration: .init(additionalChannelHandlers: [ConnectionDrainHandler(policy: policy, report: report, logger: logger)]))
        let server = try await bind { channel in
            channelSetup.setup(channel: channel, logger: logger).map { connection in
                connections.add(channel)
                return connection
            }
        }
        await withGracefulShutdownHandler {
            await onServerRunning(server.channel)
            await withDiscardingTaskGroup { group in
                do {
                    try await server.executeThenClose { accepted in
                        for try await connection in accepted {
                            group.addTask { await channelSetup.handle(value: connection, logger: logger) }
                        }
                    }
                } catch {
                    logger.error("accepting HTTP connections failed", metadata: ["error": "\(error)"])
                }
            }
        } onGracefulShutdown: {
            // Stop accepting first (an inherited socket stays open in systemd: connections queue
            // there for the next process), then tell every connection; the log line comes once all have been told.
            server.channel.close().whenComplete { _ in
                connections.drain().whenComplete { result in
                    logger.notice(
                        "HTTP drain started: not accepting; requests in flight finish; idle keep-alive connections get a grace period",
                        metadata: [
                            "connections": "\((try? result.get()) ?? 0)", "grace_seconds": "\(policy.graceSeconds)",
                            "timeout_seconds": "\(policy.timeoutSeconds)",
                        ])
                }
            }
        }
        let counts = report.counts
        logger.notice(
            "HTTP drain finished: every connection closed",
            metadata: [
                "closed_after_response": "\(counts.closedAfterResponse)", "closed_idle": "\(counts.closedIdle)",
                "closed_at_timeout": "\(counts.closedAtTimeout)", "discarded_requests": "\(counts.discardedRequests)",
            ])
    }

    /// The listening channel, bound here or on the inherited descriptor; `setUp` prepares each connection.
    private func bind(
        _ setUp: @escaping @Sendable (any Channel) -> EventLoopFuture<HTTP1Channel.Value>
    ) async throws -> NIOAsyncChannel<HTTP1Channel.Value, Never> {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
        switch listener {
        case .bind(let host, let port):
            return try await bootstrap.serverChannelOption(ChannelOptions.backlog, value: 256)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .bind(host: host, port: port, serverBackPressureStrategy: nil, childChannelInitializer: setUp)
        case .inherited(let inherited):
            // Already bound and listening (systemd's Backlog= applies).
            return try await bootstrap.bind(inherited.descriptor, serverBackPressureStrategy: nil, childChannelInitializer: setUp)
        }
    }

    /// One request, as `ApplicationProtocol.run()` answers it.
    private func respond(dates: HTTPDate) -> HTTPChannelHandler.Responder {
        let (responder, serverName, logger) = (responder, serverName, logger)
        return { (request, writer: consuming ResponseWriter, channel) in
            var logger = logger
            logger[metadataKey: "hb.request.id"] = .stringConvertible(RequestID())
            let context = Responder.Context(source: .init(channel: channel, logger: logger))
            var response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch let error as HTTPParserError {
                throw error  // Hummingbird answers 400 and closes
            } catch {
                logger.debug("unrecognised error", metadata: ["error.type": "\(error)"])
                response = Response(status: .internalServerError, body: .init())
            }
            response.headers[.date] = dates.current
            response.headers[.server] = serverName
            do {
                try await writer.write(response: response.head, body: response.body)
            } catch is HTTPParserError {
                // Part of the response is out: a parser error must not make Hummingbird write a 400.
                throw ResponseAbandoned()
            }
        }
    }
}

/// A response that could not be finished; the connection is closed.
struct ResponseAbandoned: Error {}

/// The `Date` header's value (RFC 9110 IMF-fixdate), formatted once per second.
final class HTTPDate: Sendable {
    private let cached = Mutex((second: 0, text: ""))
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Now, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    var current: String {
        let now = time(nil)
        return cached.withLock { cache in
            if cache.second != now { cache = (now, Self.format(now)) }
            return cache.text
        }
    }

    static func format(_ seconds: time_t) -> String {
        var seconds = seconds
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(1900 + parts.tm_year) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
