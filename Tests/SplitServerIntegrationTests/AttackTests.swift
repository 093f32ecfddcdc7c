import Foundation
import SplitIntegrationSupport
import SplitPush
import SplitStore
import SplitSupport
import SplitTestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Hostile and absurd input against the real daemon and database: every class of attack that
/// once crashed or confused splitd, each asserting the status, the field named, that nothing
/// was stored, and that the daemon still answers.
@Suite("Attacks on the real daemon", .serialized)
struct AttackTests {
    /// One hostile request and what it must get.
    struct Attack: CustomStringConvertible {
        var method: String
        var path: String
        var token: Token = .admin
        var body: Body
        var status: Int
        var field: String? = nil

        enum Token { case admin, device, otherDevice, none, raw(String) }
        enum Body { case json(Any), raw(String), none }
        var description: String { "\(method) \(path) \(String(describing: body).prefix(120))" }
    }

    static var now: String { Timestamp.format(Date()) }
    static var sample: [String: Any] { ["device": "dev-1", "measured_at": now, "uplink_bps": 2e7, "downlink_bps": 4e7, "rtt_seconds": 0.01] }
    static var device: [String: Any] { ["id": "dev-x", "model": "resnet18", "edge_server": "edge-1", "batch_size": 32, "compute_flops": 1e11] }
    static var plan: [String: Any] {
        [
            "model": "resnet18", "batch_size": 32, "device_flops": 1e11, "server_flops": 2e13, "uplink_bps": 2e7,
            "downlink_bps": 4e7,
        ]
    }
    static func layer(_ change: [String: Any]) -> Any {
        [
            "format": "splitgraph/1", "name": "hostile",
            "layers": [
                ["name": "x", "forward_flops": 0, "backward_flops": 0, "output_bytes": 4].merging(change) { _, new in new },
                ["name": "y", "inputs": ["x"], "forward_flops": 1, "backward_flops": 1, "output_bytes": 4],
            ],
        ]
    }
    static func with(_ base: [String: Any], _ change: [String: Any]) -> [String: Any] { base.merging(change) { _, new in new } }

