import Foundation
import SplitIntegrationSupport
import Testing

@testable import SplitPush

@Suite("libcurl webhook client")
struct WebhookClientTests {
    static func request(_ receiver: WebhookReceiver, path: String = "/hook", id: String = "msg_x", body: String = "{}") throws -> WebhookRequest {
        let policy = try TargetPolicy(allowList: ["127.0.0.1"])
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        let timestamp = Int(Date().timeIntervalSince1970)
        let data = Data(body.utf8)
        return WebhookRequest(
            target: try policy.vet(receiver.url(path)), body: data,
            headers: [
                "content-type": "application/json", "webhook-id": id, "webhook-timestamp": "\(timestamp)",
                "webhook-signature": try WebhookSignature.sign(id: id, timestamp: timestamp, body: data, secret: secret),
            ])
    }

    @Test("delivers to a real receiver with verifiable headers; status codes, Retry-After and redirects reported as they are")
    func statuses() async throws {
        let receiver = try await WebhookReceiver()
        await receiver.respond { _, request in
            switch request.path {
            case "/gone": return .init(status: 410)
            case "/busy": return .init(status: 503, headers: ["Retry-After": "42"])
            case "/moved": return .init(status: 302, headers: ["Location": "/hook"])
            default: return .init(status: 204)
            }
        }
        let client = WebhookClient(timeoutSeconds: 5)
        let outcomes = await client.send([
            try Self.request(receiver, id: "msg_a", body: "{\"n\":1}"), try Self.request(receiver, path: "/gone"),
            try Self.request(receiver, path: "/busy"), try Self.request(receiver, path: "/moved"),
        ])
        #expect(outcomes.map(\.statusCode) == [204, 410, 503, 302])
        #expect(outcomes.map(\.delivered) == [true, false, false, false])
        #expect(outcomes[2].retryAfter == 42)
        let received = await receiver.received()
        #expect(received.count == 4, "the redirect was not followed")
        let first = try #require(received.first { $0.path == "/hook" })
        #expect(first.webhookID == "msg_a")
        #expect(first.headers["content-type"] == "application/json")
        #expect(
            WebhookSignature.verify(
                header: first.signature!, id: "msg_a", timestamp: first.timestamp!, body: first.body,
                secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
        await receiver.stop()
    }

    @Test("a receiver that is down or too slow is a transport error, not a success")
    func failures() async throws {
        let receiver = try await WebhookReceiver()
        await receiver.respond { _, _ in .init(status: 200, delaySeconds: 3) }
        let port = receiver.port
        let client = WebhookClient(timeoutSeconds: 1)
        let slow = await client.send([try Self.request(receiver)])
        #expect(slow[0].statusCode == nil && slow[0].error != nil && !slow[0].delivered)
        await receiver.stop()
        let policy = try TargetPolicy(allowList: ["127.0.0.1"])
        let down = await client.send([WebhookRequest(target: try policy.vet("http://127.0.0.1:\(port)/hook"), body: Data(), headers: [:])])
        #expect(down[0].statusCode == nil && down[0].error != nil)
    }

    @Test("hundreds of concurrent deliveries all arrive")
    func concurrency() async throws {
        let receiver = try await WebhookReceiver()
        let client = WebhookClient(timeoutSeconds: 10)
        let requests = try (0..<400).map { try Self.request(receiver, id: "msg_\($0)") }
        let outcomes = await client.send(requests)
        #expect(outcomes.allSatisfy { $0.delivered })
        let ids = Set(await receiver.received().compactMap(\.webhookID))
        #expect(ids.count == 400)
        await receiver.stop()
    }
}
