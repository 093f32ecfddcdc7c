import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SplitCore
import SplitPush
import SplitSupport
import SplitTestSupport
import Testing

@testable import SplitServer
@testable import SplitStore

/// The HTTP API in process, on the in-memory store: every route's answers and error mapping
/// (400/401/403/404/409/413/422), without a database. The end-to-end suites run the same
/// surface against the real binary, PostgreSQL and libcurl.
@Suite("HTTP routes in process")
struct RouteTests {
    static let admin = "route-test-admin-token-0123"

    /// An app on a fresh in-memory store with a model, an edge server and a device.
    struct Harness: @unchecked Sendable {  // read-only after init
        let store = InMemoryAPIStore()
        let deviceToken: String
        let router: Router<SplitRequestContext>
        let app: Application<RouterResponder<SplitRequestContext>>

        init(maximumBodyBytes: Int = 1 << 20) async throws {
            let api = APIDependencies(
                store: store,
                auth: Authenticator(
                    adminTokens: [RouteTests.admin, "second-admin-token-0123"], store: store,
                    tokens: DeviceTokenCache(ttlSeconds: 60)),
                telemetry: TelemetryCommitter(store: store), metrics: ServerMetrics.shared, policy: try TargetPolicy(allowList: ["127.0.0.1"]),
                maximumBodyBytes: maximumBodyBytes,
                telemetryRetentionDays: 30, logger: Logger(label: "route-tests"))
            router = APIRoutes.router(api)
            app = Application(router: router)
            let resnet18 = try Data(contentsOf: packageRoot.appendingPathComponent("ops/models/resnet18.json"))
            _ = try await store.registerModel(try ModelGraph(json: resnet18))
            _ = try await store.createEdgeServer(id: "edge-1", computeFLOPs: 2e13)
            deviceToken = try await store.registerDevice(
                id: "dev-1",
                settings: DeviceSettings(
                    modelName: "resnet18", edgeServerID: "edge-1", batchSize: 32, computeFLOPs: 1e11, callbackURL: "http://127.0.0.1:9/hook"),
                link: nil
            ).token
        }
    }

    static func headers(_ token: String?) -> HTTPFields {
        var fields: HTTPFields = [.contentType: "application/json"]
        if let token { fields[.authorization] = "Bearer \(token)" }
        return fields
    }

