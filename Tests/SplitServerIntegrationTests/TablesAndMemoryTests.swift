import Foundation
import SplitCore
import SplitIntegrationSupport
import SplitPush
import SplitStore
import SplitTestSupport
import Testing

/// Plan tables, switching costs and device memory limits in the real daemon.
@Suite("Tables, switching and memory limits end to end", .serialized)
struct TablesAndMemoryTests {
    static func payload(_ delivery: WebhookReceiver.Received) throws -> [String: Any] {
        let object = try #require(try JSONSerialization.jsonObject(with: delivery.body) as? [String: Any])
        return try #require(object["data"] as? [String: Any])
    }

    @Test(
        "a table device gets its table once; a link change inside the table is recorded in the history, not pushed; a split device gets every change")
    func tablePushes() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let receiver = try await WebhookReceiver()
        let daemon = try await Daemon(database: database)
        let (tableToken, _) = try await Fleet.setUp(daemon, device: "tab-1", callback: receiver.url("/tab-1"))
        let (splitToken, _) = try await Fleet.register(daemon, device: "spl-1", callback: receiver.url("/spl-1"), extra: ["push": "split"])
        let first = await receiver.waitFor(2)
        #expect(first.count == 2)
        let tablePush = try Self.payload(try #require(first.first { $0.path == "/tab-1" }))
        let table = try #require(tablePush["table"] as? [String: Any])
        let segments = try #require(table["segments"] as? [[String: Any]])
        #expect(segments.count >= 2 && segments.first?["min_effective_bps"] as? Double == 0 && segments.last?["max_effective_bps"] is NSNull)
        let switching = try #require(tablePush["switching"] as? [String: Any])
        #expect(switching["rule"] as? String == "horizon" && switching["horizon_iterations"] as? Int == 1000)
        #expect(switching["optimizer"] as? String == "adam" && switching["migration_bytes_per_parameter_byte"] as? Double == 3)
        let estimator = try #require(switching["estimator"] as? [String: Any])
        #expect(estimator["mean"] as? String == "arithmetic" && estimator["time_constant_seconds"] as? Double == 10)
        #expect(tablePush["sequence"] as? Int == tablePush["id"] as? Int)
        // The table holds the split the daemon planned for the registered link.
        let effective = 1 / (1 / 2e8 + 1 / 4e8)
        let segment = try #require(
            segments.first {
                ($0["min_effective_bps"] as? Double ?? 0) <= effective && (($0["max_effective_bps"] as? Double) ?? .infinity) > effective
            })
        #expect(segment["cut_layers"] as? [String] == tablePush["cut_layers"] as? [String])

