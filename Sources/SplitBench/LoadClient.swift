import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A closed-loop HTTP/1.1 load generator for the benchmarks: `connections` keep-alive TCP
/// connections, each sending its next request as soon as the previous response has been read
/// (real sockets, real HTTP encoding and parsing by NIO's codec). Each connection records the
/// latency of every response completed inside the measuring window, from the first byte written
/// to the last byte read.
final class LoadClient: Sendable {
    /// One request to send: its target, headers and body.
    struct Request: Sendable {
        var path: String
        var headers: [(String, String)]
        var body: ByteBuffer
    }

    /// What one run measured.
    struct Outcome: Sendable {
        /// Responses completed inside the window, by status code.
        var statusCounts: [Int: Int]
        /// Latencies of the responses completed inside the window, nanoseconds, sorted.
        var latencyNanoseconds: [UInt64]
        /// The window's length.
        var seconds: Double
        /// Responses with status 202 over the whole run, warm-up included (for checking storage).
        var acceptedTotal: Int

        var completed: Int { latencyNanoseconds.count }

        /// The `fraction` quantile of the latencies, milliseconds (nearest rank).
        func quantileMilliseconds(_ fraction: Double) -> Double {
            guard !latencyNanoseconds.isEmpty else { return 0 }
            let rank = min(latencyNanoseconds.count - 1, max(0, Int((fraction * Double(latencyNanoseconds.count)).rounded(.up)) - 1))
            return Double(latencyNanoseconds[rank]) / 1e6
        }
    }

    private let host: String
    private let port: Int
    private let group: MultiThreadedEventLoopGroup

    init(host: String, port: Int, threads: Int = 1) {
        self.host = host
        self.port = port
        group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
    }

    /// Runs `connections` connections for `warmUpSeconds` (not recorded), then `seconds` (recorded),
    /// then stops sending and waits for the requests in flight. `next(connection, sequence)` makes
    /// each connection's requests.
    func run(
        connections: Int, warmUpSeconds: Double, seconds: Double,
        next: @escaping @Sendable (_ connection: Int, _ sequence: Int) -> Request
    ) async throws -> Outcome {
        let clock = Window()
        let handlers = (0..<connections).map { ConnectionHandler(index: $0, host: host, window: clock, next: next) }
        var channels: [Channel] = []
        for handler in handlers {
            let channel = try await ClientBootstrap(group: group)
                .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.pipeline.addHTTPClientHandlers().flatMap { channel.pipeline.addHandler(handler) }
                }
                .connect(host: host, port: port).get()
            channels.append(channel)
        }
        let started = DispatchTime.now().uptimeNanoseconds
        clock.set(start: started + UInt64(warmUpSeconds * 1e9), end: started + UInt64((warmUpSeconds + seconds) * 1e9))
        for channel in channels { channel.pipeline.fireUserInboundEventTriggered(ConnectionHandler.Go()) }
        try await Task.sleep(nanoseconds: UInt64((warmUpSeconds + seconds) * 1e9))
        // Stop: every connection finishes its request in flight and then sends nothing more.
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for handler in handlers { tasks.addTask { try await handler.finished.futureResult.get() } }
            try await tasks.waitForAll()
        }
        for channel in channels { try? await channel.close() }
        var statusCounts: [Int: Int] = [:]
        var latencies: [UInt64] = []
        var acceptedTotal = 0
        for handler in handlers {
            let recorded = handler.recorded.withLockedValue { $0 }
            latencies += recorded.latencies
            statusCounts.merge(recorded.statusCounts, uniquingKeysWith: +)
            acceptedTotal += recorded.acceptedTotal
        }
        latencies.sort()
        return Outcome(statusCounts: statusCounts, latencyNanoseconds: latencies, seconds: seconds, acceptedTotal: acceptedTotal)
    }

    func shutdown() async throws { try await group.shutdownGracefully() }

    /// The measuring window, in `DispatchTime` nanoseconds.
    final class Window: Sendable {
        private let bounds = NIOLockedValueBox((start: UInt64.max, end: UInt64.max))
        func set(start: UInt64, end: UInt64) { bounds.withLockedValue { $0 = (start, end) } }
        var current: (start: UInt64, end: UInt64) { bounds.withLockedValue { $0 } }
    }

    /// What one connection recorded.
    struct Recorded: Sendable {
        var latencies: [UInt64] = []
        var statusCounts: [Int: Int] = [:]
        var acceptedTotal = 0
    }

    /// Sends a request, reads its response, records it, sends the next, until the window ends.
    final class ConnectionHandler: ChannelInboundHandler, @unchecked Sendable {  // confined to its channel's event loop
        typealias InboundIn = HTTPClientResponsePart
        typealias OutboundOut = HTTPClientRequestPart
        struct Go {}

        let index: Int
        let host: String
        let window: Window
        let next: @Sendable (Int, Int) -> Request
        let recorded = NIOLockedValueBox(Recorded())
        private(set) var finished: EventLoopPromise<Void>!
        private var sequence = 0
        private var sentAt: UInt64 = 0
        private var status = 0
        private var bounds: (start: UInt64, end: UInt64) = (.max, .max)
        private var local = Recorded()
        private var done = false

        init(index: Int, host: String, window: Window, next: @escaping @Sendable (Int, Int) -> Request) {
            self.index = index
            self.host = host
            self.window = window
            self.next = next
        }

        func handlerAdded(context: ChannelHandlerContext) {
            finished = context.eventLoop.makePromise()
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            guard event is Go else { return context.fireUserInboundEventTriggered(event) }
            bounds = window.current
            send(context)
        }

        private func send(_ context: ChannelHandlerContext) {
            let request = next(index, sequence)
            sequence += 1
            var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: request.path)
            head.headers.add(name: "Host", value: host)
            head.headers.add(name: "Content-Type", value: "application/json")
            head.headers.add(name: "Content-Length", value: String(request.body.readableBytes))
            for (name, value) in request.headers { head.headers.add(name: name, value: value) }
            sentAt = DispatchTime.now().uptimeNanoseconds
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(request.body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): status = Int(head.status.code)
            case .body: break
            case .end:
                let now = DispatchTime.now().uptimeNanoseconds
                if status == 202 { local.acceptedTotal += 1 }
                if now >= bounds.start && now < bounds.end {
                    local.latencies.append(now - sentAt)
                    local.statusCounts[status, default: 0] += 1
                }
                if now < bounds.end {
                    send(context)
                } else {
                    complete(nil)
                }
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: Error) {
            complete(error)
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            complete(BenchmarkError("connection \(index) was closed by the server"))
        }

        private func complete(_ error: Error?) {
            guard !done else { return }
            done = true
            recorded.withLockedValue { $0 = local }
            if let error { finished.fail(error) } else { finished.succeed(()) }
        }
    }
}

/// A benchmark that could not run as set up.
struct BenchmarkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
