import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// An open-loop HTTP/1.1 load generator for restarts: requests start at a fixed rate whatever the
/// server does, over a pool of keep-alive connections as a client library keeps one. An idle
/// connection is reused (the most recently used first, or in turn: `Reuse`); a new one is opened
/// when none is idle, up to `maximumConnections`, after which requests wait for one. A connection whose response says
/// `Connection: close`, or that the server closed while idle, leaves the pool. Nothing is retried:
/// every request ends answered or failed, and each failure records why.
package final class RateLoadClient: Sendable {
    /// One request to send.
    package struct Request: Sendable {
        package var path: String
        package var headers: [(String, String)]
        package var body: ByteBuffer

        package init(path: String, headers: [(String, String)], body: ByteBuffer) {
            self.path = path
            self.headers = headers
            self.body = body
        }
    }

    /// Which idle connection a request takes.
    package enum Reuse: String, Sendable, CaseIterable {
        /// The most recently used (as most client libraries do): the others idle and time out.
        case lifo
        /// The one idle longest: every connection stays in use, so each is busy when a drain starts.
        case fifo
    }

    /// What one run saw.
    package struct Outcome: Sendable {
        /// Requests started.
        package var sent = 0
        /// Answered requests by status code.
        package var statusCounts: [Int: Int] = [:]
        /// Requests without an answer, by reason: `refused` (no process listened),
        /// `closed_before_response` (on a fresh or a reused connection), `connect_error`, `timeout`.
        package var failures: [String: Int] = [:]
        /// Latency of every answered request, from its scheduled start (so time spent waiting for a
        /// connection counts), nanoseconds, sorted.
        package var latencyNanoseconds: [UInt64] = []
        /// Connections opened over the run.
        package var connectionsOpened = 0

        /// Requests answered with a 2xx status.
        package var succeeded: Int { statusCounts.filter { (200..<300).contains($0.key) }.values.reduce(0, +) }
        /// Requests not answered with a 2xx status, for whatever reason.
        package var failed: Int { sent - succeeded }

        /// The `fraction` quantile of the latencies, milliseconds (nearest rank).
        package func quantileMilliseconds(_ fraction: Double) -> Double {
            guard !latencyNanoseconds.isEmpty else { return 0 }
            let rank = min(latencyNanoseconds.count - 1, max(0, Int((fraction * Double(latencyNanoseconds.count)).rounded(.up)) - 1))
            return Double(latencyNanoseconds[rank]) / 1e6
        }
    }

    private let host: String
    private let port: Int
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Starts `rate` requests a second for `seconds`, then waits for the last answer or failure.
    /// `next(sequence)` makes request `sequence`; `onAnswered(count)` sees the running count of
    /// answered requests (on the client's event loop: it must not block).
    package func run(
        rate: Double, seconds: Double, maximumConnections: Int, timeoutSeconds: Double, reuse: Reuse = .lifo,
        next: @escaping @Sendable (Int) -> Request, onAnswered: @escaping @Sendable (Int) -> Void = { _ in }
    ) async throws -> Outcome {
        let loop = group.next()
        let total = Int(rate * seconds)
        let state = try await loop.submit {
            LoadState(
                loop: loop, host: self.host, port: self.port, maximumConnections: maximumConnections, reuse: reuse,
                timeoutNanoseconds: Int64(timeoutSeconds * 1e9), total: total, next: next, onAnswered: onAnswered)
        }.get()
        let started = DispatchTime.now().uptimeNanoseconds
        let issuer = loop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(1)) { task in
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            state.issue(upTo: min(total, Int(elapsed * rate)))
            if state.issued == total { task.cancel() }
        }
        defer { issuer.cancel() }
        try await state.finished.futureResult.get()
        var outcome = try await loop.submit { state.outcome }.get()
        outcome.latencyNanoseconds.sort()
        return outcome
    }

    /// Closes the client's event loop.
    package func shutdown() async throws { try await group.shutdownGracefully() }
}

/// A request waiting for, or on, a connection.
private struct Pending {
    let sequence: Int
    let startedAt: UInt64
    let request: RateLoadClient.Request
}

/// The pool and the tallies, confined to the client's event loop.
private final class LoadState: @unchecked Sendable {
    let loop: EventLoop
    let host: String
    let port: Int
    let maximumConnections: Int
    let reuse: RateLoadClient.Reuse
    let timeoutNanoseconds: Int64
    let total: Int
    let next: @Sendable (Int) -> RateLoadClient.Request
    let onAnswered: @Sendable (Int) -> Void
    let finished: EventLoopPromise<Void>
    var outcome = RateLoadClient.Outcome()
    private(set) var issued = 0
    private var answered = 0
    private var ended = 0
    private var open = 0
    private var idle: [LoadConnection] = []
    private var waiting: [Pending] = []
    private var waitingHead = 0