        // Both links collapse: the table device's new split is in the history but not pushed; the split device gets a push.
        for (device, token) in [("tab-1", tableToken), ("spl-1", splitToken)] {
            let moved = try await daemon.json(
                "POST", "/v1/telemetry", token: token,
                [
                    "samples": [
                        Fleet.telemetry(
                            device, uplink: 2e6,
                            at: Date().addingTimeInterval(120))
                    ]
                ])
            #expect(moved.0 == 202)
        }
        let connection = try database.connect()
        #expect(await eventually { (try? connection.query("SELECT count(*) AS n FROM plans").int(0, "n")) == 4 })
        #expect(await receiver.waitFor(3).count == 3)
        #expect(
            await eventually {
                (try? connection.query("SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'delivered'").int(
                    0,
                    "n")) == 3
            })
        let history = try connection.query("SELECT device, reason, pushed, table_id FROM split_history ORDER BY device, valid_from")
        #expect(history.rowCount == 4)
        #expect(
            (0..<history.rowCount).map { "\(history.string($0, "device")!):\(history.bool($0, "pushed")!)" }
                == ["spl-1:true", "spl-1:true", "tab-1:true", "tab-1:false"])
        #expect(history.int(2, "table_id") == history.int(3, "table_id"), "the same table: nothing new to push")
        // The device reads the split it should now run, with its table.
        let (status, plan) = try await daemon.json("GET", "/v1/devices/tab-1/plan", token: tableToken)
        #expect(status == 200 && plan["reason"] as? String == "telemetry change" && plan["table"] is [String: Any])
        #expect(try daemon.openAPIMismatches() == [])
        #expect(await daemon.stop() == 0)
        await receiver.stop()
    }

    @Test("a table that was never delivered is carried by the plan that supersedes it: the device ends with its newest table")
    func undeliveredTableCarriesOver() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let receiver = try await WebhookReceiver()
        await receiver.respond { _, _ in WebhookReceiver.Reply(status: 500) }
        // Retries that outlast the failing stretch however slow a loaded machine makes the steps
        // below (20 × 300 ms, then 2 s for a minute): the deliveries must still be owed, not
        // dead, when the receivers recover.
        let retries = Array(repeating: "300ms", count: 20) + Array(repeating: "2s", count: 30)
        let daemon = try await Daemon(database: database, extra: ["SPLITD_WEBHOOK_RETRY": retries.joined(separator: ",")])
        let devices = ["tab-a", "tab-b", "tab-c"]
        var tokens: [String: String] = [:]
        tokens[devices[0]] = try await Fleet.setUp(daemon, device: devices[0], callback: receiver.url("/\(devices[0])")).token
        for device in devices.dropFirst() {
            tokens[device] = try await Fleet.register(daemon, device: device, callback: receiver.url("/\(device)")).token
        }
        let connection = try database.connect()
        // Every first table push has failed at least once: it is still owed.
        #expect(
            await eventually {
                (try? connection.query("SELECT count(*) AS n FROM webhook_deliveries WHERE attempts >= 1").int(0, "n")) == devices.count
            })
        // Local switches inside the same table: plans that by themselves push nothing new.
        for device in devices {
            let moved = try await daemon.json(
                "POST", "/v1/telemetry", token: tokens[device],
                ["samples": [Fleet.telemetry(device, uplink: 2e6, at: Date().addingTimeInterval(120))]])
            #expect(moved.0 == 202)
        }
        #expect(await eventually { (try? connection.query("SELECT count(*) AS n FROM plans").int(0, "n")) == 2 * devices.count })
        let newest = try connection.query(
            "SELECT device_id, id, pushed FROM plans WHERE superseded_at IS NULL ORDER BY device_id")
        #expect((0..<newest.rowCount).allSatisfy { newest.bool($0, "pushed") == true }, "the owed table is pushed with the newest plan")
        let newestIDs = Dictionary(uniqueKeysWithValues: (0..<newest.rowCount).map { (newest.string($0, "device_id")!, newest.int($0, "id")!) })
        // The receivers recover: every device ends with its newest plan and its table.
        await receiver.respond { _, _ in WebhookReceiver.Reply(status: 200) }
        // Each device's newest plan is delivered (a loaded machine may take a while to get there).
        #expect(
            await eventually(timeoutSeconds: 60) {
                (try? connection.query(
                    "SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'delivered' AND plan_id = ANY($1::int8[])",
                    [PostgresValue.intArray(newestIDs.values.map { Int64($0) })]
                ).int(0, "n")) == devices.count
            })
        let received = await receiver.received()
        for device in devices {
            let last = try #require(received.last { $0.path == "/\(device)" })
            let data = try Self.payload(last)
            #expect(data["id"] as? Int == newestIDs[device] && data["table"] is [String: Any], "\(device)")
        }
        #expect(await daemon.stop() == 0)
        await receiver.stop()
    }

    @Test("a graph whose layers name their torch modules gets plans and webhooks naming the module of each cut layer")
    func cutModules() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let receiver = try await WebhookReceiver()
        let daemon = try await Daemon(database: database)
        // resnet18 with a module on every layer but the input (as an ONNX import writes them).
        var graph = try #require(try JSONSerialization.jsonObject(with: try Fleet.modelJSON("resnet18")) as? [String: Any])
        var layers = try #require(graph["layers"] as? [[String: Any]])
        var moduleOf: [String: String] = [:]
        for index in layers.indices where layers[index]["op"] as? String != "input" {
            let name = try #require(layers[index]["name"] as? String)
            moduleOf[name] = name.replacingOccurrences(of: "_", with: ".")
            layers[index]["module"] = moduleOf[name]
        }
        graph["layers"] = layers
        graph["name"] = "resnet18-modules"
        let stored = try await daemon.request("POST", "/v1/models", body: try JSONSerialization.data(withJSONObject: graph))
        #expect(stored.0 == 201)
        #expect(try await daemon.json("POST", "/v1/edge-servers", ["id": "edge-1", "compute_flops": 2e13]).0 == 201)
        _ = try await Fleet.register(daemon, device: "mod-1", model: "resnet18-modules", callback: receiver.url("/mod-1"), uplink: 2e7)
        let pushed = try Self.payload(try #require(await receiver.waitFor(1).first))
        let cuts = try #require(pushed["cut_layers"] as? [String])
        let modules = try #require(pushed["cut_modules"] as? [Any])
        #expect(!cuts.isEmpty && modules.count == cuts.count)
        for (cut, module) in zip(cuts, modules) { #expect(module as? String == moduleOf[cut], "\(cut)") }
        let (status, plan) = try await daemon.json("GET", "/v1/devices/mod-1/plan")
        #expect(status == 200 && (plan["cut_modules"] as? [Any])?.count == cuts.count)
        #expect(try daemon.openAPIMismatches() == [])
        #expect(await daemon.stop() == 0)
        await receiver.stop()
    }

    @Test("switching is priced: with a short horizon a move that does not pay for its migration is not made, and the refusal is recorded")
    func switchingPriced() async throws {
        let (plans, refusals, daemon, database) = try await Self.moveLink(environment: ["SPLITD_SWITCHING": "horizon", "SPLITD_SWITCH_HORIZON": "0"])
        defer { database.drop() }
        // The device was evaluated again and kept its split: no saving repays a move within 0 iterations.
        #expect(plans == 1)
        #expect(refusals.rowCount >= 1)
        #expect(refusals.string(0, "rule") == "horizon" && refusals.string(0, "reason") == "horizon too short")
        #expect((refusals.double(0, "migration_seconds") ?? 0) > 0 && refusals.bool(0, "revisits") == false)
        #expect(await daemon.stop() == 0)
    }

    /// Registers a `split` device on a fresh daemon with `environment`, moves its link from
    /// 200 Mbit/s to 2 Mbit/s and waits until that is evaluated; returns the plans stored and the
    /// device's refused moves.
    private static func moveLink(
        environment: [String: String], device extra: [String: Any] = [:]
    ) async throws -> (plans: Int, refusals: PostgresResult, daemon: Daemon, database: TestDatabase) {
        let database = try TestDatabase.make(migrated: false)
        let daemon = try await Daemon(database: database, extra: environment)
        var settings: [String: Any] = ["push": "split"]
        settings.merge(extra) { _, new in new }
        let (token, _) = try await Fleet.setUp(daemon, callback: nil, extra: settings)
        let connection = try database.connect()
        defer { connection.close() }
        #expect(await eventually { (try? connection.query("SELECT count(*) AS n FROM plans").int(0, "n")) == 1 })
        let moved = try await daemon.json(
            "POST", "/v1/telemetry", token: token, ["samples": [Fleet.telemetry("dev-1", uplink: 2e6, at: Date().addingTimeInterval(120))]])
        #expect(moved.0 == 202)
        #expect(
            await eventually {
                (try? connection.query(
                    "SELECT count(*) AS n FROM planning_state WHERE device_id = 'dev-1' AND requested_reason IS NULL AND evaluated_uplink_bps < 1e7"
                ).int(0, "n")) == 1
            })
        let plans = try connection.query("SELECT count(*) AS n FROM plans").int(0, "n") ?? -1
        let refusals = try connection.query(
            """
            SELECT rule, reason, accrued_saving_seconds, required_saving_seconds, migration_seconds, revisit_at IS NOT NULL AS revisits
            FROM refused_moves WHERE device_id = 'dev-1' ORDER BY id
            """)
        return (plans, refusals, daemon, database)
    }

    @Test("the payback rule (the default) waits until a move's accrued savings pay for it: refused with a revisit time, recorded, and shown")
    func paybackRefuses() async throws {
        let (plans, refusals, daemon, database) = try await Self.moveLink(environment: [
            "SPLITD_SWITCHING": "payback", "SPLITD_PAYBACK_FACTOR": "1000",
        ])
        defer { database.drop() }
        #expect(plans == 1, "a move this young has accrued far less than 1000 × its migration")
        #expect(refusals.rowCount >= 1)
        #expect(refusals.string(0, "rule") == "payback" && refusals.string(0, "reason") == "not yet paid for")
        let migration = try #require(refusals.double(0, "migration_seconds"))
        #expect(abs((refusals.double(0, "required_saving_seconds") ?? 0) - 1000 * migration) <= 1e-9 * migration * 1000)
        #expect((refusals.double(0, "accrued_saving_seconds") ?? .infinity) < 1000 * migration)
        #expect(refusals.bool(0, "revisits") == true, "the device is evaluated again when its savings would pay")
        let connection = try database.connect()
        defer { connection.close() }
        #expect(try connection.query("SELECT revisit_at > now() AS later FROM planning_state WHERE device_id = 'dev-1'").bool(0, "later") == true)
        // The dashboard's timeline lists it.
        let (status, page) = try await daemon.request("GET", "/ui/devices/dev-1", token: Daemon.adminToken)
        #expect(status == 200 && String(decoding: page, as: UTF8.self).contains("not yet paid for"))
        #expect(await daemon.stop() == 0)
    }

    @Test("a device's own switching rule overrides the daemon's: payback factor 0 moves at once where the daemon's 1000 would wait")
    func perDeviceRule() async throws {
        let own: [String: Any] = ["switching": ["rule": "payback", "payback_factor": 0]]
        let (plans, refusals, daemon, database) = try await Self.moveLink(
            environment: ["SPLITD_SWITCHING": "payback", "SPLITD_PAYBACK_FACTOR": "1000"], device: own)
        defer { database.drop() }
        #expect(plans == 2, "the device moved with the link")
        #expect(refusals.rowCount == 0)
        let (status, body) = try await daemon.json("GET", "/v1/devices/dev-1", nil)
        let switching = body["switching"] as? [String: Any]
        #expect(status == 200 && switching?["rule"] as? String == "payback" && switching?["payback_factor"] as? Double == 0)
        // A bad rule is refused naming the field, and changes nothing.
        let (badStatus, bad) = try await daemon.json(
            "PUT", "/v1/devices/dev-1",
            [
                "model": "resnet18", "edge_server": "edge-1", "batch_size": 32, "compute_flops": 1e11,
                "switching": ["rule": "payback", "horizon_iterations": 5],
            ])
        #expect(badStatus == 422 && "\(bad)".contains("switching.horizon_iterations"))
        let (_, after) = try await daemon.json("GET", "/v1/devices/dev-1", nil)
        #expect((after["switching"] as? [String: Any])?["payback_factor"] as? Double == 0)
        #expect(await daemon.stop() == 0)
    }

    @Test(
        "memory limits: a capped device gets a split that fits; an infeasible one gets 409 and a pushed notice, then its plan once its limit grows"
    )
    func memoryLimits() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let receiver = try await WebhookReceiver()
        let daemon = try await Daemon(database: database)
        // The memory the fastest split needs at this link, and the least any split needs, from the CLI.
        let free =
            try JSONSerialization.jsonObject(
                with: Data(
                    try runSplitctl([
                        "plan", "ops/models/resnet18.json", "--format", "json", "--uplink",
                        "2e6",
                        "--downlink", "4e6", "--rtt", "10ms",
                    ]).utf8)) as? [String: Any]
        let unconstrained = try #require(free?["device_memory_bytes"] as? Int64)
        let limit = unconstrained / 2
        _ = try await Fleet.setUp(daemon, device: "capped", callback: receiver.url("/capped"), uplink: 2e6, extra: ["memory_bytes": limit])
        _ = try await Fleet.register(daemon, device: "tiny", callback: receiver.url("/tiny"), extra: ["memory_bytes": 1_000_000])
        let connection = try database.connect()
        #expect(
            await eventually {
                (try? connection.query("SELECT count(*) AS n FROM planning_state WHERE evaluated_at IS NOT NULL").int(
                    0,
                    "n")) == 2
            })
        let capped = try await daemon.json("GET", "/v1/devices/capped/plan")
        #expect(capped.0 == 200)
        let memory = try #require(capped.1["device_memory_bytes"] as? Int64)
        #expect(memory <= limit && capped.1["memory_bound"] as? Bool == true)
        #expect((capped.1["inputs"] as? [String: Any])?["device_memory_limit_bytes"] as? Int64 == limit)
        let tiny = try await daemon.json("GET", "/v1/devices/tiny/plan")
        #expect(tiny.0 == 409 && tiny.1["error"] as? String == "infeasible" && tiny.1["status"] as? String == "infeasible")
        let required = try #require(tiny.1["required_device_memory_bytes"] as? Int64)
        #expect(required > 1_000_000 && tiny.1["device_memory_limit_bytes"] as? Int64 == 1_000_000)
        #expect(
            try connection.query("SELECT infeasible_required_bytes AS r FROM planning_state WHERE device_id = 'tiny'").int(
                0,
                "r") == Int(required))
        #expect(try connection.query("SELECT count(*) AS n FROM plans WHERE device_id = 'tiny'").int(0, "n") == 0)
        // The device is told, with a signed webhook naming the memory it needs.
        let notices = await receiver.waitFor(2)
        let notice = try #require(notices.first { $0.path == "/tiny" })
        let envelope = try #require(try JSONSerialization.jsonObject(with: notice.body) as? [String: Any])
        #expect(envelope["type"] as? String == "split_plan.infeasible")
        let told = try Self.payload(notice)
        #expect(told["status"] as? String == "infeasible" && told["reason"] as? String == "device_memory")
        #expect(told["required_device_memory_bytes"] as? Int64 == required && told["device_memory_limit_bytes"] as? Int64 == 1_000_000)
        #expect(told["device"] as? String == "tiny" && told["model"] as? String == "resnet18" && told["sequence"] is Int)
        #expect(notice.signature?.hasPrefix("v1,") == true)
        let memoryBound = try connection.query("SELECT device FROM split_history WHERE valid_until IS NULL AND memory_bound")
        #expect(memoryBound.rowCount == 1 && memoryBound.string(0, "device") == "capped")
        // Raising its limit plans it again, and the plan is pushed.
        let updated = try await daemon.json(
            "PUT", "/v1/devices/tiny",
            [
                "model": "resnet18", "edge_server": "edge-1", "batch_size": 32,
                "compute_flops": 1e11,
                "callback_url": receiver.url("/tiny"), "memory_bytes": required,
            ])
        #expect(updated.0 == 200)
        #expect(await eventually { (try? await daemon.json("GET", "/v1/devices/tiny/plan").0) == 200 })
        // Then its plan, with a higher sequence than the notice.
        let received = await receiver.waitFor(3)
        #expect(received.map(\.path).sorted() == ["/capped", "/tiny", "/tiny"])
        let plan = try Self.payload(try #require(received.last { $0.path == "/tiny" }))
        #expect(plan["cut_layers"] is [String] && (plan["sequence"] as? Int ?? 0) > (told["sequence"] as? Int ?? .max))
        let metrics = String(decoding: try await daemon.request("GET", "/metrics", token: nil).1, as: UTF8.self)
        #expect(metrics.contains("splitd_infeasible_evaluations_total 1"))
        #expect(try daemon.openAPIMismatches() == [])
        #expect(await daemon.stop() == 0)
        await receiver.stop()
    }

    @Test("memory the device reports moves its limit like a link change moves rates")
    func reportedMemory() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let daemon = try await Daemon(database: database)
        let (token, _) = try await Fleet.setUp(daemon, callback: nil, uplink: 2e6)
        let connection = try database.connect()
        #expect(await eventually { (try? connection.query("SELECT count(*) AS n FROM plans").int(0, "n")) == 1 })
        let before = try #require(try connection.query("SELECT device_memory_bytes AS m FROM plans").int(0, "m"))
        var sample = Fleet.telemetry("dev-1", uplink: 2e6, at: Date().addingTimeInterval(60))
        sample["memory_bytes"] = Double(before) / 3
        #expect(try await daemon.json("POST", "/v1/telemetry", token: token, ["samples": [sample]]).0 == 202)
        #expect(
            await eventually {
                (try? connection.query("SELECT reason FROM split_plans WHERE superseded_at IS NULL").string(0, "reason")) == "memory change"
            })
        let after = try connection.query("SELECT device_memory_bytes AS m, memory_limit_bytes AS l FROM plans WHERE superseded_at IS NULL")
        #expect(try #require(after.int(0, "m")) <= Int(Double(before) / 3) && after.int(0, "l") == Int(Double(before) / 3))
        #expect(await daemon.stop() == 0)
    }
}