    static func json(_ object: Any) -> ByteBuffer { ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: object)) }

    /// The `{error, detail, field}` of an error response.
    static func error(_ response: TestResponse) -> (code: String?, detail: String, field: String?) {
        let object = (try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) as? [String: Any] ?? [:]
        return (object["error"] as? String, object["detail"] as? String ?? "", object["field"] as? String)
    }

    @Test("authentication: 401 without or with an unknown token, 403 for a device on operator routes or another device")
    func authentication() async throws {
        let harness = try await Harness()
        try await harness.app.test(.router) { client in
            try await client.execute(uri: "/v1/models", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == "Bearer realm=\"splitd\"")
            }
            try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Basic abc"]) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/v1/models", method: .get, headers: Self.headers("sdt_forged")) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/v1/models", method: .get, headers: Self.headers(harness.deviceToken)) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/v1/models", method: .get, headers: Self.headers(Self.admin)) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/models", method: .get, headers: Self.headers("second-admin-token-0123")) { #expect($0.status == .ok) }
            try await client.execute(
                uri: "/v1/devices/dev-2/plan", method: .get,
                headers: Self.headers(harness.deviceToken)
            ) { #expect($0.status == .forbidden) }
            try await client.execute(uri: "/v1/devices/dev-1/plan", method: .get, headers: Self.headers(harness.deviceToken)) { response in
                #expect(response.status == .notFound)
                #expect(Self.error(response).code == "not_found")
            }
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains(SplitdVersion.current))
            }
        }
    }

    @Test("models: 400 with line and column for broken JSON, 422 naming layer and field, 413 over the limits, 200 for the same graph again")
    func models() async throws {
        let harness = try await Harness(maximumBodyBytes: 4 << 20)
        let graph = try String(contentsOf: packageRoot.appendingPathComponent("ops/models/resnet18.json"), encoding: .utf8)
        try await harness.app.test(.router) { client in
            let admin = Self.headers(Self.admin)
            try await client.execute(
                uri: "/v1/models", method: .post, headers: admin,
                body: ByteBuffer(string: "{\n \"format\": \"splitgraph/1\",\n \"layers\": [}")
            ) { response in
                #expect(response.status == .badRequest)
                #expect(Self.error(response).detail.contains("line 3, column"))
            }
            let bad: [(String, String)] = [
                ("{\"format\": \"splitgraph/2\", \"layers\": []}", "format"),
                (
                    """
                    {\"format\": \"splitgraph/1\", \"name\": \"m\", \"layers\": [{\"name\": \"x\\u0000\", \"forward_flops\": 0, \"backward_flops\": \
                    0, \"output_bytes\": 1}]}
                    """, "name"
                ),
                (
                    """
                    {\"format\": \"splitgraph/1\", \"name\": \"m\", \"layers\": [{\"name\": \"x\", \"forward_flops\": 1e400, \"backward_flops\": 0, \
                    \"output_bytes\": 1}]}
                    """, "forward_flops"
                ),
                (
                    """
                    {\"format\": \"splitgraph/1\", \"name\": \"m\", \"layers\": [{\"name\": \"x\", \"forward_flops\": 1.7e308, \"backward_flops\": \
                    0, \"output_bytes\": 1}]}
                    """, "forward_flops"
                ),
                (
                    """
                    {\"format\": \"splitgraph/1\", \"name\": \"m\", \"layers\": [{\"name\": \"x\", \"forward_flops\": \"many\", \"backward_flops\": \
                    0, \"output_bytes\": 1}]}
                    """, "forward_flops"
                ),
                (
                    """
                    {\"format\": \"splitgraph/1\", \"name\": \"a/b\", \"layers\": [{\"name\": \"x\", \"forward_flops\": 0, \"backward_flops\": 0, \
                    \"output_bytes\": 1}, {\"name\": \"y\", \"inputs\": [\"x\"], \"forward_flops\": 0, \"backward_flops\": 0, \"output_bytes\": 1}]}
                    """, "name"
                ),
            ]
            for (body, field) in bad {
                try await client.execute(uri: "/v1/models", method: .post, headers: admin, body: ByteBuffer(string: body)) { response in
                    #expect(response.status == .unprocessableContent, "\(body)")
                    #expect(Self.error(response).field == field, "\(body): \(Self.error(response))")
                }
            }
            try await client.execute(uri: "/v1/models", method: .post, headers: admin, body: ByteBuffer(string: graph)) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("\"created\":false"))
            }
            let huge =
                "{\"format\": \"splitgraph/1\", \"layers\": ["
                + Array(
                    repeating: "{}",
                    count: ModelBodies.maximumLayers + 1
                ).joined(separator: ",") + "]}"
            try await client.execute(
                uri: "/v1/models", method: .post, headers: admin,
                body: ByteBuffer(string: huge)
            ) { #expect($0.status == .contentTooLarge) }
            try await client.execute(uri: "/v1/models", method: .post, headers: admin, body: ByteBuffer(repeating: 32, count: 5 << 20)) { response in
                #expect(response.status == .contentTooLarge)
                #expect(Self.error(response).code == "payload_too_large", "\(String(buffer: response.body))")
            }
            try await client.execute(uri: "/v1/models/nope", method: .get, headers: admin) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/v1/models/resnet18?graph=true", method: .get, headers: admin) { response in
                #expect(response.status == .ok)
                let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                let embedded = try #require(object?["graph"] as? [String: Any])
                #expect((embedded["layers"] as? [Any])?.count == 70)
            }
        }
        #expect(await harness.store.latestModels().count == 1, "nothing refused was stored")
    }

    @Test("edge servers and devices: absurd numbers, wrong types, unknown fields, SSRF forms and references are 422 naming the field; 409 and 404")
    func fleet() async throws {
        let harness = try await Harness()
        nonisolated(unsafe) let device: [String: Any] = [
            "id": "dev-9", "model": "resnet18", "edge_server": "edge-1", "batch_size": 32,
            "compute_flops": 1e11,
        ]
        try await harness.app.test(.router) { client in
            let admin = Self.headers(Self.admin)
            for (body, field) in [
                (["id": "e2", "compute_flops": 1e-300], "compute_flops"), (["id": "e2", "compute_flops": "fast"], "compute_flops"),
                (["id": "e2", "compute_flops": 1e13, "color": "red"], "color"),
                (
                    ["id": "e/2", "compute_flops": 1e13],
                    "id"
                ),
            ] as [([String: Any], String)] {
                try await client.execute(uri: "/v1/edge-servers", method: .post, headers: admin, body: Self.json(body)) { response in
                    #expect(response.status == .unprocessableContent)
                    #expect(Self.error(response).field == field)
                }
            }
            try await client.execute(
                uri: "/v1/edge-servers", method: .post, headers: admin,
                body: Self.json([
                    "id": "edge-1",
                    "compute_flops": 1e13,
                ])
            ) {
                #expect($0.status == .conflict)
            }
            try await client.execute(
                uri: "/v1/edge-servers/nope", method: .put, headers: admin,
                body: Self.json(["compute_flops": 1e13])
            ) { #expect($0.status == .notFound) }
            let cases: [([String: Any], String)] = [
                (["batch_size": 2.5], "batch_size"), (["batch_size": 1e20], "batch_size"), (["compute_flops": 1e-300], "compute_flops"),
                (["memory_bytes": -1], "memory_bytes"), (["model": "missing"], "model"), (["edge_server": "missing"], "edge_server"),
                (["link": ["uplink_bps": Double.leastNonzeroMagnitude, "downlink_bps": 1e8]], "link.uplink_bps"),
                (
                    ["link": ["uplink_bps": 1e8]],
                    "link.downlink_bps"
                ),
                (["callback_url": "http://[::127.0.0.1]/hook"], "callback_url"), (["callback_url": "https://[2002:7f00:1::1]/x"], "callback_url"),
                (["callback_url": "https://[64:ff9b:1::7f00:1]/x"], "callback_url"),
                (
                    ["callback_url": "https://example.com/a\r\nX: y"],
                    "callback_url"
                ),
                (["callback_url": "http://127.0.0.1:0/x"], "callback_url"),
                (
                    [
                        "callback_url": "https://example.com/"
                            + String(
                                repeating: "a",
                                count: 3000)
                    ], "callback_url"
                ),
                (["callback_url": "http://10.0.0.1/hook"], "callback_url"), (["model": "resnet18\u{0}"], "model"), (["webhook": "x"], "webhook"),
            ]
            for (change, field) in cases {
                let body = device.merging(change) { _, new in new }
                try await client.execute(uri: "/v1/devices", method: .post, headers: admin, body: Self.json(body)) { response in
                    #expect(response.status == .unprocessableContent, "\(change)")
                    #expect(Self.error(response).field == field, "\(change): \(Self.error(response))")
                }
            }
            try await client.execute(
                uri: "/v1/devices", method: .post, headers: admin,
                body: Self.json(device.merging(["id": "dev-1"]) { _, new in new })
            ) {
                #expect($0.status == .conflict)
            }
            try await client.execute(uri: "/v1/devices/nope", method: .get, headers: admin) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/v1/devices/nope", method: .delete, headers: admin) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/v1/devices", method: .post, headers: admin, body: Self.json(device)) { response in
                #expect(response.status == .created)
                let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect(
                    (object?["token"] as? String)?.hasPrefix("sdt_") == true
                        && (object?["webhook_secret"] as? String)?.hasPrefix("whsec_") == true)
            }
        }
        #expect(await harness.store.devices(after: nil, limit: 100).map(\.id) == ["dev-1", "dev-9"], "only the valid registration was stored")
    }

    @Test("telemetry: each bad sample is 422 naming samples[i].field and stores nothing; devices send only their own; 413 over 10,000")
    func telemetry() async throws {
        let harness = try await Harness()
        let now = Timestamp.format(Date())
        nonisolated(unsafe) let good: [String: Any] = [
            "device": "dev-1", "measured_at": now, "uplink_bps": 2e7, "downlink_bps": 4e7,
            "rtt_seconds": 0.01,
        ]
        try await harness.app.test(.router) { client in
            let device = Self.headers(harness.deviceToken)
            for (change, field) in [
                (["compute_flops": Double.leastNonzeroMagnitude], "samples[1].compute_flops"),
                (
                    ["uplink_bps": 1e-305],
                    "samples[1].uplink_bps"
                ),
                (["measured_at": "yesterday"], "samples[1].measured_at"), (["rtt_seconds": -1], "samples[1].rtt_seconds"),
                (["measured_at": "2001-01-01T00:00:00Z"], "samples[1].measured_at"),
                (
                    ["uplink_bps": true],
                    "samples[1].uplink_bps"
                ),
                (["device": "dev-1\u{0}"], "samples[1].device"),
            ] as [([String: Any], String)] {
                let body = ["samples": [good, good.merging(change) { _, new in new }]]
                try await client.execute(uri: "/v1/telemetry", method: .post, headers: device, body: Self.json(body)) { response in
                    #expect(response.status == .unprocessableContent, "\(change)")
                    #expect(Self.error(response).field == field, "\(change): \(Self.error(response))")
                }
            }
            try await client.execute(
                uri: "/v1/telemetry", method: .post, headers: device,
                body: Self.json(["samples": [good.merging(["device": "dev-2"]) { _, new in new }]])
            ) {
                #expect($0.status == .forbidden)
            }
            try await client.execute(
                uri: "/v1/telemetry", method: .post, headers: device,
                body: Self.json(["samples": []])
            ) { #expect($0.status == .unprocessableContent) }
            try await client.execute(
                uri: "/v1/telemetry", method: .post, headers: device,
                body: Self.json([
                    "samples": Array(
                        repeating: good,
                        count: 10_001)
                ])
            ) {
                #expect($0.status == .contentTooLarge)
            }
            try await client.execute(
                uri: "/v1/telemetry", method: .post, headers: device,
                body: Self.json(["samples": [good]])
            ) { #expect($0.status == .accepted) }
        }
        #expect(await harness.store.samples.count == 1)
    }

    @Test("stateless planning: a graph that is not an object, absurd conditions and unknown algorithms are 422 naming the field")
    func statelessPlanning() async throws {
        let harness = try await Harness()
        nonisolated(unsafe) let conditions: [String: Any] = [
            "model": "resnet18", "batch_size": 32, "device_flops": 1e11, "server_flops": 2e13,
            "uplink_bps": 2e7, "downlink_bps": 4e7,
        ]
        try await harness.app.test(.router) { client in
            let admin = Self.headers(Self.admin)
            for graph in [5, "str", true] as [Any] {
                var body = conditions
                body["model"] = nil
                body["graph"] = graph
                try await client.execute(uri: "/v1/plan", method: .post, headers: admin, body: Self.json(body)) { response in
                    #expect(response.status == .unprocessableContent)
                    #expect(Self.error(response).field == "graph")
                }
            }
            for (change, field) in [
                (["uplink_bps": Double.leastNonzeroMagnitude], "uplink_bps"), (["device_flops": 1e-300], "device_flops"),
                (["algorithm": "foo"], "algorithm"),
                (["batch_size": 0], "batch_size"), (["model": "nope"], "model"),
                (
                    ["rtt_seconds": 1e9],
                    "rtt_seconds"
                ),
            ] as [([String: Any], String)] {
                try await client.execute(
                    uri: "/v1/plan", method: .post, headers: admin,
                    body: Self.json(conditions.merging(change) { _, new in new })
                ) { response in
                    #expect(response.status == .unprocessableContent, "\(change)")
                    #expect(Self.error(response).field == field, "\(change): \(Self.error(response))")
                }
            }
            try await client.execute(uri: "/v1/plan", method: .post, headers: admin, body: Self.json(conditions)) { response in
                #expect(response.status == .ok)
                let report = try JSONDecoder().decode(PlanReport.self, from: Data(buffer: response.body))
                #expect(report.model == "resnet18" && report.delaySeconds > 0 && report.conditions.conditions.uplinkBitsPerSecond == 2e7)
            }
        }
    }

    @Test("credentials: rotation returns new credentials once and records who; the old token stops without a grace period")
    func credentials() async throws {
        let harness = try await Harness()
        try await harness.app.test(.router) { client in
            let admin = Self.headers(Self.admin)
            try await client.execute(uri: "/v1/devices/dev-1/credentials", method: .post, headers: admin, body: Self.json([:] as [String: Any])) {
                #expect($0.status == .unprocessableContent)
            }
            try await client.execute(
                uri: "/v1/devices/nope/credentials", method: .post, headers: admin,
                body: Self.json(["token": true])
            ) { #expect($0.status == .notFound) }
            try await client.execute(
                uri: "/v1/devices/dev-1/credentials", method: .post, headers: Self.headers(harness.deviceToken),
                body: Self.json(["token": true])
            ) {
                #expect($0.status == .forbidden)
            }
            var fresh = ""
            try await client.execute(
                uri: "/v1/devices/dev-1/credentials", method: .post, headers: admin,
                body: Self.json([
                    "token": true,
                    "token_grace_seconds": 0,
                ])
            ) { response in
                #expect(response.status == .ok)
                let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                fresh = object?["token"] as? String ?? ""
            }
            try await client.execute(
                uri: "/v1/devices/dev-1/plan", method: .get,
                headers: Self.headers(harness.deviceToken)
            ) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/v1/devices/dev-1/plan", method: .get, headers: Self.headers(fresh)) { #expect($0.status == .notFound) }
        }
        let rotations = await harness.store.rotations
        #expect(rotations.count == 1 && rotations[0].rotatedBy.hasPrefix("admin:") && !rotations[0].rotatedBy.contains(Self.admin))
    }

    @Test("profiles: one for another model is refused unless forced")
    func profiles() async throws {
        let harness = try await Harness()
        let profile = try Data(contentsOf: packageRoot.appendingPathComponent("ops/profiles/resnet50.cpu2.json"))
        try await harness.app.test(.router) { client in
            try await client.execute(
                uri: "/v1/devices/dev-1/profile", method: .put, headers: Self.headers(Self.admin),
                body: ByteBuffer(data: profile)
            ) { response in
                #expect(response.status == .unprocessableContent)
                #expect(Self.error(response).detail.contains("profile is for model 'resnet50'"))
            }
        }
        #expect(await harness.store.profiles.isEmpty)
    }

    @Test("every route the router serves is in the OpenAPI document, with an operationId")
    func openAPICoversRoutes() async throws {
        let harness = try await Harness()
        let document = try #require(OpenAPIDocument.text)
        var documented: Set<String> = []
        var path: String?
        for line in document.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
            } else if !line.hasPrefix("    ") && !line.hasPrefix("  /") && !line.isEmpty {
                path = nil
            }
            if let path, let method = ["get", "post", "put", "delete"].first(where: { line.hasPrefix("    \($0):") }) {
                documented.insert("\(method.uppercased()) \(path)")
            }
        }
        let paths = document.components(separatedBy: "\nwebhooks:")[0]
        let operationIDs = paths.split(separator: "\n").filter { $0.contains("operationId:") }.map { $0.split(separator: ":").last! }
        #expect(operationIDs.count == documented.count, "every operation has an operationId")
        #expect(Set(operationIDs).count == operationIDs.count, "operationIds are unique")
        let served = Set(
            harness.router.routes.map { route in
                "\(route.method.rawValue) "
                    + route.path.description.replacingOccurrences(of: ":id", with: "{id}").replacingOccurrences(
                        of: ":name",
                        with: "{name}")
            })
        #expect(served.subtracting(documented).isEmpty, "undocumented: \(served.subtracting(documented).sorted())")
        #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
    }
}

