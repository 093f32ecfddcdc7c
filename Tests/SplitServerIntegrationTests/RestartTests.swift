import Foundation
import SplitBench
import SplitCore
import SplitIntegrationSupport
import SplitStore
import SplitTestSupport
import Testing

/// Restarts lose no request (docs/operations.md): SIGTERM answers what is in flight and closes
/// keep-alive connections with `Connection: close`; with socket activation the next process takes
/// over the same listening socket and no connection is refused. Real daemons, real PostgreSQL,
/// real sockets.
@Suite("Restarts", .serialized)
struct RestartTests {
    @Test(
        """
        SIGTERM without socket activation: the request in flight and one sent on an idle keep-alive connection are answered with \
        Connection: close; a connection left idle is closed after the grace; new connections are refused; exit 0
        """)
    func plainSigtermDrainsKeepAliveConnections() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        // A long grace: the request on the idle connection below must arrive within it however busy the machine is.
        let daemon = try await Daemon(database: database, extra: ["SPLITD_DRAIN_GRACE": "10s"])
        let (token, _) = try await Fleet.setUp(daemon, callback: nil)
        let inFlight = try RawHTTPConnection(port: daemon.port)
        let reused = try RawHTTPConnection(port: daemon.port)
        let idle = try RawHTTPConnection(port: daemon.port)
        for connection in [reused, idle] {
            let response = try await connection.exchange("GET", "/healthz")
            #expect(response.status == 200 && response.headers["connection"] == nil, "kept alive: \(response.headers)")
        }
        // Hold the telemetry table (SHARE blocks the daemon's COPY) so the request is in its handler at SIGTERM.
        let connection = try database.connect()
        defer { connection.close() }
        let blocker = try database.connect()
        defer { blocker.close() }
        _ = try blocker.query("BEGIN")
        _ = try blocker.query("LOCK TABLE telemetry IN SHARE MODE")
        let stored = try connection.query("SELECT count(*) AS n FROM telemetry").int(0, "n") ?? -1
        let samples = (0..<50).map { Fleet.telemetry("dev-1", uplink: 1e7 + Double($0)) }
        try await inFlight.send("POST", "/v1/telemetry", token: token, body: try JSONSerialization.data(withJSONObject: ["samples": samples]))
        let blockedCopies = "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'COPY telemetry%'"
        #expect(await eventually { (try? connection.query(blockedCopies).int(0, "n")) == 1 })

        daemon.terminate()
        #expect(await eventually { daemon.log().contains("HTTP drain started") })
        let late = try await reused.exchange("GET", "/healthz")
        #expect(late.status == 200 && late.headers["connection"] == "close", "a request during the drain is answered: \(late)")
        #expect(try await reused.closedByServer(), "and the connection is closed after it")
        #expect(await eventually { (try? RawHTTPConnection(port: daemon.port)) == nil }, "new connections are refused")

        _ = try blocker.query("COMMIT")
        let answered = try await inFlight.response()
        #expect(answered.status == 202 && answered.headers["connection"] == "close", "the request in flight is answered: \(answered)")
        #expect(try await inFlight.closedByServer())
        #expect(try await idle.closedByServer(), "the idle connection is closed after the grace, with nothing sent on it")
        #expect(await daemon.exitStatus(timeoutSeconds: 60) == 0, "\(daemon.log().suffix(2000))")
        #expect(try connection.query("SELECT count(*) AS n FROM telemetry").int(0, "n") == stored + 50)
        let summary = daemon.log().split(separator: "\n").last { $0.contains("HTTP drain finished") }.map(String.init) ?? ""
        #expect(summary.contains("closed_at_timeout=0") && summary.contains("discarded_requests=0"), "\(summary)")
        #expect(summary.contains("closed_after_response=2"), "\(summary)")
    }

    @Test("a restart under load through an inherited socket fails no request: SIGTERM, then the next process on the same socket")
    func restartThroughInheritedSocketFailsNothing() async throws {
        let database = try TestDatabase.make(migrated: true)
        defer { database.drop() }
        let graph = try ModelGraph(json: try Fleet.modelJSON("resnet18"))
        let tokens = try Benchmarks.seedTelemetryDevices(url: database.url, graph: graph, devices: 100)
        var options = Benchmarks.RestartOptions()
        options.mode = .activation
        options.rate = 60
        options.seconds = 6
        options.maximumConnections = 16
        let environment = Daemon.environment(database: database, instance: "restart-\(UUID().uuidString.prefix(6))")
        let result = try await Benchmarks.restartUnderLoad(
            binary: Daemon.binary, environment: environment, tokens: tokens, options: options,
            logDirectory: FileManager.default.temporaryDirectory)
        let outcome = result.outcome
        #expect(outcome.sent == 360)
        #expect(
            outcome.failed == 0,
            "failed: \(outcome.failures), statuses \(outcome.statusCounts)\nold:\n\(result.oldLog.suffix(3000))\nnew:\n\(result.newLog.suffix(2000))")
        #expect(result.oldExitStatus == 0 && result.newExitStatus == 0)
        #expect(result.oldLog.contains("socket activation") && result.newLog.contains("socket activation"))
        #expect(result.oldLog.contains("HTTP drain finished"))
        let connection = try database.connect()
        defer { connection.close() }
        #expect(try connection.query("SELECT count(*) AS n FROM telemetry").int(0, "n") == outcome.succeeded, "every 202 is stored, once")
    }

    @Test("splitd refuses socket activation it cannot serve: two sockets, or a socket that does not listen")
    func refusesWrongSockets() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        var environment = Daemon.environment(database: database, instance: "refuse-\(UUID().uuidString.prefix(6))")
        let socket = try ListeningSocket.loopback()
        defer { socket.close() }
        environment["LISTEN_FDS"] = "2"
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("splitd-refuse-\(getpid()).log")
        try? FileManager.default.removeItem(at: log)
        let two = try SplitdProcess(binary: Daemon.binary, environment: environment, socket: socket, logFile: log)
        #expect(await two.exitStatus(timeoutSeconds: 60) == 2)
        #expect(two.log().contains("LISTEN_FDS is 2"), "\(two.log())")
        // A descriptor 3 that is not a socket at all: splitd started with LISTEN_FDS=1 and nothing passed.
        environment["LISTEN_FDS"] = nil
        try? FileManager.default.removeItem(at: log)
        let none = try SplitdProcess(
            binary: URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", "exec 3</dev/null; LISTEN_FDS=1 LISTEN_PID=$$ exec \"$0\"", Daemon.binary.path],
            environment: environment, socket: nil, logFile: log)
        #expect(await none.exitStatus(timeoutSeconds: 60) == 2)
        #expect(none.log().contains("is not a socket"), "\(none.log())")
    }
}