/// The device-side client (the `splitd.client` Python package) against the real daemon.
@Suite("Device client end to end", .serialized)
struct DeviceClientTests {
    /// Runs the client as a device would: listens for the daemon's webhook, then prints, for each
    /// rate pair, the table's split and the split `split_for` answers, as JSON.
    static let probe = """
        import json, sys, time
        sys.path.insert(0, sys.argv[1])
        from splitd.client import SplitClient, WebhookReceiver, PlanTable
        client = SplitClient(secret=sys.argv[2], device="dev-1")
        receiver = WebhookReceiver(client, ("127.0.0.1", int(sys.argv[3])))
        receiver.start()
        print("listening", flush=True)
        deadline = time.time() + 30
        while client.table is None and time.time() < deadline:
            time.sleep(0.05)
        rates = json.loads(sys.argv[4])
        out = {"sequence": client.sequence, "horizon": client.rule.horizon_iterations, "choices": []}
        for index, (up, down) in enumerate(rates):
            table = client.table
            segment = table.segments[table.segment_index(PlanTable.effective_bps(up, down))]
            # Measurements 10^6 s apart: the estimate is each rate exactly.
            split = client.split_for(up, down, measured_at=1e6 * (index + 1))
            out["choices"].append({"table_cut": segment.cut_layers, "chosen_cut": split.cut_layers})
        receiver.stop()
        print(json.dumps(out), flush=True)
        """

