import Foundation
import SplitCore
import SplitIntegrationSupport
import SplitPush
import SplitTestSupport
import Testing

@testable import SplitServer
@testable import SplitStore

/// A slow or failing receiver holds only its own deliveries, and a receiver that was slow
/// recovers as soon as it answers within the timeout: the real `DeliveryService`, a real
/// PostgreSQL, real HTTP receivers on loopback. Conditions are waited for, never slept on.
@Suite("Delivery fairness", .serialized)
struct DeliveryFairnessTests {
    /// Latency of each delivery a receiver got: its arrival minus when its plan was stored.
    static func latencies(_ receivers: [WebhookReceiver], requestNumber: Int, enqueued: [String: Date]) async -> [Double] {
        var latencies: [Double] = []
        for receiver in receivers {
            let received = await receiver.received()
            guard received.count >= requestNumber, let id = received[requestNumber - 1].webhookID, let stored = enqueued[id] else { continue }
            latencies.append(received[requestNumber - 1].receivedAt.timeIntervalSince(stored))
        }
        return latencies
    }

    @Test(
        "50 receivers that never answer in time beside 50 fast ones on 127.0.0.1: fast p99 within 2 s, before and after the slow are known"
    )
    func slowReceiversOnOneAddress() async throws {
        let timeout = 5.0
        let rig = try DeliveryRig(timeoutSeconds: timeout)
        var slow: [WebhookReceiver] = [], fast: [WebhookReceiver] = []
        for _ in 0..<50 {
            let receiver = try await WebhookReceiver()
            await receiver.respond { _, _ in .init(status: 200, delaySeconds: 30) }
            slow.append(receiver)
            fast.append(try await WebhookReceiver())
        }
        // Two devices behind each slow receiver (one queued behind the other), one behind each fast one.
        let slowDevices = (0..<100).map { "slow-\($0)" }, fastDevices = (0..<50).map { "fast-\($0)" }
        for (index, device) in slowDevices.enumerated() { try rig.register(device, callback: slow[index % 50].url()) }
        for (index, device) in fastDevices.enumerated() { try rig.register(device, callback: fast[index].url()) }
        try rig.storePlans(for: slowDevices)
        rig.start()
        // Phase 1: every slow receiver holds requests in flight, none known to be slow yet.
        #expect(await eventually(timeoutSeconds: 30) { await slow.asyncAllSatisfy { await $0.received().count >= 1 } })
        try rig.storePlans(for: fastDevices)
        #expect(await eventually(timeoutSeconds: 30) { await fast.asyncAllSatisfy { await $0.received().count >= 1 } })
        var latencies = await Self.latencies(fast, requestNumber: 1, enqueued: try rig.enqueuedAt())
        // Phase 2: the slow receivers have timed out twice (one request at a time each now); the
        // fast devices get new plans.
        let origins = slow.map { try! CallbackURL($0.url()).origin }
        #expect(await eventually(timeoutSeconds: 60) { origins.allSatisfy { rig.service.gate.isLimited($0) } }, "every slow receiver is limited")
        try rig.storePlans(for: fastDevices, uplink: 2e7)
        #expect(await eventually(timeoutSeconds: 30) { await fast.asyncAllSatisfy { await $0.received().count >= 2 } })
        latencies += await Self.latencies(fast, requestNumber: 2, enqueued: try rig.enqueuedAt())
        #expect(latencies.count == 100)
        let (p50, p99, maximum) = (latencies.quantile(0.5), latencies.quantile(0.99), latencies.max() ?? .nan)
        FileHandle.standardError.write(
            Data("fairness: 100 fast deliveries beside 50 slow receivers: p50 \(p50) s, p99 \(p99) s, max \(maximum) s\n".utf8))
        #expect(p99 <= 2, "fast p99 \(p99) s (p50 \(p50), max \(maximum))")
        // The slow receivers' deliveries are still theirs: not delivered, not dead, still tried.
        #expect(try rig.delivery(of: "slow-0")?.status != "delivered")
        #expect(await eventually { fastDevices.allSatisfy { (try? rig.delivery(of: $0))??.status == "delivered" } })
        await rig.stop()
        await withTaskGroup(of: Void.self) { group in
            for receiver in slow + fast { group.addTask { await receiver.stop() } }
        }
    }

