import Foundation
import Hummingbird
import HummingbirdTesting
import SplitCore
import SplitSupport
import SplitTestSupport
import Testing

@testable import SplitServer
@testable import SplitStore

/// The operator dashboard (`/ui`) in process, on the in-memory store: who may see it, what each
/// page shows, that user data is escaped, and the headers every page carries. The browser test
/// (`DashboardBrowserTests`) drives the same pages in Chromium against the real daemon.
@Suite("Dashboard in process")
struct DashboardTests {
    /// Markup that would run were it not escaped (ids may hold anything but '/' and control characters).
    static let hostile = "<script>alert(1)<img src=x onerror=alert(2)>\"'&"

    static let hostilePath = "%3Cscript%3Ealert%281%29%3Cimg%20src%3Dx%20onerror%3Dalert%282%29%3E%22%27%26"

    /// The route harness with a plan in force for dev-1, telemetry, a failed delivery, an
    /// infeasible device and a device whose id is markup.
    static func harness() async throws -> RouteTests.Harness {
        let harness = try await RouteTests.Harness()
        let store = harness.store
        let graph = try ModelGraph(json: Data(contentsOf: packageRoot.appendingPathComponent("ops/models/resnet18.json")))
        let now = Date()
        for second in 0..<30 {
            _ = try await store.ingest(batches: [
                TelemetryBatch(samples: [
                    TelemetrySample(
                        deviceID: "dev-1", measuredAt: now.addingTimeInterval(Double(second - 30)), uplinkBitsPerSecond: 2e7 + Double(second) * 1e6,
                        downlinkBitsPerSecond: 4e7, rttSeconds: 0.01)
                ])
            ])
        }
        await store.addPlan(plan(id: 7, device: "dev-1", graph: graph, deviceLayerCount: 3, at: now.addingTimeInterval(-10)))
        await store.addDelivery(
            DeliveryRecord(
                id: "msg_7", deviceID: "dev-1", planID: 7, status: "failed", attempts: 3, lastStatusCode: 500,
                lastError: "receiver said <b>no</b>", createdAt: now.addingTimeInterval(-9), nextAttemptAt: now.addingTimeInterval(20)))
        for id in [hostile, "dev-2"] {
            _ = try await store.registerDevice(
                id: id, settings: DeviceSettings(modelName: "resnet18", edgeServerID: "edge-1", batchSize: 32, computeFLOPs: 1e11), link: nil)
        }
        await store.markInfeasible("dev-2", requiredBytes: 3_000_000_000, limitBytes: 1_000_000_000)
        return harness
    }

    static func plan(id: Int64, device: String, graph: ModelGraph, deviceLayerCount: Int, at date: Date) -> StoredPlan {
        let deviceLayers = Array(graph.layers.prefix(deviceLayerCount).map(\.name))
        return StoredPlan(
            id: id, deviceID: device, modelName: graph.name, modelVersion: 1, computedAt: date, algorithm: "block", uplinkBitsPerSecond: 2e7,
            downlinkBitsPerSecond: 4e7, rttSeconds: 0.01, deviceFLOPs: 1e11, serverFLOPs: 2e13, batchSize: 32, deviceLayers: deviceLayers,
            cutLayers: [deviceLayers.last!], predictedDelaySeconds: 0.25, transferBytes: 1_000_000,
            breakdown: DelayBreakdown(
                deviceComputeSeconds: 0.1, serverComputeSeconds: 0.05, uplinkSeconds: 0.05, downlinkSeconds: 0.04, rttSeconds: 0.01),
            solveMicroseconds: 3, supersededAt: nil, reason: "new device", memoryBound: false)
    }

    static func text(_ response: TestResponse) -> String { String(buffer: response.body) }

    static func with(_ fields: HTTPFields, _ name: HTTPFields.Element.Name, _ value: String) -> HTTPFields {
        var fields = fields
        fields[name] = value
        return fields
    }

    static let admin: HTTPFields = [.authorization: "Bearer \(RouteTests.admin)"]