    @Test("the client verifies the daemon's signed table, adopts its switching rule, and picks the optimal split for any rate with no round trip")
    func clientAgainstDaemon() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let daemon = try await Daemon(database: database)
        let port = try Daemon.freePort()
        let (_, secret) = try await Fleet.setUp(daemon, callback: "http://127.0.0.1:\(port)/hook")
        let rates: [[Double]] = [[1e6, 2e6], [2e7, 4e7], [2e8, 4e8], [5e9, 1e10]]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-c", Self.probe, packageRoot.appendingPathComponent("python").path, secret, "\(port)",
            String(decoding: try JSONSerialization.data(withJSONObject: rates), as: UTF8.self),
        ]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        let lastLine = try #require(text.split(separator: "\n").last)
        let result = try #require(try JSONSerialization.jsonObject(with: Data(lastLine.utf8)) as? [String: Any])
        #expect(result["sequence"] is Int, "a table arrived and was verified: \(text)")
        #expect(result["horizon"] as? Int == 1000, "the client applies the daemon's rule")
        let choices = try #require(result["choices"] as? [[String: Any]])
        #expect(choices.count == rates.count)
        for (rate, choice) in zip(rates, choices) {
            // The table's split is the optimum the daemon's planner gives for the same rates.
            let (status, plan) = try await daemon.json(
                "POST", "/v1/plan",
                [
                    "model": "resnet18", "batch_size": 32, "device_flops": 1e11,
                    "server_flops": 2e13,
                    "uplink_bps": rate[0], "downlink_bps": rate[1], "rtt_seconds": 0.01,
                    "algorithm": "block",
                ])
            #expect(status == 200)
            #expect(choice["table_cut"] as? [String] == plan["cut_layers"] as? [String], "at \(rate)")
            #expect(choice["chosen_cut"] as? [String] == plan["cut_layers"] as? [String], "with a 1000-iteration horizon the client moves at \(rate)")
        }
        #expect(await daemon.stop() == 0)
    }
}