    @Test("a receiver that timed out until it was limited is delivered to again once it answers within the timeout (3 s of 4 s)")
    func slowOnceRecovers() async throws {
        let rig = try DeliveryRig(timeoutSeconds: 4)
        let receiver = try await WebhookReceiver()
        // The first three requests (one per device) time out; later ones answer in 3 s, inside
        // the 4 s timeout but beyond any shortened budget.
        await receiver.respond { number, _ in .init(status: 200, delaySeconds: number <= 3 ? 6 : 3) }
        let devices = ["dev-0", "dev-1", "dev-2"]
        for device in devices { try rig.register(device, callback: receiver.url()) }
        try rig.storePlans(for: devices)
        rig.start()
        let origin = try CallbackURL(receiver.url()).origin
        #expect(await eventually(timeoutSeconds: 30) { rig.service.gate.isLimited(origin) }, "three timeouts in a row: limited")
        #expect(
            await eventually(timeoutSeconds: 60) { devices.allSatisfy { (try? rig.delivery(of: $0))??.status == "delivered" } },
            "every delivery arrives: \(devices.map { String(describing: try? rig.delivery(of: $0)) })")
        #expect(!rig.service.gate.isLimited(origin), "healthy again after an answer")
        // Limited, it had one request at a time: the fourth request (the first after the
        // timeouts) answered in 3 s before the fifth was sent.
        let arrivals = await receiver.received().map(\.receivedAt)
        #expect(arrivals.count >= 5)
        if arrivals.count >= 5 { #expect(arrivals[4].timeIntervalSince(arrivals[3]) >= 2.9, "\(arrivals)") }
        await rig.stop()
        await receiver.stop()
    }

    @Test("a plan with a NaN delay is never sent: its delivery is dead with the reason, logged and counted; others still flow")
    func unencodablePayload() async throws {
        let rig = try DeliveryRig(timeoutSeconds: 4)
        let receiver = try await WebhookReceiver()
        try rig.register("nan-0", callback: receiver.url())
        try rig.register("ok-0", callback: receiver.url())
        // Stored as an older version could have (0009 refuses non-finite plans from now on).
        #expect(throws: PostgresError.self) { try rig.storePlans(for: ["nan-0"], predictedDelaySeconds: .nan) }
        try rig.connection.execute("ALTER TABLE plans DROP CONSTRAINT plans_finite_numbers")
        try rig.storePlans(for: ["nan-0"], predictedDelaySeconds: .nan)
        try rig.storePlans(for: ["ok-0"])
        let before = ServerMetrics.shared.exposition()
        rig.start()
        #expect(await eventually { (try? rig.delivery(of: "nan-0"))??.status == "dead" })
        let dead = try #require(try rig.delivery(of: "nan-0"))
        #expect(dead.error?.contains("predicted_delay_seconds") == true && dead.error?.contains("cannot be encoded") == true, "\(dead)")
        #expect(dead.attempts == 1, "refused at once, not retried")
        #expect(await eventually { (try? rig.delivery(of: "ok-0"))??.status == "delivered" })
        let received = await receiver.received()
        #expect(received.count == 1 && !received[0].body.isEmpty, "only the valid plan was sent, with a body")
        #expect(Self.counter(ServerMetrics.shared.exposition(), "unencodable") == Self.counter(before, "unencodable") + 1)
        await rig.stop()
        await receiver.stop()
    }

    /// `splitd_webhook_deliveries_total{outcome="…"}` in an exposition.
    static func counter(_ exposition: String, _ outcome: String) -> Int {
        let line = exposition.split(separator: "\n").first { $0.hasPrefix("splitd_webhook_deliveries_total") && $0.contains("\"\(outcome)\"") }
        return line.flatMap { $0.split(separator: " ").last.flatMap { Int($0) } } ?? 0
    }
}

extension Array where Element: Sendable {
    func asyncAllSatisfy(_ predicate: (Element) async -> Bool) async -> Bool {
        for element in self where !(await predicate(element)) { return false }
        return true
    }
}