    @Test("not signed in: /ui answers 401 with the login form and no fleet data; a device token is 403; a forged one 401")
    func refusedWithoutSignIn() async throws {
        let harness = try await Self.harness()
        try await harness.app.test(.router) { client in
            for path in ["/ui", "/ui/devices/dev-1", "/ui/deliveries", "/ui/plans/7"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .unauthorized, "\(path)")
                    let page = Self.text(response)
                    #expect(page.contains("<form method=\"post\" action=\"/ui/login\""), "\(path)")
                    // Only the path asked for comes back (as where to return after signing in).
                    #expect(!page.contains("<table") && !page.contains("resnet18") && !page.contains("edge-1"), "\(path) leaks fleet data")
                    #expect(path != "/ui" || !page.contains("dev-1"), "\(path) leaks fleet data")
                    #expect(response.headers[.contentSecurityPolicy] == DashboardMiddleware.contentSecurityPolicy)
                }
            }
            try await client.execute(uri: "/ui", method: .get, headers: [.authorization: "Bearer \(harness.deviceToken)"]) { response in
                #expect(response.status == .forbidden)
                #expect(!Self.text(response).contains("dev-1"))
            }
            try await client.execute(uri: "/ui", method: .get, headers: [.authorization: "Bearer sdt_forged"]) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/ui", method: .get, headers: [.cookie: "splitd_session=v1.9999999999.00.forged"]) {
                #expect($0.status == .unauthorized)
            }
        }
    }

    @Test("login: a wrong token is 401; the admin token sets an HttpOnly SameSite=Strict cookie that opens the pages; logout clears it")
    func loginFlow() async throws {
        let harness = try await Self.harness()
        try await harness.app.test(.router) { client in
            let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
            try await client.execute(uri: "/ui/login", method: .post, headers: form, body: ByteBuffer(string: "token=wrong&next=%2Fui")) { response in
                #expect(response.status == .unauthorized)
                #expect(Self.text(response).contains("not an admin token"))
                #expect(response.headers[.setCookie] == nil)
            }
            var cookie = ""
            try await client.execute(
                uri: "/ui/login", method: .post, headers: form,
                body: ByteBuffer(string: "token=\(RouteTests.admin)&next=%2Fui%2Fdeliveries")
            ) { response in
                #expect(response.status == .seeOther)
                #expect(response.headers[.location] == "/ui/deliveries")
                let setCookie = response.headers[.setCookie] ?? ""
                for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age=43200"] {
                    #expect(setCookie.contains(attribute), "\(attribute)")
                }
                #expect(!setCookie.contains("Secure"), "no TLS here")
                #expect(!setCookie.contains(RouteTests.admin), "the cookie never holds the token")
                cookie = String(setCookie.split(separator: ";")[0])
            }
            try await client.execute(uri: "/ui", method: .get, headers: [.cookie: cookie]) { response in
                #expect(response.status == .ok)
                #expect(Self.text(response).contains(">dev-1</a>"))
            }
            // A tampered cookie is refused.
            try await client.execute(uri: "/ui", method: .get, headers: [.cookie: String(cookie.dropLast(2)) + "xx"]) {
                #expect($0.status == .unauthorized)
            }
            try await client.execute(uri: "/ui/logout", method: .post) { response in
                #expect(response.status == .seeOther)
                #expect(response.headers[.setCookie]?.contains("Max-Age=0") == true)
            }
            // Behind a TLS proxy the cookie is Secure; a return path elsewhere is ignored.
            try await client.execute(
                uri: "/ui/login", method: .post, headers: Self.with(form, .forwardedProto, "https"),
                body: ByteBuffer(string: "token=\(RouteTests.admin)&next=%2F%2Fevil.example%2Fui")
            ) { response in
                #expect(response.status == .seeOther)
                #expect(response.headers[.location] == "/ui")
                #expect(response.headers[.setCookie]?.contains("; Secure") == true)
            }
            // Cross-site form posts are refused (login CSRF).
            try await client.execute(
                uri: "/ui/login", method: .post, headers: Self.with(form, .secFetchSite, "cross-site"),
                body: ByteBuffer(string: "token=\(RouteTests.admin)")
            ) { #expect($0.status == .forbidden) }
            try await client.execute(
                uri: "/ui/login", method: .post, headers: Self.with(form, .origin, "http://evil.example"),
                body: ByteBuffer(string: "token=\(RouteTests.admin)")
            ) { #expect($0.status == .forbidden) }
        }
    }

    @Test("sessions expire, are bound to an admin token, and compare in constant time")
    func sessions() {
        let digest = { (token: String) in Data(DashboardSession.digest(token)) }
        let session = DashboardSession(adminTokenDigests: [digest("first-admin-token"), digest("second-admin-token")])
        #expect(session.adminIndex(token: "second-admin-token") == 1)
        #expect(session.adminIndex(token: "not-a-token") == nil)
        let value = session.issue(adminIndex: 1)
        #expect(session.isValid(value))
        #expect(!session.isValid(value, now: Date().addingTimeInterval(Double(DashboardSession.lifetimeSeconds) + 1)), "expired")
        #expect(!session.isValid(session.issue(adminIndex: 0, now: Date().addingTimeInterval(-Double(DashboardSession.lifetimeSeconds) - 1))))
        // Removing the token that opened a session ends it.
        #expect(!DashboardSession(adminTokenDigests: [digest("first-admin-token")]).isValid(value))
        // The expiry is signed: moving it invalidates the tag.
        var parts = value.split(separator: ".").map(String.init)
        parts[1] = String(Int(parts[1])! + 60)
        #expect(!session.isValid(parts.joined(separator: ".")))
    }

    @Test("every page escapes user data: a device id of markup is shown as text, linked percent-encoded, and its page renders")
    func hostileDeviceID() async throws {
        let harness = try await Self.harness()
        try await harness.app.test(.router) { client in
            try await client.execute(uri: "/ui", method: .get, headers: Self.admin) { response in
                #expect(response.status == .ok)
                let page = Self.text(response)
                #expect(!page.contains("<script") && !page.contains("<img"), "raw markup in the page")
                #expect(page.contains("&lt;script&gt;alert(1)&lt;img src=x onerror=alert(2)&gt;&quot;&#39;&amp;"))
                #expect(page.contains("href=\"/ui/devices/\(Self.hostilePath)\""))
            }
            try await client.execute(uri: "/ui/devices/\(Self.hostilePath)", method: .get, headers: Self.admin) { response in
                #expect(response.status == .ok)
                #expect(!Self.text(response).contains("<script") && !Self.text(response).contains("<img"))
                #expect(Self.text(response).contains("&lt;script&gt;"))
            }
            try await client.execute(uri: "/ui/deliveries", method: .get, headers: Self.admin) { response in
                #expect(Self.text(response).contains("receiver said &lt;b&gt;no&lt;/b&gt;"), "error text from a receiver is escaped")
            }
        }
    }

    @Test("the fleet page counts by state and model, lists devices with their split and link, filters and pages")
    func fleetPage() async throws {
        let harness = try await Self.harness()
        try await harness.app.test(.router) { client in
            try await client.execute(uri: "/ui", method: .get, headers: Self.admin) { response in
                let page = Self.text(response)
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                #expect(response.headers[.xContentTypeOptions] == "nosniff")
                #expect(response.headers[.referrerPolicy] == "same-origin")
                #expect(response.headers[.cacheControl] == "no-store")
                #expect(page.contains("<table id=\"devices\">"))
                #expect(page.contains("infeasible: needs 3.00 GB, limit 1.00 GB"))
                #expect(page.contains("webhook failed"))
                #expect(page.contains("Mbit/s"))
                #expect(page.contains("href=\"/ui/plans/7\""))
                #expect(page.contains(">3</a>") || page.contains(">3<"), "three active devices")
            }
            try await client.execute(uri: "/ui?state=infeasible", method: .get, headers: Self.admin) { response in
                let page = Self.text(response)
                #expect(page.contains(">dev-2</a>") && !page.contains(">dev-1</a>"))
            }
            try await client.execute(uri: "/ui?q=dev&limit=1", method: .get, headers: Self.admin) { response in
                let page = Self.text(response)
                #expect(page.contains(">dev-1</a>") && !page.contains(">dev-2</a>"))
                #expect(page.contains("rel=\"next\" href=\"/ui?q=dev&amp;limit=1&amp;after=dev-1\""))
            }
            try await client.execute(uri: "/ui?q=dev&limit=1&after=dev-1", method: .get, headers: Self.admin) { response in
                #expect(Self.text(response).contains(">dev-2</a>"))
            }
            try await client.execute(uri: "/ui?state=bogus", method: .get, headers: Self.admin) { response in
                #expect(response.status == .unprocessableContent)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                #expect(Self.text(response).contains("state must be one of"))
            }
        }
    }

    @Test("a device's timeline charts its link with points and plan markers, lists plans, pushes and refused moves")
    func devicePage() async throws {
        let harness = try await Self.harness()
        try await harness.app.test(.router) { client in
            try await client.execute(uri: "/ui/devices/dev-1?hours=1", method: .get, headers: Self.admin) { response in
                let page = Self.text(response)
                #expect(response.status == .ok)
                #expect(page.components(separatedBy: "<circle class=\"point\"").count - 1 == 90, "30 samples × (uplink, downlink, RTT)")
                #expect(page.contains("plan #7"))
                #expect(page.contains("<table id=\"plans\">") && page.contains("<table id=\"deliveries\">"))
                #expect(page.contains("HTTP 500"))
                #expect(page.contains("No move was refused."))
            }
            await harness.store.addRefusedMove(
                RefusedMove(
                    deviceID: "dev-1", recordedAt: Date(), reason: "does not pay", rule: "payback", currentSeconds: 1, candidateSeconds: 0.998,
                    migrationSeconds: 4, accruedSavingSeconds: 0.5, requiredSavingSeconds: 4, revisitAt: nil, candidateCutLayers: ["conv1"]))
            try await client.execute(uri: "/ui/devices/dev-1", method: .get, headers: Self.admin) { response in
                let page = Self.text(response)
                #expect(page.contains("<table id=\"refused\">") && page.contains("does not pay") && page.contains("payback"))
            }
            try await client.execute(uri: "/ui/devices/dev-1?hours=5", method: .get, headers: Self.admin) {
                #expect($0.status == .unprocessableContent)
            }
            try await client.execute(uri: "/ui/devices/nobody", method: .get, headers: Self.admin) { response in
                #expect(response.status == .notFound)
                #expect(Self.text(response).contains("does not exist"))
            }
        }
    }

    @Test("the deliveries page counts by status and lists failing hosts; a plan's page draws it and gives its numbers")
    func deliveriesAndPlanPages() async throws {
        let harness = try await Self.harness()
        try await harness.app.test(.router) { client in
            try await client.execute(uri: "/ui/deliveries", method: .get, headers: Self.admin) { response in
                let page = Self.text(response)
                #expect(response.status == .ok)
                #expect(page.contains("<span data-status=\"failed\">1</span>"))
                #expect(page.contains("<span data-status=\"delivered\">0</span>"))
                #expect(page.contains("<code>127.0.0.1</code>"))
            }
            try await client.execute(uri: "/ui/plans/7", method: .get, headers: Self.admin) { response in
                let page = Self.text(response)
                #expect(response.status == .ok)
                #expect(page.contains("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plan\""))
                #expect(page.contains("class=\"node cut\""))
                #expect(page.contains("class=\"transfer\""))
                #expect(page.contains("<table id=\"breakdown\">"))
            }
            try await client.execute(uri: "/ui/plans/999", method: .get, headers: Self.admin) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/ui/plans/abc", method: .get, headers: Self.admin) { #expect($0.status == .badRequest) }
        }
    }

    @Test("the stylesheet is embedded, versioned and revalidated by ETag; pages link it; no page has a script")
    func assets() async throws {
        let harness = try await Self.harness()
        try await harness.app.test(.router) { client in
            try await client.execute(uri: DashboardAssets.stylesheetPath, method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/css; charset=utf-8")
                #expect(response.headers[.eTag] == DashboardAssets.stylesheetETag)
                #expect(response.headers[.cacheControl]?.contains("immutable") == true)
                #expect(Self.text(response).contains("table"))
            }
            try await client.execute(uri: "/ui/assets/dashboard.css", method: .get, headers: [.ifNoneMatch: DashboardAssets.stylesheetETag]) {
                #expect($0.status == .notModified)
            }
            try await client.execute(uri: "/ui/login", method: .get) { response in
                #expect(response.status == .ok)
                #expect(Self.text(response).contains("href=\"\(DashboardAssets.stylesheetPath)\""))
                #expect(!Self.text(response).contains("<script"))
            }
        }
    }
}
