import Foundation
import Hummingbird
import Logging
import NIOCore
import SplitCore
import SplitPush
import SplitServer
import SplitStore
import SplitSupport

extension Benchmarks {
    /// Telemetry as devices send it: `devices` devices, each with its own token, one sample per
    /// request, over `connections` keep-alive HTTP/1.1 connections on loopback (a closed loop:
    /// each connection sends its next request when the previous one is answered). The server is
    /// the daemon's API (router, authentication, group commit, token cache) configured as
    /// `configuration` says, in this process, on a durable database. Reports requests per second
    /// and latency quantiles over the measuring window, and checks that every 202 was stored.
    package static func telemetryPerDevice(
        scratch: Scratch, graph: ModelGraph, devices: Int, connections: Int, seconds: Double,
        warmUpSeconds: Double, configuration: ServerConfiguration, report: (String) -> Void
    ) async throws {
        let connection = try PostgresConnection(url: scratch.url)
        defer { connection.close() }
        try seedFleet(connection, graph: graph, devices: devices, callback: nil)
        let tokens = try seedDeviceTokens(connection, devices: devices)
        settle(connection)

        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let pool = ConnectionPool(url: scratch.url, maximumConnections: configuration.poolSize)
        let migrator = Migrator(migrations: try Migration.load(from: try Migration.defaultDirectory()))
        let api = try Daemon.api(
            configuration, pool: pool, migrator: migrator, secrets: try SecretBox(keyBytes: [UInt8](repeating: 7, count: 32)),
            adminTokens: ["bench-admin-token-0123456789"], metrics: ServerMetrics.shared, logger: logger)
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: APIRoutes.router(api), configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "splitd"),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        let server = Task { try await app.runService(gracefulShutdownSignals: []) }
        var iterator = stream.makeAsyncIterator()
        let port = await iterator.next() ?? 0

        let client = LoadClient(host: "127.0.0.1", port: port)
        let outcome = try await client.run(connections: connections, warmUpSeconds: warmUpSeconds, seconds: seconds) { connection, sequence in
            // Connection c cycles through devices c, c + C, c + 2C, ... so no two connections
            // send for the same device at once when C divides the fleet.
            let device = (connection + sequence * connections) % devices
            let uplink = 1e7 * (1 + 0.001 * Double(sequence % 100))
            let body = """
                {"samples":[{"device":"bench-\(device + 1)","measured_at":"\(Timestamp.format(Date()))","uplink_bps":\(uplink),\
                "downlink_bps":2e7,"rtt_seconds":0.01}]}
                """
            return LoadClient.Request(path: "/v1/telemetry", headers: [("Authorization", "Bearer " + tokens[device])], body: ByteBuffer(string: body))
        }
        try await client.shutdown()
        server.cancel()
        _ = try? await server.value
        await pool.close()

        let stored = try connection.query("SELECT count(*) AS n FROM telemetry").int(0, "n") ?? 0
        let accepted = outcome.statusCounts[202] ?? 0
        let failed = outcome.completed - accepted
        report(
            line([
                "benchmark": "telemetry_per_device", "devices": devices, "connections": connections, "seconds": outcome.seconds,
                "requests": outcome.completed, "requests_per_second": Double(outcome.completed) / outcome.seconds,
                "p50_ms": outcome.quantileMilliseconds(0.5), "p99_ms": outcome.quantileMilliseconds(0.99),
                "p999_ms": outcome.quantileMilliseconds(0.999), "max_ms": outcome.quantileMilliseconds(1),
                "failed_requests": failed, "accepted_total": outcome.acceptedTotal, "rows_stored": stored,
            ]))
        guard failed == 0 else { throw BenchmarkError("\(failed) requests were not accepted: \(outcome.statusCounts)") }
        guard stored == outcome.acceptedTotal else {
            throw BenchmarkError("\(outcome.acceptedTotal) requests were answered 202 but \(stored) samples are stored")
        }
    }
}