    init(
        loop: EventLoop, host: String, port: Int, maximumConnections: Int, reuse: RateLoadClient.Reuse, timeoutNanoseconds: Int64,
        total: Int,
        next: @escaping @Sendable (Int) -> RateLoadClient.Request, onAnswered: @escaping @Sendable (Int) -> Void
    ) {
        self.loop = loop
        self.host = host
        self.port = port
        self.maximumConnections = maximumConnections
        self.reuse = reuse
        self.timeoutNanoseconds = timeoutNanoseconds
        self.total = total
        self.next = next
        self.onAnswered = onAnswered
        finished = loop.makePromise()
        if total == 0 { finished.succeed(()) }
    }

    /// Starts requests until `count` have been started.
    func issue(upTo count: Int) {
        while issued < count {
            let pending = Pending(sequence: issued, startedAt: DispatchTime.now().uptimeNanoseconds, request: next(issued))
            issued += 1
            outcome.sent += 1
            if !idle.isEmpty {
                (reuse == .lifo ? idle.removeLast() : idle.removeFirst()).send(pending)
            } else if open < maximumConnections {
                connect(for: pending)
            } else {
                waiting.append(pending)
            }
        }
    }

    private func connect(for pending: Pending) {
        open += 1
        outcome.connectionsOpened += 1
        let connection = LoadConnection(state: self)
        ClientBootstrap(group: loop)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.nanoseconds(timeoutNanoseconds))
            .channelInitializer { channel in
                channel.pipeline.addHTTPClientHandlers().flatMap { channel.pipeline.addHandler(connection) }
            }
            .connect(host: host, port: port)
            .whenComplete { result in
                switch result {
                case .success: connection.send(pending)
                case .failure(let error):
                    self.open -= 1
                    let refused = (error as? IOError)?.errnoCode == ECONNREFUSED || "\(error)".contains("refused")
                    self.end(pending, status: nil, failure: refused ? "refused" : "connect_error")
                    self.serveWaiting()
                }
            }
    }

    /// A connection finished a response and stays open: it takes the next waiting request, or idles.
    func release(_ connection: LoadConnection) {
        if let pending = takeWaiting() {
            connection.send(pending)
        } else {
            idle.append(connection)
        }
    }

    /// A connection closed (by either side): it leaves the pool and its slot serves a waiting request.
    func closed(_ connection: LoadConnection) {
        open -= 1
        idle.removeAll { $0 === connection }
        serveWaiting()
    }

    private func serveWaiting() {
        while open < maximumConnections, let pending = takeWaiting() { connect(for: pending) }
    }

    private func takeWaiting() -> Pending? {
        guard waitingHead < waiting.count else { return nil }
        defer {
            waitingHead += 1
            if waitingHead == waiting.count {
                waiting.removeAll(keepingCapacity: true)
                waitingHead = 0
            }
        }
        return waiting[waitingHead]
    }

    /// Records how `pending` ended: answered with `status`, or failed for `failure`.
    func end(_ pending: Pending, status: Int?, failure: String?) {
        if let status {
            outcome.statusCounts[status, default: 0] += 1
            outcome.latencyNanoseconds.append(DispatchTime.now().uptimeNanoseconds - pending.startedAt)
            answered += 1
            onAnswered(answered)
        } else if let failure {
            outcome.failures[failure, default: 0] += 1
        }
        ended += 1
        if ended == total { finished.succeed(()) }
    }
}

/// One keep-alive connection: one request at a time, like a pooled client connection.
private final class LoadConnection: ChannelInboundHandler, @unchecked Sendable {  // confined to the client's event loop
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let state: LoadState
    private var context: ChannelHandlerContext?
    private var current: Pending?
    private var answeredBefore = false
    private var status = 0
    private var closeAfterResponse = false
    private var timeout: Scheduled<Void>?
    private var connected = false

    init(state: LoadState) { self.state = state }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelActive(context: ChannelHandlerContext) {
        connected = true
        context.fireChannelActive()
    }

    func send(_ pending: Pending) {
        guard let context, context.channel.isActive else {
            state.end(pending, status: nil, failure: answeredBefore ? "closed_before_response_reused" : "closed_before_response_new")
            return
        }
        current = pending
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: pending.request.path)
        head.headers.add(name: "Host", value: state.host)
        head.headers.add(name: "Content-Type", value: "application/json")
        head.headers.add(name: "Content-Length", value: String(pending.request.body.readableBytes))
        for (name, value) in pending.request.headers { head.headers.add(name: name, value: value) }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(pending.request.body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        timeout = context.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(state.timeoutNanoseconds)) { [self] in
            guard let pending = current else { return }
            current = nil
            state.end(pending, status: nil, failure: "timeout")
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            closeAfterResponse = head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "close" }
        case .body: break
        case .end:
            timeout?.cancel()
            guard let pending = current else { return }
            current = nil
            answeredBefore = true
            state.end(pending, status: status, failure: nil)
            if closeAfterResponse {
                context.close(promise: nil)
            } else {
                state.release(self)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timeout?.cancel()
        if let pending = current {
            current = nil
            state.end(pending, status: nil, failure: answeredBefore ? "closed_before_response_reused" : "closed_before_response_new")
        }
        if connected { state.closed(self) }  // a failed connect is counted where it fails
        context.fireChannelInactive()
    }
}
