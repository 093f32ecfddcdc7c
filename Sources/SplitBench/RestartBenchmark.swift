import Foundation
import NIOCore
import SplitCore
import SplitStore
import SplitSupport

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

extension Benchmarks {
    /// How the restart benchmark restarts splitd.
    package enum RestartMode: String, Sendable, CaseIterable {
        /// SIGTERM, then the next process on the same inherited socket (systemd with splitd.socket).
        case activation
        /// SIGTERM, then the next process binds `SPLITD_LISTEN` itself (no socket unit).
        case plain
        /// kill -9, then the next process on the same inherited socket.
        case kill9 = "kill-9"
    }

    /// The load and the moment of the restart.
    package struct RestartOptions: Sendable {
        package var mode = RestartMode.activation
        /// Requests started per second, whatever the server does (open loop).
        package var rate = 400.0
        package var seconds = 15.0
        /// The old process is signalled once this fraction of the requests has been answered.
        package var restartFraction = 1.0 / 3
        /// The client's connection pool: at most this many keep-alive connections.
        package var maximumConnections = 64
        /// A request unanswered this long counts as failed.
        package var timeoutSeconds = 30.0
        /// Which idle connection the client reuses.
        package var reuse = RateLoadClient.Reuse.lifo

        package init() {}
    }

    /// What one restart under load measured.
    package struct RestartResult: Sendable {
        package var outcome: RateLoadClient.Outcome
        /// From the signal to the old process's exit, seconds.
        package var stopSeconds: Double
        /// From the old process's exit to the new one answering /readyz, seconds.
        package var startSeconds: Double
        /// The old process's exit status (137 after kill -9).
        package var oldExitStatus: Int32
        /// The new process's exit status after the final SIGTERM (nil: it had to be killed).
        package var newExitStatus: Int32?
        /// The two processes' logs.
        package var oldLog: String
        package var newLog: String
    }

    /// Devices `bench-1` … `bench-<devices>` of `graph` with real device tokens (returned, in
    /// order), stored as their SHA-256 like registration does.
    package static func seedTelemetryDevices(url: String, graph: ModelGraph, devices: Int) throws -> [String] {
        let connection = try PostgresConnection(url: url)
        defer { connection.close() }
        try seedFleet(connection, graph: graph, devices: devices, callback: nil)
        return try seedDeviceTokens(connection, devices: devices)
    }

    /// Restarts splitd under telemetry load: starts `binary` (configured by `environment`, which
    /// this sets `SPLITD_LISTEN` in), sends `options.rate` one-sample telemetry POSTs a second with
    /// the devices' `tokens`, signals the process once `restartFraction` of them are answered,
    /// starts the next one when it has exited (as `systemctl restart` does), and counts every
    /// request that was not answered 2xx. With an inherited socket (`activation`, `kill-9`) this
    /// process holds the listening socket as systemd would; in `plain` mode splitd binds it.
    package static func restartUnderLoad(
        binary: URL, environment: [String: String], tokens: [String], options: RestartOptions, logDirectory: URL,
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) async throws -> RestartResult {
        let socket = options.mode == .plain ? nil : try ListeningSocket.loopback()
        defer { socket?.close() }
        let port = try socket?.port ?? freePort()
        var environment = environment
        environment["SPLITD_LISTEN"] = "127.0.0.1:\(port)"
        let start = { (name: String) throws -> SplitdProcess in
            let log = logDirectory.appendingPathComponent("splitd-restart-\(getpid())-\(name).log")
            try? FileManager.default.removeItem(at: log)
            return try SplitdProcess(binary: binary, environment: environment, socket: socket, logFile: log)
        }

        let old = try start("old")
        guard await ready(port: port, process: old) else {
            old.signal(SIGKILL)
            throw HarnessFailure("splitd did not become ready:\n\(old.log().suffix(3000))")
        }
        progress("splitd ready on 127.0.0.1:\(port) (\(socket == nil ? "bound by splitd" : "inherited socket")); load starts")
        let total = Int(options.rate * options.seconds)
        let restartAt = max(1, Int(Double(total) * options.restartFraction))
        let (milestone, reached) = AsyncStream.makeStream(of: Void.self)
        let client = RateLoadClient(host: "127.0.0.1", port: port)
        let load = Task {
            defer { reached.finish() }
            return try await client.run(
                rate: options.rate, seconds: options.seconds, maximumConnections: options.maximumConnections,
                timeoutSeconds: options.timeoutSeconds, reuse: options.reuse, next: telemetryRequest(tokens: tokens),
                onAnswered: { if $0 == restartAt { reached.yield() } })
        }
        for await _ in milestone { break }
        guard old.isRunning else {
            _ = try? await load.value
            throw HarnessFailure("splitd exited under load:\n\(old.log().suffix(3000))")
        }
        let signalled = DispatchTime.now()
        old.signal(options.mode == .kill9 ? SIGKILL : SIGTERM)
        progress("\(restartAt) requests answered: \(options.mode == .kill9 ? "SIGKILL" : "SIGTERM") sent")
        let oldStatus = await old.exitStatus(timeoutSeconds: 120) ?? -1
        let exited = DispatchTime.now()
        progress("old process exited (\(oldStatus)) after \(seconds(signalled)) s")
        let new = try start("new")
        let newReady = await ready(port: port, process: new)
        let readyAt = DispatchTime.now()
        progress("new process \(newReady ? "ready" : "NOT ready") after \(seconds(exited)) s")
        let outcome = try await load.value
        try await client.shutdown()
        new.signal(SIGTERM)
        let newStatus = await new.exitStatus(timeoutSeconds: 120)
        return RestartResult(
            outcome: outcome, stopSeconds: Double(exited.uptimeNanoseconds - signalled.uptimeNanoseconds) / 1e9,
            startSeconds: Double(readyAt.uptimeNanoseconds - exited.uptimeNanoseconds) / 1e9, oldExitStatus: oldStatus,
            newExitStatus: newStatus, oldLog: old.log(), newLog: new.log())
    }

    /// Request `sequence`: one telemetry sample of device `sequence % tokens.count`, with its token.
    static func telemetryRequest(tokens: [String]) -> @Sendable (Int) -> RateLoadClient.Request {
        { sequence in
            let device = sequence % tokens.count
            let body = """
                {"samples":[{"device":"bench-\(device + 1)","measured_at":"\(Timestamp.format(Date()))",\
                "uplink_bps":\(1e7 * (1 + 0.001 * Double(sequence % 100))),"downlink_bps":2e7,"rtt_seconds":0.01}]}
                """
            return RateLoadClient.Request(
                path: "/v1/telemetry", headers: [("Authorization", "Bearer " + tokens[device])], body: ByteBuffer(string: body))
        }
    }

    /// Waits until `process` answers /readyz on `port` (false if it exits or two minutes pass).
    static func ready(port: Int, process: SplitdProcess) async -> Bool {
        let session = URLSession(configuration: .ephemeral)
        defer { session.finishTasksAndInvalidate() }
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/readyz")!)
        request.timeoutInterval = 2
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning && Date() < deadline {
            if let (_, response) = try? await session.data(for: request), (response as? HTTPURLResponse)?.statusCode == 200 { return true }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
        return false
    }

    /// A loopback port nothing listens on now.
    static func freePort() throws -> Int {
        let probe = try ListeningSocket.loopback()
        defer { probe.close() }
        return probe.port
    }
}