/// One TCP connection speaking HTTP/1.1 by hand, to see exactly what the server sends and when
/// it closes. Blocking reads run on a thread of their own, never on the test's executor.
final class RawHTTPConnection: @unchecked Sendable {
    private let descriptor: CInt
    private var buffered: [UInt8] = []

    /// A response: status, headers (lower-case names) and body.
    struct Response: CustomStringConvertible {
        var status: Int
        var headers: [String: String]
        var body: Data
        var description: String { "\(status) \(headers) \(String(decoding: body, as: UTF8.self))" }
    }

    /// Connects to 127.0.0.1:`port`; throws if the connection is refused.
    init(port: Int) throws {
        descriptor = socket(AF_INET, CInt(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(0x7f00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw HarnessError("connect: \(reason)")
        }
    }

    deinit { close(descriptor) }

    /// Sends one request (keep-alive: no `Connection` header).
    func send(_ method: String, _ path: String, token: String? = nil, body: Data? = nil) async throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        let bytes = Array((head + "\r\n").utf8) + (body.map { Array($0) } ?? [])
        try await onThread {
            var offset = 0
            while offset < bytes.count {
                let sent = bytes[offset...].withUnsafeBytes { Glibc.send(self.descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard sent > 0 else { throw HarnessError("send: \(String(cString: strerror(errno)))") }
                offset += sent
            }
        }
    }

    /// Sends a request and reads its response.
    func exchange(_ method: String, _ path: String, token: String? = nil, body: Data? = nil) async throws -> Response {
        try await send(method, path, token: token, body: body)
        return try await response()
    }

    /// Reads one response (bodies framed by Content-Length).
    func response() async throws -> Response {
        try await onThread {
            while self.headerEnd() == nil {
                guard try self.fill() else { throw HarnessError("closed before a response: \(self.buffered.count) bytes") }
            }
            let end = self.headerEnd()!
            let lines = String(decoding: self.buffered[..<end], as: UTF8.self).components(separatedBy: "\r\n")
            let status = Int(lines[0].split(separator: " ")[1]) ?? 0
            var headers: [String: String] = [:]
            for line in lines.dropFirst() where !line.isEmpty {
                let parts = line.split(separator: ":", maxSplits: 1)
                headers[parts[0].lowercased()] = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
            }
            let length = Int(headers["content-length"] ?? "0") ?? 0
            while self.buffered.count < end + 4 + length {
                guard try self.fill() else { throw HarnessError("closed inside a response body") }
            }
            let body = Data(self.buffered[(end + 4)..<(end + 4 + length)])
            self.buffered.removeFirst(end + 4 + length)
            return Response(status: status, headers: headers, body: body)
        }
    }

    /// True when the server closes the connection (FIN or reset) with nothing more sent.
    func closedByServer() async throws -> Bool {
        try await onThread {
            guard self.buffered.isEmpty else { return false }
            do { return try !self.fill() } catch { return false }  // a timeout: still open
        }
    }

    private func headerEnd() -> Int? {
        guard buffered.count >= 4 else { return nil }
        return (0...(buffered.count - 4)).first { buffered[$0] == 13 && buffered[$0 + 1] == 10 && buffered[$0 + 2] == 13 && buffered[$0 + 3] == 10 }
    }

    /// Reads what has arrived; false at end of stream, throws on a timeout.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        if count < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK { throw HarnessError("no answer within 30 s") }
            return false  // reset: closed as well
        }
        buffered += chunk[..<count]
        return count > 0
    }
}