    static var attacks: [Attack] {
        [
            // Bad types where the daemon once crashed (POST /v1/plan with "graph": 5, "str", true, null).
            Attack(method: "POST", path: "/v1/plan", body: .json(with(plan, ["model": NSNull(), "graph": 5])), status: 422, field: "graph"),
            Attack(method: "POST", path: "/v1/plan", body: .json(with(plan, ["model": NSNull(), "graph": "str"])), status: 422, field: "graph"),
            Attack(method: "POST", path: "/v1/plan", body: .json(with(plan, ["model": NSNull(), "graph": true])), status: 422, field: "graph"),
            Attack(method: "POST", path: "/v1/plan", body: .json(with(plan, ["model": NSNull(), "graph": NSNull()])), status: 422, field: "graph"),
            Attack(method: "POST", path: "/v1/plan", body: .raw("[1, 2, 3]"), status: 400),
            // Extremes that trapped in quantization, or crash-looped the planner once stored.
            Attack(
                method: "POST", path: "/v1/plan", body: .json(with(plan, ["uplink_bps": Double.leastNonzeroMagnitude])), status: 422,
                field: "uplink_bps"),
            Attack(method: "POST", path: "/v1/plan", body: .json(with(plan, ["device_flops": 1e-300])), status: 422, field: "device_flops"),
            Attack(method: "POST", path: "/v1/models", body: .json(layer(["forward_flops": 1.7e308])), status: 422, field: "forward_flops"),
            Attack(
                method: "POST", path: "/v1/models",
                body: .raw(
                    #"{"format":"splitgraph/1","name":"h","layers":[{"name":"x","forward_flops":1e400,"backward_flops":0,"output_bytes":1}]}"#),
                status: 422, field: "forward_flops"),
            Attack(
                method: "POST", path: "/v1/edge-servers", body: .json(["id": "e-x", "compute_flops": 1e-300]), status: 422, field: "compute_flops"),
            Attack(method: "PUT", path: "/v1/edge-servers/edge-1", body: .json(["compute_flops": 1e-300]), status: 422, field: "compute_flops"),
            Attack(method: "POST", path: "/v1/devices", body: .json(with(device, ["compute_flops": 1e-300])), status: 422, field: "compute_flops"),
            Attack(
                method: "PUT", path: "/v1/devices/dev-1", body: .json(with(device, ["id": NSNull(), "compute_flops": 1e-300])), status: 422,
                field: "compute_flops"),
            Attack(
                method: "POST", path: "/v1/devices",
                body: .json(with(device, ["link": ["uplink_bps": Double.leastNonzeroMagnitude, "downlink_bps": 1e8]])),
                status: 422, field: "link.uplink_bps"),
            Attack(
                method: "POST", path: "/v1/telemetry", token: .device,
                body: .json(["samples": [with(sample, ["compute_flops": Double.leastNonzeroMagnitude])]]),
                status: 422, field: "samples[0].compute_flops"),
            Attack(
                method: "POST", path: "/v1/telemetry", token: .device, body: .json(["samples": [with(sample, ["uplink_bps": 1e-305])]]), status: 422,
                field: "samples[0].uplink_bps"),
            Attack(method: "POST", path: "/v1/devices", body: .json(with(device, ["batch_size": 1e20])), status: 422, field: "batch_size"),
            Attack(method: "POST", path: "/v1/devices", body: .json(with(device, ["batch_size": 2.5])), status: 422, field: "batch_size"),
            // NUL anywhere in a name (PostgreSQL refuses it: once a 500).
            Attack(method: "POST", path: "/v1/models", body: .json(layer(["name": "x\u{0}y"])), status: 422, field: "name"),
            Attack(method: "POST", path: "/v1/models", body: .json(layer(["op": "conv\u{0}"])), status: 422, field: "op"),
            Attack(method: "POST", path: "/v1/models", body: .json(layer(["block": "b\u{0}"])), status: 422, field: "block"),
            Attack(method: "POST", path: "/v1/devices", body: .json(with(device, ["id": "d\u{0}"])), status: 422, field: "id"),
            Attack(
                method: "POST", path: "/v1/telemetry", body: .json(["samples": [with(sample, ["device": "dev-1\u{0}"])]]), status: 422,
                field: "samples[0].device"),
            // Nesting and size.
            Attack(method: "POST", path: "/v1/telemetry", body: .raw(String(repeating: "[", count: 100_000)), status: 400),
            Attack(
                method: "POST", path: "/v1/edge-servers",
                body: .raw(
                    "{\"id\": \"e\", \"compute_flops\": 1e13, \"x\": "
                        + String(
                            repeating: "{\"a\":",
                            count: 70) + "1" + String(repeating: "}", count: 70) + "}"), status: 400),
            Attack(
                method: "POST", path: "/v1/devices",
                body: .json(
                    with(
                        device,
                        [
                            "callback_url": "https://example.com/"
                                + String(
                                    repeating: "a",
                                    count: 500_000)
                        ])), status: 422, field: "callback_url"),
            Attack(
                method: "POST", path: "/v1/devices",
                body: .json(
                    with(
                        device,
                        [
                            "callback_url": "https://example.com/"
                                + String(
                                    repeating: "a",
                                    count: 2_000_000)
                        ])), status: 413),
            // Timestamps.
            Attack(
                method: "POST", path: "/v1/telemetry", body: .json(["samples": [with(sample, ["measured_at": "2026-13-01T00:00:00Z"])]]), status: 422,
                field: "samples[0].measured_at"),
            Attack(
                method: "POST", path: "/v1/telemetry", body: .json(["samples": [with(sample, ["measured_at": "9999-01-01T00:00:00Z"])]]), status: 422,
                field: "samples[0].measured_at"),
            Attack(
                method: "POST", path: "/v1/telemetry", body: .json(["samples": [with(sample, ["measured_at": "1970-01-01T00:00:00Z"])]]), status: 422,
                field: "samples[0].measured_at"),
            Attack(
                method: "POST", path: "/v1/telemetry", body: .json(["samples": [with(sample, ["measured_at": 1_700_000_000])]]), status: 422,
                field: "samples[0].measured_at"),
            // Impossible calendar dates and offsets (once accepted and normalised by timegm).
            Attack(
                method: "POST", path: "/v1/telemetry", body: .json(["samples": [with(sample, ["measured_at": String(now.prefix(19)) + "+99:99"])]]),
                status: 422, field: "samples[0].measured_at"),
            Attack(
                method: "POST", path: "/v1/telemetry", body: .json(["samples": [with(sample, ["measured_at": "2026-11-31T00:00:00Z"])]]),
                status: 422, field: "samples[0].measured_at"),
            Attack(
                method: "POST", path: "/v1/telemetry", body: .json(["samples": [with(sample, ["measured_at": "2026-02-30T00:00:00Z"])]]),
                status: 422, field: "samples[0].measured_at"),
            // A member given twice: refused, not last-wins (two readers could see different values).
            Attack(
                method: "POST", path: "/v1/edge-servers", body: .raw(#"{"id": "e-dup", "compute_flops": 1e13, "compute_flops": 1e14}"#), status: 400),
            // Ids in paths obey the rule of ids in bodies: %00 once reached device dev-1 (libpq cut the
            // value at the NUL) while revocation looked for "dev-1\0".
            Attack(method: "GET", path: "/v1/devices/dev-1%00garbage", body: .none, status: 400),
            Attack(method: "DELETE", path: "/v1/devices/dev-1%00", body: .none, status: 400),
            Attack(method: "POST", path: "/v1/devices/dev-1%00/credentials", body: .json(["token": true]), status: 400),
            Attack(method: "PUT", path: "/v1/devices/dev-1%0A", body: .json(["compute_flops": 1e11]), status: 400),
            Attack(method: "GET", path: "/v1/devices/dev-1%1B/plan", body: .none, status: 400),
            Attack(method: "GET", path: "/v1/devices/%FF%FE", body: .none, status: 400),
            Attack(method: "GET", path: "/v1/edge-servers/edge-1%00", body: .none, status: 400),
            // Query values: strict UTF-8 and no control characters (?name=%FF once registered U+FFFD).
            Attack(method: "GET", path: "/v1/devices?after=%FF", body: .none, status: 400),
            Attack(method: "GET", path: "/v1/devices?after=a%00b", body: .none, status: 400),
            Attack(method: "GET", path: "/v1/devices/dev-1/plans?before=%C0%80", body: .none, status: 400),
            // SSRF forms refused at registration, with the reason.
            Attack(
                method: "POST", path: "/v1/devices", body: .json(with(device, ["callback_url": "https://[::127.0.0.1]/x"])), status: 422,
                field: "callback_url"),
            Attack(
                method: "POST", path: "/v1/devices", body: .json(with(device, ["callback_url": "https://[2002:7f00:1::1]/x"])), status: 422,
                field: "callback_url"),
            Attack(
                method: "POST", path: "/v1/devices", body: .json(with(device, ["callback_url": "https://[64:ff9b:1::7f00:1]/x"])), status: 422,
                field: "callback_url"),
            Attack(
                method: "POST", path: "/v1/devices", body: .json(with(device, ["callback_url": "https://[::ffff:169.254.169.254]/x"])), status: 422,
                field: "callback_url"),
            Attack(
                method: "POST", path: "/v1/devices", body: .json(with(device, ["callback_url": "https://example.com/\r\nHost: evil"])), status: 422,
                field: "callback_url"),
            Attack(
                method: "POST", path: "/v1/devices", body: .json(with(device, ["callback_url": "https://example.com:0/x"])), status: 422,
                field: "callback_url"),
            Attack(
                method: "POST", path: "/v1/devices", body: .json(with(device, ["callback_url": "https://example.com:70000/x"])), status: 422,
                field: "callback_url"),
            Attack(
                method: "POST", path: "/v1/devices", body: .json(with(device, ["callback_url": "https://0x7f000001/x"])), status: 422,
                field: "callback_url"),
            Attack(
                method: "POST", path: "/v1/devices", body: .json(with(device, ["callback_url": "file:///etc/passwd"])), status: 422,
                field: "callback_url"),
            // Special-purpose addresses the guard once let through, and URLs libcurl cannot use
            // (they were accepted, then failed on every attempt until dead).
        ]
            + Self.refusedCallbacks.map { url in
                Attack(method: "POST", path: "/v1/devices", body: .json(with(device, ["callback_url": url])), status: 422, field: "callback_url")
            } + [
                // Token misuse.
                Attack(method: "GET", path: "/v1/devices", token: .none, body: .none, status: 401),
                Attack(method: "GET", path: "/v1/devices", token: .raw("Bearer"), body: .none, status: 401),
                Attack(method: "GET", path: "/v1/devices", token: .raw("Bearer sdt_\u{0}"), body: .none, status: 401),
                Attack(method: "GET", path: "/v1/devices", token: .raw("Bearer " + String(repeating: "a", count: 10_000)), body: .none, status: 401),
                Attack(method: "GET", path: "/v1/devices", token: .device, body: .none, status: 403),
                Attack(method: "POST", path: "/v1/devices/dev-1/credentials", token: .device, body: .json(["token": true]), status: 403),
                Attack(method: "GET", path: "/v1/devices/dev-1/plans", token: .otherDevice, body: .none, status: 403),
                Attack(method: "POST", path: "/v1/telemetry", token: .otherDevice, body: .json(["samples": [sample]]), status: 403),
            ]
    }

    /// Callback URLs refused at registration, naming `callback_url`.
    static let refusedCallbacks = [
        "https://[::ffff:0:7f00:1]/x", "https://[fec0::1]/x", "https://192.88.99.1/x", "https://[2001:10::1]/x", "https://[2001:20::1]/x",
        "https://[3fff::1]/x", "https://8.8.8.8%00.evil.com/x", "https://8.8.8.8\u{0}.evil.com/x", "http://[127.0.0.1]:8080/x",
        "https://bücher.example/x", "https://[fe80::1%25eth0]/x", "https://example.com:/x", "https://example.com/#x",
    ]

    @Test("hostile requests get their documented status and the field named; nothing is stored; the daemon keeps answering")
    func hostileRequests() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let daemon = try await Daemon(database: database, extra: ["SPLITD_WEBHOOK_ALLOW": ""])
        let (token, _) = try await Fleet.setUp(daemon, callback: nil)
        let (other, _) = try await Fleet.register(daemon, device: "dev-2", callback: nil)
        let connection = try database.connect()
        let tables = ["models", "edge_servers", "devices", "telemetry", "device_profiles", "credential_rotations"]
        func counts() throws -> [Int] { try tables.map { try connection.query("SELECT count(*) AS n FROM \($0)").int(0, "n") ?? -1 } }
        let before = try counts()
        let deviceBefore = try connection.query("SELECT compute_flops FROM devices WHERE id = 'dev-1'").double(0, "compute_flops")
        for attack in Self.attacks {
            // The path goes on the wire as written: percent escapes and query strings included.
            var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(daemon.port)" + attack.path), "\(attack)"))
            request.httpMethod = attack.method
            switch attack.token {
            case .admin: request.setValue("Bearer \(Daemon.adminToken)", forHTTPHeaderField: "Authorization")
            case .device: request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
            case .otherDevice: request.setValue("Bearer \(other)", forHTTPHeaderField: "Authorization")
            case .raw(let header): request.setValue(header, forHTTPHeaderField: "Authorization")
            case .none: break
            }
            switch attack.body {
            case .json(let object): request.httpBody = try JSONSerialization.data(withJSONObject: object)
            case .raw(let text): request.httpBody = Data(text.utf8)
            case .none: break
            }
            let (data, response) = try await URLSession.shared.data(for: request)
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            let body = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
            #expect(status == attack.status, "\(attack): \(String(decoding: data, as: UTF8.self).prefix(300))")
            #expect(
                body["error"] is String && body["detail"] is String,
                """
                \(attack): every error is {error, detail}: \(String(decoding: data.prefix(200), as: UTF8.self)) \
                \((response as? HTTPURLResponse)?.allHeaderFields ?? [:])
                """)
            if let field = attack.field { #expect(body["field"] as? String == field, "\(attack): \(body)") }
            #expect(try await daemon.json("GET", "/healthz", token: nil).0 == 200, "the daemon still answers after \(attack)")
        }
        #expect(try counts() == before, "nothing was stored")
        #expect(try connection.query("SELECT compute_flops FROM devices WHERE id = 'dev-1'").double(0, "compute_flops") == deviceBefore)
        #expect(await daemon.stop() == 0)
    }

    @Test("a poisoned row (stored by an older version) fails only its own device, recorded and retried with backoff; the others are planned")
    func poisonedRowDoesNotStopPlanning() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        var daemon = try await Daemon(database: database)
        _ = try await Fleet.setUp(daemon, device: "good-0", callback: nil)
        await daemon.stop()
        let connection = try database.connect()
        // Values no version accepts today, written straight into the tables (as an older release
        // could have stored them): absurd throughput, and absurd link estimates from telemetry.
        try connection.query(
            """
            INSERT INTO devices (id, model_name, edge_server_id, batch_size, compute_flops, webhook_secret, token_hash)
            VALUES ('poison-flops', 'resnet18', 'edge-1', 32, 1e-300, 'whsec_AAAA', 'h1'),
                   ('poison-link', 'resnet18', 'edge-1', 32, 1e11, 'whsec_AAAA', 'h2'),
                   ('good-1', 'resnet18', 'edge-1', 32, 1e11, 'whsec_AAAA', 'h3')
            """)
        try connection.query(
            """
            INSERT INTO link_estimates (device_id, uplink_bps, downlink_bps, rtt_seconds, samples, measured_at)
            VALUES ('poison-flops', 1e8, 1e8, 0.01, 1, now()), ('poison-link', 1e-305, 1e8, 0.01, 1, now()), ('good-1', 1e8, 1e8, 0.01, 1, now())
            """)
        try connection.query(
            """
            INSERT INTO planning_state (device_id, requested_reason, requested_at)
            SELECT id, 'new device', now() FROM devices WHERE id IN ('poison-flops', 'poison-link', 'good-1')
            """)
        daemon = try await Daemon(database: database)
        #expect(
            await eventually { (try? connection.query("SELECT count(*) AS n FROM plans WHERE device_id = 'good-1'").int(0, "n")) == 1 },
            "healthy devices are planned although two rows in the same batch are poisoned")
        #expect(
            await eventually {
                (try? connection.query(
                    """
                    SELECT count(*) AS n FROM planning_state
                    WHERE failures >= 1 AND retry_at > now() AND requested_reason = 'new device' AND requested_at IS NOT NULL
                    """
                ).int(0, "n")) == 2
            }, "failed devices keep their request (reason and time) and wait for their backoff")
        let failure = try connection.query("SELECT last_failure FROM planning_state WHERE device_id = 'poison-flops'").string(0, "last_failure") ?? ""
        #expect(failure.contains("device compute throughput"), "the reason is recorded: \(failure)")
        #expect(try connection.query("SELECT count(*) AS n FROM plans WHERE device_id LIKE 'poison%'").int(0, "n") == 0)
        #expect(daemon.log().contains("cannot plan device"))
        // It does not crash-loop: a restart (even after kill -9) serves and plans again.
        await daemon.kill9()
        try await daemon.start()
        #expect(try await daemon.json("GET", "/healthz", token: nil).0 == 200)
        let moved = try await daemon.json(
            "POST", "/v1/telemetry",
            [
                "samples": [
                    Fleet.telemetry(
                        "good-1", uplink: 1e6,
                        at: Date().addingTimeInterval(60))
                ]
            ])
        #expect(moved.0 == 202)
        #expect(await eventually { (try? connection.query("SELECT count(*) AS n FROM plans WHERE device_id = 'good-1'").int(0, "n")) == 2 })
        #expect(await daemon.stop() == 0)
    }
}
