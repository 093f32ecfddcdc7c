import Foundation
import SplitIntegrationSupport
import SplitTestSupport
import Testing

/// The dashboard in a real browser: Debian's Chromium, headless, driven over the DevTools protocol
/// by `ops/dashboard-browser`, against the real splitd on PostgreSQL with a small fleet like the
/// demo's (two models, an edge server, devices streaming telemetry, a webhook receiver that
/// accepts and one that fails). The test asserts what an operator sees.
@Suite("Dashboard in Chromium", .serialized)
struct DashboardBrowserTests {
    @Test("refused signed out; signed in by the form: every device listed, timeline points, plan drawn, webhook counts; refused after logout")
    func operatorSeesTheFleet() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let receiver = try await WebhookReceiver()
        let failing = try await WebhookReceiver()
        await failing.respond { _, _ in WebhookReceiver.Reply(status: 500) }
        let daemon = try await Daemon(database: database)

        // The fleet: like ops/demo's, smaller. Devices alternate push modes; one receiver fails.
        let devices = ["jetson-resnet18-0", "phone-mobilenet_v2-1", "jetson-resnet18-2", "phone-mobilenet_v2-3"]
        _ = try await Fleet.setUp(daemon, model: "mobilenet_v2", device: devices[1], callback: receiver.url("/hook"), extra: ["push": "split"])
        var tokens: [String: String] = [:]
        for (index, device) in devices.enumerated() where index != 1 {
            let model = index % 2 == 0 ? "resnet18" : "mobilenet_v2"
            if index == 0 {
                let (modelStatus, _) = try await daemon.request("POST", "/v1/models", body: try Fleet.modelJSON("resnet18"))
                #expect(modelStatus == 201)
            }
            tokens[device] = try await Fleet.register(
                daemon, device: device, model: model, callback: index == 3 ? failing.url("/hook") : receiver.url("/hook"),
                extra: ["push": index % 2 == 0 ? "table" : "split"]
            ).token
        }
        // Telemetry over the last minutes, so the timeline has points to draw (and a plan change).
        let now = Date()
        for (index, device) in devices.enumerated() where tokens[device] != nil {
            let samples = (0..<40).map { step in
                Fleet.telemetry(device, uplink: (step < 20 ? 2e8 : 5e6) * (1 + Double(index) / 10), at: now.addingTimeInterval(Double(step - 40) * 3))
            }
            let (status, _) = try await daemon.json("POST", "/v1/telemetry", token: tokens[device], ["samples": samples])
            #expect(status == 202)
        }
        // Every device planned, the failing receiver tried at least once.
        #expect(
            await eventually(timeoutSeconds: 60) {
                for device in devices {
                    guard let (status, _) = try? await daemon.request("GET", "/v1/devices/\(device)/plan"), status == 200 else { return false }
                }
                let failed = await failing.received(), delivered = await receiver.received()
                return !failed.isEmpty && !delivered.isEmpty
            }, "every device planned and pushed")

        let output: String
        do {
            output = try Self.runBrowser(url: "http://127.0.0.1:\(daemon.port)", token: Daemon.adminToken, device: devices[0])
        } catch {
            await daemon.kill9()
            throw error
        }
        let seen = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")

        // Signed out: the login form with 401, and none of the fleet.
        let anonymous = try #require(seen["anonymous"] as? [String: Any])
        #expect(anonymous["status"] as? Int == 401)
        #expect(anonymous["login_form"] as? Bool == true && anonymous["device_table"] as? Bool == false)
        let anonymousText = anonymous["text"] as? String ?? ""
        for device in devices { #expect(!anonymousText.contains(device), "the login page shows \(device)") }

        // Signed in: the table lists the fleet, styled, with no script, and the cookie is HttpOnly.
        let fleet = try #require(seen["fleet"] as? [String: Any])
        #expect(Set(fleet["devices"] as? [String] ?? []) == Set(devices))
        #expect(Set(fleet["models"] as? [String] ?? []) == ["resnet18", "mobilenet_v2"])
        #expect((fleet["cards"] as? [String: String])?["active devices"] == "4")
        #expect(fleet["stylesheet_applied"] as? Bool == true)
        #expect(fleet["scripts"] as? Int == 0)
        #expect(fleet["cookie_visible_to_scripts"] as? Bool == false)

        // The timeline: a chart of points (40 samples → up to 40 points per line), plans, pushes.
        let device = try #require(seen["device"] as? [String: Any])
        #expect((device["heading"] as? String ?? "").contains(devices[0]))
        #expect(device["charts"] as? Int == 2)
        #expect((device["visible_points"] as? Int ?? 0) >= 3 * 20, "points drawn: \(device["visible_points"] ?? "none")")
        #expect((device["markers"] as? Int ?? 0) >= 1, "plans marked")
        #expect((device["plans"] as? Int ?? 0) >= 1)
        #expect((device["deliveries"] as? [String] ?? []).contains { $0.contains("delivered") || $0.contains("pending") })
        #expect((device["refused"] as? String ?? "").isEmpty == false)

        // The plan's picture: nodes, a cut layer and a transfer edge, and its numbers.
        let plan = try #require(seen["plan"] as? [String: Any])
        #expect(plan["svg"] as? Bool == true)
        #expect((plan["nodes"] as? Int ?? 0) > 5)
        #expect((plan["cut_nodes"] as? Int ?? 0) >= 1 && (plan["transfers"] as? Int ?? 0) >= 1)
        #expect(plan["breakdown_rows"] as? Int == 6)

        // Webhook health: deliveries counted, the failing receiver's host listed.
        let deliveries = try #require(seen["deliveries"] as? [String: Any])
        let counts = deliveries["counts"] as? [String: Int] ?? [:]
        #expect(Set(counts.keys) == ["pending", "delivering", "delivered", "failed", "dead", "superseded"])
        #expect((counts["delivered"] ?? 0) >= 1, "\(counts)")
        #expect((counts["failed"] ?? 0) + (counts["dead"] ?? 0) + (counts["delivering"] ?? 0) + (counts["pending"] ?? 0) >= 1, "\(counts)")

        // Logged out, and a browser that never signed in: refused.
        let afterLogout = try #require(seen["after_logout"] as? [String: Any])
        #expect(afterLogout["status"] as? Int == 401 && afterLogout["device_table"] as? Bool == false)
        let stranger = try #require(seen["stranger"] as? [String: Any])
        #expect(stranger["status"] as? Int == 401)
        #expect(!(stranger["text"] as? String ?? "").contains("delivered"))

        #expect(await daemon.stop() == 0)
        await receiver.stop()
        await failing.stop()
    }

    /// Runs `ops/dashboard-browser` and returns its JSON output; throws with its error output when it fails.
    static func runBrowser(url: String, token: String, device: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", packageRoot.appendingPathComponent("ops/dashboard-browser").path, "--url", url, "--token", token, "--device", device,
        ]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw HarnessError("ops/dashboard-browser failed (\(process.terminationStatus)); Chromium comes from ops/install-deps:\n\(errorText)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}