@Suite("ONNX uploads in process")
struct ONNXUploadTests {
    @Test("POST /v1/models with application/onnx imports on the server; garbage is 422 naming what is wrong; ?name= and ?input= are checked")
    func onnxUpload() async throws {
        let harness = try await RouteTests.Harness(maximumBodyBytes: 4 << 20)
        let onnx = try Data(contentsOf: packageRoot.appendingPathComponent("Tests/SplitImportTests/Fixtures/resnet18.ts.onnx"))
        try await harness.app.test(.router) { client in
            var headers = RouteTests.headers(RouteTests.admin)
            headers[.contentType] = "application/onnx"
            try await client.execute(
                uri: "/v1/models?name=resnet18-onnx", method: .post, headers: headers,
                body: ByteBuffer(data: onnx)
            ) { response in
                #expect(response.status == .created, "\(String(buffer: response.body))")
                let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect(object?["name"] as? String == "resnet18-onnx" && (object?["layers"] as? Int ?? 0) >= 50)
            }
            try await client.execute(
                uri: "/v1/models?name=junk", method: .post, headers: headers,
                body: ByteBuffer(string: "not a protobuf at all")
            ) { response in
                #expect(response.status == .unprocessableContent)
                #expect(RouteTests.error(response).code == "invalid_model")
            }
            try await client.execute(uri: "/v1/models?name=a/b", method: .post, headers: headers, body: ByteBuffer(data: onnx)) { response in
                #expect(response.status == .unprocessableContent && RouteTests.error(response).field == "name")
            }
            try await client.execute(uri: "/v1/models?input=x=1xfoo", method: .post, headers: headers, body: ByteBuffer(data: onnx)) { response in
                #expect(response.status == .unprocessableContent && RouteTests.error(response).field == "input")
            }
        }
        let stored = await harness.store.latestModels().map(\.name)
        #expect(stored.sorted() == ["resnet18", "resnet18-onnx"])
    }
}
