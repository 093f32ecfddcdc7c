import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes
import NIOPosix
import Synchronization

/// How the HTTP server drains its connections on graceful shutdown.
package struct DrainPolicy: Sendable {
    /// How long an idle keep-alive connection is kept for one more request (`SPLITD_DRAIN_GRACE`).
    package var graceSeconds: TimeInterval
    /// When connections still open are closed, requests in flight or not (`SPLITD_DRAIN_TIMEOUT`).
    package var timeoutSeconds: TimeInterval
    /// How long a connection splitd has half-closed waits for the client to close its side.
    package var lingerSeconds: TimeInterval = 2

    package init(graceSeconds: TimeInterval, timeoutSeconds: TimeInterval) {
        self.graceSeconds = graceSeconds
        self.timeoutSeconds = timeoutSeconds
    }
}

/// What the drain did to the connections, summed over all of them (for the log line at the end).
package final class DrainReport: Sendable {
    /// The counts so far.
    package struct Counts: Sendable, Equatable {
        /// Responses that carried `Connection: close` (then the connection was closed).
        package var closedAfterResponse = 0
        /// Connections still idle at the end of the grace period, closed without a request lost.
        package var closedIdle = 0
        /// Connections closed at the drain timeout with a request unanswered.
        package var closedAtTimeout = 0
        /// Requests that arrived after splitd had closed its side: discarded unprocessed.
        package var discardedRequests = 0
    }
    private let state = Mutex(Counts())

    package init() {}
    package var counts: Counts { state.withLock { $0 } }
    func add(_ change: (inout Counts) -> Void) { state.withLock { change(&$0) } }
}

/// The server's open connections, so that the drain can tell each of them it has begun.
final class ConnectionRegistry: Sendable {
    private let state = Mutex((draining: false, channels: [ObjectIdentifier: any Channel]()))

    /// Adds a connection once its handlers are in place; one added after the drain began is told at once.
    func add(_ channel: any Channel) {
        let draining = state.withLock { state in
            if !state.draining { state.channels[ObjectIdentifier(channel)] = channel }
            return state.draining
        }
        if draining {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        } else {
            channel.closeFuture.whenComplete { _ in self.state.withLock { _ = $0.channels.removeValue(forKey: ObjectIdentifier(channel)) } }
        }
    }

    /// Begins the drain: every open connection gets `ChannelShouldQuiesceEvent` on its event loop.
    /// The future (the number told) completes once every one of them has processed it.
    func drain() -> EventLoopFuture<Int> {
        let channels = state.withLock { state in
            state.draining = true
            return Array(state.channels.values)
        }
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let told = channels.map { channel in
            channel.eventLoop.submit { channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
        }
        return EventLoopFuture.andAllComplete(told, on: loop).map { channels.count }
    }
}

/// Drains one HTTP/1.1 connection when the server stops (`ChannelShouldQuiesceEvent`) so that no
/// request a client sends is lost:
/// - a request in progress is answered, with `Connection: close`; splitd then half-closes (FIN
///   after the response) and closes when the client does, or after `lingerSeconds`;
/// - an idle connection is kept for `graceSeconds`: a request arriving on it is answered the same
///   way; one still idle then is half-closed, the only moment a client could be sending (one
///   round trip: HTTP/1.1 cannot announce a close to an idle client);
/// - request bytes arriving after splitd's FIN are discarded before any handler sees them: every
///   request is either answered or never processed, so a client may retry one that got no answer;
/// - at `timeoutSeconds`, whatever is still open is closed.
/// It sits behind Hummingbird's HTTP/1 codec and in front of its connection state handler, which
/// therefore never sees the quiesce event (it would close idle connections at once, under a
/// client that may be sending on them).
final class ConnectionDrainHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let policy: DrainPolicy
    private let report: DrainReport
    private let logger: Logger
    /// Requests whose head has been read and whose response has not ended.
    private var requestsInProgress = 0
    private var draining = false
    /// The response being written ends the connection: nothing read after it is processed.
    private var closing = false
    private var closeAfterResponse = false
    private var graceTimer: Scheduled<Void>?
    private var timeoutTimer: Scheduled<Void>?
    private var lingerTimer: Scheduled<Void>?

    init(policy: DrainPolicy, report: DrainReport, logger: Logger) {
        self.policy = policy
        self.report = report
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if closing {
            if case .head(let request) = part {
                report.add { $0.discardedRequests += 1 }
                logger.debug("request discarded: the connection is closing", metadata: ["path": "\(request.path ?? "")"])
            }
            return
        }
        if case .head = part {
            requestsInProgress += 1
            graceTimer?.cancel()
            graceTimer = nil
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        guard !draining else { return }
        draining = true
        timeoutTimer = schedule(context, after: policy.timeoutSeconds) { handler, context in
            if handler.requestsInProgress > 0 { handler.report.add { $0.closedAtTimeout += 1 } }
            context.close(promise: nil)
        }
        if requestsInProgress == 0 { startGrace(context) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var response) where draining && !closing && requestsInProgress == 1 && response.status.kind != .informational:
            // The last request answered on this connection (a pipelined one behind it would be
            // answered first, and its response would carry the header instead).
            response.headerFields[.connection] = "close"
            closing = true
            closeAfterResponse = true
            report.add { $0.closedAfterResponse += 1 }
            context.write(wrapOutboundOut(.head(response)), promise: promise)
        case .end:
            requestsInProgress -= 1
            if closeAfterResponse {
                context.writeAndFlush(data, promise: promise)
                halfClose(context)
            } else {
                context.write(data, promise: promise)
                if draining && requestsInProgress == 0 { startGrace(context) }
            }
        default:
            context.write(data, promise: promise)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimers()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
    }

    /// Keeps an idle connection for the grace period, then half-closes it if it is still idle.
    private func startGrace(_ context: ChannelHandlerContext) {
        guard graceTimer == nil, !closing else { return }
        graceTimer = schedule(context, after: policy.graceSeconds) { handler, context in
            handler.graceTimer = nil
            guard handler.requestsInProgress == 0, !handler.closing else { return }
            handler.report.add { $0.closedIdle += 1 }
            handler.halfClose(context)
        }
    }

    /// FIN after what has been written (NIO shuts the output down once pending writes are out);
    /// the client's FIN then closes the connection, or the linger timer does.
    private func halfClose(_ context: ChannelHandlerContext) {
        closing = true
        graceTimer?.cancel()
        graceTimer = nil
        context.close(mode: .output, promise: nil)
        lingerTimer = schedule(context, after: policy.lingerSeconds) { _, context in context.close(promise: nil) }
    }

    private func schedule(
        _ context: ChannelHandlerContext, after seconds: TimeInterval,
        _ body: @escaping (ConnectionDrainHandler, ChannelHandlerContext) -> Void
    ) -> Scheduled<Void> {
        context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(seconds * 1e9))) { body(self, context) }
    }

    private func cancelTimers() {
        for timer in [graceTimer, timeoutTimer, lingerTimer] { timer?.cancel() }
        graceTimer = nil
        timeoutTimer = nil
        lingerTimer = nil
    }
}

@available(*, unavailable)
extension ConnectionDrainHandler: Sendable {}
