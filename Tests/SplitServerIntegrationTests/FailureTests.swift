import Foundation
import SplitIntegrationSupport
import SplitPush
import SplitStore
import SplitTestSupport
import Testing

/// What splitd promises when its surroundings fail (docs/failure-behaviour.md): a database that
/// goes away, a receiver that hangs, a daemon killed while its embedded database runs, a secret
/// rotated while receivers still hold the old one. Real daemons, real clusters, real receivers.
@Suite("Failure behaviour", .serialized)
struct FailureTests {
    @Test("PostgreSQL stops under a running daemon: 503s and not-ready, nothing half-written; when it is back, work resumes")
    func databaseOutage() async throws {
        // A cluster of its own: stopping the shared one would disturb other tests.
        let directory = URL(fileURLWithPath: "/tmp/sd-outage-\(getpid())")
        let cluster = EmbeddedPostgres(stateDirectory: directory, durable: false)
        let url = try cluster.start()
        defer {
            try? cluster.forceStop()
            try? FileManager.default.removeItem(at: directory)
        }
        let database = TestDatabase(name: EmbeddedPostgres.databaseName, url: url)
        let receiver = try await WebhookReceiver()
        let daemon = try await Daemon(database: database)
        let (token, _) = try await Fleet.setUp(daemon, device: "dev-1", callback: receiver.url(), extra: ["push": "split"])
        #expect(await receiver.waitFor(1).count == 1)

        try cluster.forceStop()
        let (ready, _) = try await daemon.request("GET", "/readyz", token: nil)
        #expect(ready == 503, "not ready while the database is away")
        let (health, _) = try await daemon.request("GET", "/healthz", token: nil)
        #expect(health == 200, "the process itself is alive")
        let (status, body) = try await daemon.json(
            "POST", "/v1/telemetry", token: token,
            ["samples": [Fleet.telemetry("dev-1", uplink: 2e6, at: Date().addingTimeInterval(60))]])
        #expect(status == 503 && body["error"] as? String == "database_unavailable", "\(status) \(body)")
        let (registerStatus, _) = try await daemon.json(
            "POST", "/v1/devices",
            [
                "id": "dev-2", "model": "resnet18", "edge_server": "edge-1",
                "batch_size": 32, "compute_flops": 1e11,
            ])
        #expect(registerStatus == 503)

        _ = try cluster.start()
        #expect(
            await eventually(timeoutSeconds: 30) { (try? await daemon.request("GET", "/readyz", token: nil).0) == 200 },
            "ready again once the database is back, without a restart")
        let connection = try database.connect()
        defer { connection.close() }
        #expect(
            try connection.query("SELECT count(*) AS n FROM devices WHERE id = 'dev-2'").int(0, "n") == 0,
            "the refused registration left nothing")
        // The link moves a lot: the daemon plans and pushes again.
        #expect(
            await eventually(timeoutSeconds: 30) {
                let sample = Fleet.telemetry("dev-1", uplink: 2e6, at: Date().addingTimeInterval(60))
                return (try? await daemon.json("POST", "/v1/telemetry", token: token, ["samples": [sample]]).0) == 202
            }, "telemetry is accepted again")
        #expect(await receiver.waitFor(2, timeoutSeconds: 30).count >= 2, "planning and delivery resumed")
        #expect(await daemon.stop() == 0)
        await receiver.stop()
    }

    @Test("a receiver that hangs holds only its own deliveries: another device's webhook arrives while they are in flight")
    func slowReceiverDoesNotDelayOthers() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let slow = try await WebhookReceiver()
        await slow.respond { _, _ in .init(status: 200, delaySeconds: 15) }
        let fast = try await WebhookReceiver(host: "::1")
        let daemon = try await Daemon(
            database: database, extra: ["SPLITD_WEBHOOK_TIMEOUT": "20s", "SPLITD_DELIVERY_LEASE": "25s", "SPLITD_WEBHOOK_ALLOW": "127.0.0.1,::1"])
        _ = try await Fleet.setUp(daemon, device: "slow-0", callback: slow.url())
        for index in 1..<6 { _ = try await Fleet.register(daemon, device: "slow-\(index)", callback: slow.url()) }
        let connection = try database.connect()
        defer { connection.close() }
        #expect(
            await eventually {
                (try? connection.query("SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'delivering'").int(0, "n")) ?? 0 >= 2
            }, "the slow receiver's deliveries are in flight")
        _ = try await Fleet.register(daemon, device: "fast-0", callback: fast.url())
        let received = await fast.waitFor(1)
        #expect(received.count == 1, "delivered over IPv6 to [::1]")
        let stillHanging = try connection.query("SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'delivering'").int(0, "n") ?? 0
        #expect(stillHanging >= 2, "the other device's webhook did not wait for the hanging ones")
        #expect(
            await eventually {
                (try? connection.query("SELECT w.status FROM webhook_deliveries w JOIN plans p ON p.id = w.plan_id WHERE p.device_id = 'fast-0'")
                    .string(0, "status")) == "delivered"
            })
        await daemon.kill9()
        await slow.stop()
        await fast.stop()
    }

    @Test("splitd killed with its embedded PostgreSQL running: the next start adopts the cluster, keeps the data, and stops it on SIGTERM")
    func embeddedClusterAdopted() async throws {
        let state = URL(fileURLWithPath: "/tmp/sd-adopt-\(getpid())")
        let cluster = EmbeddedPostgres(stateDirectory: state, durable: false)
        defer {
            try? cluster.forceStop()
            try? FileManager.default.removeItem(at: state)
        }
        // The harness's database is not used: splitd runs its own cluster in `state`.
        let unused = TestDatabase(name: "unused", url: "postgres://unused")
        let daemon = try await Daemon(database: unused, extra: ["SPLITD_STATE_DIR": state.path], unset: ["SPLITD_DATABASE_URL"])
        let (status, _) = try await daemon.json("POST", "/v1/edge-servers", ["id": "edge-kept", "compute_flops": 2e13])
        #expect(status == 201)
        await daemon.kill9()
        #expect(cluster.running, "kill -9 leaves the embedded cluster running")

        try await daemon.start()
        let (found, body) = try await daemon.json("GET", "/v1/edge-servers/edge-kept")
        #expect(found == 200, "the data survived: \(body)")
        #expect(await daemon.stop() == 0)
        #expect(!cluster.running, "the adopted cluster is stopped with splitd")
    }

    @Test("a webhook secret rotated with an overlap: webhooks carry both signatures until it ends")
    func secretOverlap() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let receiver = try await WebhookReceiver()
        let daemon = try await Daemon(database: database)
        let (token, oldSecret) = try await Fleet.setUp(daemon, device: "dev-1", callback: receiver.url(), extra: ["push": "split"])
        #expect(await receiver.waitFor(1).count == 1)
        let (status, rotated) = try await daemon.json(
            "POST", "/v1/devices/dev-1/credentials",
            [
                "webhook_secret": true,
                "secret_overlap_seconds": 3600,
            ])
        #expect(status == 200)
        let newSecret = try #require(rotated["webhook_secret"] as? String)
        #expect(newSecret != oldSecret)
        let (accepted, _) = try await daemon.json(
            "POST", "/v1/telemetry", token: token,
            ["samples": [Fleet.telemetry("dev-1", uplink: 2e6, at: Date().addingTimeInterval(120))]])
        #expect(accepted == 202)
        let received = await receiver.waitFor(2)
        let webhook = try #require(received.count >= 2 ? received[1] : nil)
        let header = try #require(webhook.signature)
        #expect(header.split(separator: " ").count == 2, "\(header)")
        for secret in [oldSecret, newSecret] {
            #expect(
                WebhookSignature.verify(
                    header: header, id: webhook.webhookID!, timestamp: webhook.timestamp!, body: webhook.body,
                    secret: secret))
        }
        await daemon.stop()
        await receiver.stop()
    }
}
