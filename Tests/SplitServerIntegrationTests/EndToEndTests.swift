import Foundation
import SplitIntegrationSupport
import SplitPush
import SplitStore
import SplitTestSupport
import Testing

@Suite("splitd end to end", .serialized)
struct EndToEndTests {
    @Test("register, ingest, plan, receive a correctly signed webhook, and see it in split_history")
    func happyPath() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let receiver = try await WebhookReceiver()
        let daemon = try await Daemon(database: database)
        // A device that wants a push per split change (table pushes have their own test).
        let (token, secret) = try await Fleet.setUp(daemon, callback: receiver.url("/hooks/dev-1"), extra: ["push": "split"])
        let deliveries = await receiver.waitFor(1)
        let webhook = try #require(deliveries.first)
        #expect(webhook.path == "/hooks/dev-1")
        #expect(
            WebhookSignature.verify(
                header: webhook.signature!, id: webhook.webhookID!, timestamp: webhook.timestamp!, body: webhook.body,
                secret: secret))
        let payload = try #require(try JSONSerialization.jsonObject(with: webhook.body) as? [String: Any])
        #expect(payload["type"] as? String == "split_plan.updated")
        let data = try #require(payload["data"] as? [String: Any])
        #expect(data["device"] as? String == "dev-1" && data["model"] as? String == "resnet18" && data["model_version"] as? Int == 1)
        for key in ["plan_id", "device_layers", "cut_layers", "predicted_delay_seconds", "breakdown", "computed_at"] {
            #expect(
                data[key] != nil,
                "\(key)")
        }
        // The device reads its own plan with its token; it matches the webhook.
        let (status, plan) = try await daemon.json("GET", "/v1/devices/dev-1/plan", token: token)
        #expect(status == 200)
        #expect(plan["id"] as? Int == data["plan_id"] as? Int)
        #expect(plan["cut_layers"] as? [String] == data["cut_layers"] as? [String])
        #expect(plan["reason"] as? String == "new device")
        // Telemetry that moves the link far makes a new plan, pushed too.
        let (accepted, body) = try await daemon.json(
            "POST", "/v1/telemetry", token: token,
            [
                "samples": [
                    Fleet.telemetry(
                        "dev-1", uplink: 2e6,
                        at: Date().addingTimeInterval(120))
                ]
            ])
        #expect(accepted == 202 && body["accepted"] as? Int == 1)
        let second = await receiver.waitFor(2)
        #expect(second.count == 2 && second[1].webhookID != second[0].webhookID)
        let (_, history) = try await daemon.json("GET", "/v1/devices/dev-1/plans?limit=10", token: token)
        let plans = try #require(history["plans"] as? [[String: Any]])
        #expect(plans.count == 2 && plans[0]["reason"] as? String == "telemetry change" && plans[1]["superseded_at"] as? String != nil)
        // The history is plain SQL.
        let connection = try database.connect()
        let rows = try connection.query(
            "SELECT reason, delivery_status, valid_until FROM split_history WHERE device = $1 ORDER BY valid_from",
            ["dev-1"])
        #expect(rows.rowCount == 2)
        #expect(
            await eventually {
                (try? connection.query("SELECT count(*) AS n FROM split_history WHERE device = 'dev-1' AND delivery_status = 'delivered'").int(
                    0,
                    "n")) == 2
            })
        // The webhook body has the documented shape too: validate it with the same checker.
        let webhookBody = try JSONSerialization.jsonObject(with: second[1].body)
        #expect((webhookBody as? [String: Any]).flatMap { $0["data"] as? [String: Any] }?["sequence"] as? Int == plans[0]["id"] as? Int)
        #expect(try daemon.openAPIMismatches() == [])
        #expect(await daemon.stop() == 0)
        await receiver.stop()
    }

    @Test("bad tokens and bad payloads are rejected with {error, detail} and nothing is stored")
    func rejections() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let daemon = try await Daemon(database: database)
        let (token, _) = try await Fleet.setUp(daemon, callback: nil)
        let (otherToken, _) = try await Fleet.register(daemon, device: "dev-2", callback: nil)
        let connection = try database.connect()
        func count(_ table: String) throws -> Int { try connection.query("SELECT count(*) AS n FROM \(table)").int(0, "n") ?? -1 }
        let telemetryBefore = try count("telemetry")

        // Authentication and authorization.
        #expect(try await daemon.json("GET", "/v1/models", token: nil).0 == 401)
        #expect(try await daemon.json("GET", "/v1/models", token: "wrong-token").0 == 401)
        #expect(try await daemon.json("GET", "/v1/models", token: token).0 == 403)
        #expect(try await daemon.json("GET", "/v1/devices/dev-1/plan", token: otherToken).0 == 403)
        #expect(try await daemon.json("POST", "/v1/devices", token: token, ["id": "x"]).0 == 403)
        let forged = try await daemon.json("POST", "/v1/telemetry", token: otherToken, ["samples": [Fleet.telemetry("dev-1", uplink: 1e6)]])
        #expect(forged.0 == 403 && (forged.1["detail"] as? String)?.contains("own telemetry") == true)

        // Malformed and invalid bodies name the field.
        let (malformed, malformedBody) = try await daemon.request("POST", "/v1/edge-servers", body: Data("{\"id\": ".utf8))
        #expect(malformed == 400 && String(decoding: malformedBody, as: UTF8.self).contains("\"error\""))
        let negative = try await daemon.json("POST", "/v1/edge-servers", ["id": "e2", "compute_flops": -1])
        #expect(negative.0 == 422 && negative.1["field"] as? String == "compute_flops")
        let missing = try await daemon.json("POST", "/v1/devices", ["id": "d9", "model": "resnet18", "batch_size": 1, "compute_flops": 1e9])
        #expect(missing.0 == 422 && missing.1["field"] as? String == "edge_server")
        let unknownModel = try await daemon.json(
            "POST", "/v1/devices",
            [
                "id": "d9", "model": "nope", "edge_server": "edge-1", "batch_size": 1,
                "compute_flops": 1e9,
            ])
        #expect(unknownModel.0 == 422 && unknownModel.1["field"] as? String == "model")
        let ssrf = try await daemon.json(
            "POST", "/v1/devices",
            [
                "id": "d9", "model": "resnet18", "edge_server": "edge-1", "batch_size": 1,
                "compute_flops": 1e9, "callback_url": "http://169.254.169.254/latest",
            ])
        #expect(ssrf.0 == 422 && ssrf.1["field"] as? String == "callback_url")
        let cyclic = Data(
            """
            {"format": "splitgraph/1", "name": "loop", "layers": [
              {"name": "x", "inputs": [], "forward_flops": 0, "backward_flops": 0, "output_bytes": 4},
              {"name": "a", "inputs": ["x", "b"], "forward_flops": 1, "backward_flops": 1, "output_bytes": 4},
              {"name": "b", "inputs": ["a"], "forward_flops": 1, "backward_flops": 1, "output_bytes": 4}]}
            """.utf8)
        let (cycleStatus, cycleBody) = try await daemon.request("POST", "/v1/models", body: cyclic)
        #expect(cycleStatus == 422 && String(decoding: cycleBody, as: UTF8.self).contains("cycle"))
        let nan = try await daemon.json(
            "POST", "/v1/telemetry", token: token,
            [
                "samples": [
                    [
                        "device": "dev-1", "measured_at": "2026-11-27T00:00:00Z",
                        "uplink_bps": "NaN", "downlink_bps": 1, "rtt_seconds": 0,
                    ]
                ]
            ])
        #expect(nan.0 == 422 && nan.1["field"] as? String == "samples[0].uplink_bps")

        // A batch with one bad sample stores nothing (all-or-nothing), and names the sample.
        var batch = (0..<5).map { Fleet.telemetry("dev-1", uplink: 1e7 + Double($0)) }
        batch.append(Fleet.telemetry("ghost", uplink: 1e7))
        let mixed = try await daemon.json("POST", "/v1/telemetry", ["samples": batch])
        #expect(mixed.0 == 422 && (mixed.1["detail"] as? String)?.contains("ghost") == true && mixed.1["field"] as? String == "samples[5].device")
        batch[5] = ["device": "dev-1", "measured_at": "2026-11-27T00:00:00Z", "uplink_bps": -1.0, "downlink_bps": 1.0, "rtt_seconds": 0.0]
        #expect(try await daemon.json("POST", "/v1/telemetry", ["samples": batch]).0 == 422)
        #expect(try count("telemetry") == telemetryBefore)

        // Oversized payloads.
        let tooMany = (0..<10_001).map { _ in Fleet.telemetry("dev-1", uplink: 1e7) }
        #expect(try await daemon.json("POST", "/v1/telemetry", ["samples": tooMany]).0 == 413)
        #expect(try count("telemetry") == telemetryBefore)
        let huge = Data(repeating: UInt8(ascii: " "), count: 17 << 20)
        #expect(try await daemon.request("POST", "/v1/telemetry", body: huge).0 == 413)
        #expect(try count("devices") == 2)
        #expect(try daemon.openAPIMismatches() == [])
        #expect(await daemon.stop() == 0)
    }

    @Test("receiver down for a while, then up: every plan is delivered")
    func receiverDownThenUp() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let port = try Daemon.freePort()
        let daemon = try await Daemon(database: database)
        let callback = "http://127.0.0.1:\(port)/hook"
        _ = try await Fleet.setUp(daemon, device: "dev-0", callback: callback)
        for index in 1..<5 { _ = try await Fleet.register(daemon, device: "dev-\(index)", callback: callback) }
        let connection = try database.connect()
        #expect(
            await eventually {
                (try? connection.query("SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'failed' AND attempts >= 2").int(0, "n")) == 5
            }, "deliveries fail and are retried while the receiver is down")
        let receiver = try await WebhookReceiver(port: port)
        let received = await receiver.waitFor(5)
        #expect(Set(received.compactMap { $0.headers["webhook-id"] }).count == 5)
        #expect(
            await eventually {
                (try? connection.query("SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'delivered'").int(0, "n")) == 5
            })
        await daemon.stop()
        await receiver.stop()
    }

    @Test("kill -9 mid-delivery, then restart: the delivery is retried with the same id and nothing is lost")
    func crashMidDelivery() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let receiver = try await WebhookReceiver()
        // The first request hangs past the crash; later ones are answered at once.
        await receiver.respond { number, _ in number == 1 ? .init(status: 200, delaySeconds: 5) : .init(status: 200) }
        let daemon = try await Daemon(database: database, extra: ["SPLITD_WEBHOOK_TIMEOUT": "2s", "SPLITD_DELIVERY_LEASE": "4s"])
        _ = try await Fleet.setUp(daemon, callback: receiver.url())
        _ = await receiver.waitFor(1)
        await daemon.kill9()
        let connection = try database.connect()
        #expect(try connection.query("SELECT status FROM webhook_deliveries").string(0, "status") == "delivering")
        try await daemon.start()
        let received = await receiver.waitFor(2)
        #expect(received.count >= 2)
        #expect(received[0].webhookID == received[1].webhookID, "a retry carries the same webhook-id")
        #expect(await eventually { (try? connection.query("SELECT status FROM webhook_deliveries").string(0, "status")) == "delivered" })
        #expect(try connection.query("SELECT count(*) AS n FROM split_plans").int(0, "n") == 1)
        await daemon.stop()
        await receiver.stop()
    }

    @Test("two replicas on one database: each device is planned once per change")
    func twoReplicas() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let first = try await Daemon(database: database, instance: "replica-a", extra: ["SPLITD_PLAN_BATCH": "7"])
        let second = try await Daemon(database: database, instance: "replica-b", extra: ["SPLITD_PLAN_BATCH": "7"])
        _ = try await Fleet.setUp(first, device: "dev-0", callback: nil)
        for index in 1..<120 { _ = try await Fleet.register(index % 2 == 0 ? first : second, device: "dev-\(index)", callback: nil) }
        let connection = try database.connect()
        #expect(await eventually { (try? connection.query("SELECT count(*) AS n FROM split_plans").int(0, "n")) == 120 })
        // Both replicas run a whole cycle more: any second plan of a device would be stored by then.
        #expect(await first.waitForFreshPlanningCycle())
        #expect(await second.waitForFreshPlanningCycle())
        #expect(try connection.query("SELECT count(*) AS n FROM split_plans").int(0, "n") == 120, "no device planned twice")
        #expect(try connection.query("SELECT max(c) AS m FROM (SELECT count(*) AS c FROM split_plans GROUP BY device_id) x").int(0, "m") == 1)
        // One change per device for 40 devices: exactly 40 new plans, whichever replica makes them.
        let samples = (0..<40).map { Fleet.telemetry("dev-\($0)", uplink: 1e6, at: Date().addingTimeInterval(300)) }
        #expect(try await second.json("POST", "/v1/telemetry", ["samples": samples]).0 == 202)
        #expect(await eventually { (try? connection.query("SELECT count(*) AS n FROM split_plans").int(0, "n")) == 160 })
        #expect(await first.waitForFreshPlanningCycle())
        #expect(await second.waitForFreshPlanningCycle())
        #expect(try connection.query("SELECT count(*) AS n FROM split_plans").int(0, "n") == 160)
        #expect(first.log().contains("planning cycle") && second.log().contains("planning cycle"))
        #expect(await first.stop() == 0)
        #expect(await second.stop() == 0)
    }

    @Test("SIGTERM drains cleanly: in-flight requests finish, leases are released, exit 0")
    func sigtermDrains() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let receiver = try await WebhookReceiver()
        await receiver.respond { _, _ in .init(status: 200, delaySeconds: 1) }
        let daemon = try await Daemon(database: database, extra: ["SPLITD_DELIVERY_LEASE": "60s"])
        let (token, _) = try await Fleet.setUp(daemon, callback: receiver.url())
        _ = await receiver.waitFor(1, timeoutSeconds: 5)
        // Hold the telemetry table (SHARE blocks the daemon's COPY, not reads) so the request is
        // certainly in flight, inside its handler, when SIGTERM arrives.
        let connection = try database.connect()
        let blocker = try database.connect()
        _ = try blocker.query("BEGIN")
        _ = try blocker.query("LOCK TABLE telemetry IN SHARE MODE")
        let stored = try connection.query("SELECT count(*) AS n FROM telemetry").int(0, "n") ?? -1
        let samples = (0..<2000).map { Fleet.telemetry("dev-1", uplink: 1e7 + Double($0)) }
        let inFlight = Task { try await daemon.json("POST", "/v1/telemetry", token: token, ["samples": samples]).0 }
        let blockedCopies = "SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'COPY telemetry%'"
        #expect(await eventually { (try? connection.query(blockedCopies).int(0, "n")) == 1 })
        daemon.terminate()
        // Draining has begun once the listener is closed: new connections are refused.
        #expect(await eventually { (try? await daemon.request("GET", "/healthz", token: nil, timeoutSeconds: 2)) == nil })
        _ = try blocker.query("COMMIT")
        let status = await daemon.exitStatus()
        #expect(status == 0, "\(daemon.log().suffix(2000))")
        #expect(try await inFlight.value == 202, "the request in flight at SIGTERM is answered")
        #expect(try connection.query("SELECT count(*) AS n FROM telemetry").int(0, "n") == stored + 2000)
        #expect(try connection.query("SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'delivering'").int(0, "n") == 0)
        #expect(daemon.log().contains("splitd stopped"))
        await receiver.stop()
    }

    @Test("410 Gone disables the device's webhook; a new model version re-plans its devices")
    func goneAndModelChange() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let receiver = try await WebhookReceiver()
        await receiver.respond { _, _ in .init(status: 410) }
        let daemon = try await Daemon(database: database)
        _ = try await Fleet.setUp(daemon, callback: receiver.url())
        let connection = try database.connect()
        #expect(await eventually { (try? connection.query("SELECT webhook_enabled FROM devices").bool(0, "webhook_enabled")) == false })
        #expect(try connection.query("SELECT status FROM webhook_deliveries").string(0, "status") == "dead")
        // A changed graph is a new version, and the device follows the latest.
        var graph = try JSONSerialization.jsonObject(with: try Fleet.modelJSON("resnet18")) as! [String: Any]
        var layers = graph["layers"] as! [[String: Any]]
        layers[1]["forward_flops"] = (layers[1]["forward_flops"] as! Double) * 2
        graph["layers"] = layers
        let (status, created) = try await daemon.json("POST", "/v1/models", graph)
        #expect(status == 201 && created["version"] as? Int == 2)
        #expect(
            await eventually {
                (try? connection.query("SELECT reason, model_version FROM split_plans WHERE superseded_at IS NULL").string(0, "reason"))
                    == "model change"
            })
        await daemon.stop()
        await receiver.stop()
    }

    @Test("operations endpoints: health, readiness, metrics, OpenAPI; stateless planning equals splitctl")
    func operations() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let daemon = try await Daemon(database: database)
        _ = try await Fleet.setUp(daemon, callback: nil)
        #expect(try await daemon.json("GET", "/healthz", token: nil).0 == 200)
        let ready = try await daemon.json("GET", "/readyz", token: nil)
        #expect(ready.0 == 200 && ready.1["schema_version"] as? Int == TestCluster.migrations.last?.version)
        #expect(await eventually { (try? await daemon.json("GET", "/v1/devices/dev-1/plan").0) == 200 })
        let (metricsStatus, metrics) = try await daemon.request("GET", "/metrics", token: nil)
        let text = String(decoding: metrics, as: UTF8.self)
        #expect(metricsStatus == 200)
        for name in [
            "splitd_plans_computed_total", "splitd_plan_solve_seconds_bucket", "splitd_http_requests_total",
            "splitd_telemetry_samples_total",
        ] {
            #expect(text.contains(name), "\(name) missing")
        }
        let (openAPIStatus, openAPI) = try await daemon.request("GET", "/openapi.yaml", token: nil)
        #expect(openAPIStatus == 200 && String(decoding: openAPI, as: UTF8.self).contains("/v1/telemetry"))
        let (planStatus, plan) = try await daemon.json(
            "POST", "/v1/plan",
            [
                "model": "resnet18", "batch_size": 32, "device_flops": 1e11, "server_flops": 2e13, "uplink_bps": 2e7, "downlink_bps": 4e7,
                "rtt_seconds": 0.01,
            ])
        #expect(planStatus == 200)
        let graph = try JSONSerialization.jsonObject(with: try Fleet.modelJSON("vgg16"))
        let (inlineStatus, inline) = try await daemon.json(
            "POST", "/v1/plan",
            [
                "graph": graph, "batch_size": 32, "device_flops": 1e11,
                "server_flops": 2e13,
                "uplink_bps": 2e7, "downlink_bps": 4e7, "algorithm": "block",
            ])
        #expect(inlineStatus == 200 && inline["algorithm"] as? String == "block" && inline["model"] as? String == "vgg16")
        // Same numbers as the CLI for the same inputs.
        let cli = try runSplitctl([
            "plan", "ops/models/resnet18.json", "--format", "json", "--batch", "32", "--device-flops", "1e11",
            "--server-flops", "2e13", "--uplink", "2e7", "--downlink", "4e7", "--rtt", "0.01",
        ])
        let expected = try #require(try JSONSerialization.jsonObject(with: Data(cli.utf8)) as? [String: Any])
        #expect(plan["delay_seconds"] as? Double == expected["delay_seconds"] as? Double)
        #expect(plan["cut_layers"] as? [String] == expected["cut_layers"] as? [String])
        let bad = try await daemon.json(
            "POST", "/v1/plan",
            [
                "model": "resnet18", "batch_size": 0, "device_flops": 1e11, "server_flops": 2e13,
                "uplink_bps": 2e7, "downlink_bps": 4e7,
            ])
        #expect(bad.0 == 422 && bad.1["field"] as? String == "batch_size")
        await daemon.stop()
    }

    @Test("configuration is validated at start with an error naming the variable")
    func configurationErrors() throws {
        for (variable, value, mentions) in [
            ("SPLITD_LISTEN", "0.0.0.0:8080", "SPLITD_ADMIN_TOKEN"),
            (
                "SPLITD_PLAN_INTERVAL", "soon",
                "SPLITD_PLAN_INTERVAL"
            ),
            ("SPLITD_MIN_GAIN", "2", "SPLITD_MIN_GAIN"), ("SPLITD_LOG_LEVEL", "loud", "SPLITD_LOG_LEVEL"),
            ("SPLITD_WEBHOOK_ALLOW", "10.0.0.0/33", "SPLITD_WEBHOOK_ALLOW"),
        ] {
            let process = Process()
            process.executableURL = Daemon.binary
            var environment = ProcessInfo.processInfo.environment
            environment["SPLITD_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"
            environment["SPLITD_ADMIN_TOKEN"] = nil
            environment[variable] = value
            process.environment = environment
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 2, "\(variable): \(output)")
            #expect(output.contains(mentions), "\(output)")
        }
    }
}

/// Runs the built splitctl (beside splitd).
func runSplitctl(_ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = Daemon.binary.deletingLastPathComponent().appendingPathComponent("splitctl")
    process.arguments = arguments
    process.currentDirectoryURL = packageRoot
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
