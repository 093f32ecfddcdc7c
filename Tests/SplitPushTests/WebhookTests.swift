import Foundation
import Testing

@testable import SplitPush

@Suite("Webhook signatures")
struct SignatureTests {
    /// A fresh `whsec_` secret for a test.
    static func newSecret() -> String { "whsec_" + Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString() }

    @Test("matches the Standard Webhooks reference vector")
    func referenceVector() throws {
        let signature = try WebhookSignature.sign(
            id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330,
            body: Data("{\"test\": 2432232314}".utf8), secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        #expect(signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    }

    @Test("verification rejects a changed body, id, secret or a stale timestamp")
    func verification() throws {
        let secret = Self.newSecret()
        let body = Data("{\"a\":1}".utf8)
        let now = Date()
        let timestamp = Int(now.timeIntervalSince1970)
        let header = try WebhookSignature.sign(id: "msg_1", timestamp: timestamp, body: body, secret: secret)
        #expect(WebhookSignature.verify(header: header, id: "msg_1", timestamp: timestamp, body: body, secret: secret, now: now))
        #expect(!WebhookSignature.verify(header: header, id: "msg_2", timestamp: timestamp, body: body, secret: secret, now: now))
        #expect(!WebhookSignature.verify(header: header, id: "msg_1", timestamp: timestamp, body: Data("{\"a\":2}".utf8), secret: secret, now: now))
        #expect(!WebhookSignature.verify(header: header, id: "msg_1", timestamp: timestamp, body: body, secret: Self.newSecret(), now: now))
        #expect(
            !WebhookSignature.verify(
                header: header, id: "msg_1", timestamp: timestamp, body: body, secret: secret,
                now: now.addingTimeInterval(3600)))
        #expect(throws: WebhookError.invalidSecret) { try WebhookSignature.sign(id: "m", timestamp: 0, body: body, secret: "whsec_!!!") }
    }
}

@Suite("SSRF guard")
struct TargetPolicyTests {
    @Test(
        "by default only https to public addresses",
        arguments: [
            ("https://93.184.216.34/hook", true),
            ("http://93.184.216.34/hook", false),
            ("https://127.0.0.1/hook", false),
            ("https://10.1.2.3/hook", false),
            ("https://172.20.0.1/hook", false),
            ("https://192.168.1.1/hook", false),
            ("https://169.254.169.254/latest/meta-data", false),
            ("https://100.64.0.1/", false),
            ("https://[::1]/hook", false),
            ("https://[fd00::1]/hook", false),
            ("https://[2606:4700::1111]/hook", true),
            ("https://localhost/hook", false),
            // Other spellings of loopback, private and metadata addresses.
            ("https://2130706433/hook", false),
            ("https://0x7f000001/hook", false),
            ("https://0177.0.0.1/hook", false),
            ("https://127.1/hook", false),
            ("https://0.0.0.0/hook", false),
            ("https://[::]/hook", false),
            ("https://[::ffff:127.0.0.1]/hook", false),
            ("https://[::ffff:169.254.169.254]/hook", false),
            ("https://[0:0:0:0:0:ffff:a00:1]/hook", false),
            ("https://LOCALHOST./hook", false),
            ("https://[fe80::1]/hook", false),
            ("https://224.0.0.1/hook", false),
            ("ftp://93.184.216.34/x", false),
            ("https://user:pw@93.184.216.34/x", false),
            ("not a url", false),
        ])
    func defaults(url: String, allowed: Bool) throws {
        let policy = try TargetPolicy()
        if allowed {
            #expect(throws: Never.self) { try policy.vet(url) }
        } else {
            #expect(throws: WebhookError.self) { try policy.vet(url) }
        }
    }

    @Test("the allow-list exempts hosts and CIDR ranges, and pins the resolved address")
    func allowList() throws {
        let policy = try TargetPolicy(allowList: ["127.0.0.1", "10.0.0.0/8", "receiver.test", "::1"])
        let loopback = try policy.vet("http://127.0.0.1:8080/hook")
        #expect(loopback.address == "127.0.0.1" && loopback.port == 8080 && loopback.host == "127.0.0.1")
        #expect(throws: Never.self) { try policy.vet("http://10.9.8.7/hook") }
        #expect(throws: Never.self) { try policy.vet("http://[::1]:9/hook") }
        #expect(throws: WebhookError.self) { try policy.vet("http://192.168.0.1/hook") }
        #expect(throws: WebhookError.invalidAllowListEntry("10.0.0.0/33")) { try TargetPolicy(allowList: ["10.0.0.0/33"]) }
        let named = try TargetPolicy(allowList: ["localhost"]).vet("https://localhost:4443/x")
        #expect(["127.0.0.1", "::1"].contains(named.address) && named.port == 4443)
    }

    @Test("CIDR arithmetic")
    func ranges() {
        #expect(IPRange("10.0.0.0/8")!.contains(IPAddress("10.255.0.1")!))
        #expect(!IPRange("10.0.0.0/8")!.contains(IPAddress("11.0.0.1")!))
        #expect(IPRange("172.16.0.0/12")!.contains(IPAddress("172.31.255.255")!))
        #expect(!IPRange("172.16.0.0/12")!.contains(IPAddress("172.32.0.0")!))
        #expect(IPRange("fe80::/10")!.contains(IPAddress("fe80::1")!))
        #expect(!IPRange("10.0.0.0/8")!.contains(IPAddress("::ffff:b00:1")!))
        #expect(IPAddress("8.8.8.8")!.isPublic && !IPAddress("127.0.0.2")!.isPublic)
        #expect(IPRange("nonsense") == nil && IPRange("10.0.0.0/33") == nil)
    }
}

@Suite("Retry schedule")
struct RetryScheduleTests {
    @Test("default schedule: 5 s … 6 h with jitter, then dead; Retry-After honoured")
    func schedule() {
        let now = Date()
        let schedule = RetrySchedule.standard
        for (attempt, base) in [5.0, 30, 120, 600, 3600, 21_600].enumerated() {
            let next = schedule.nextAttempt(after: attempt + 1, now: now)!.timeIntervalSince(now)
            #expect(next >= base * 0.8 && next <= base * 1.2)
        }
        #expect(schedule.nextAttempt(after: 7, now: now) == nil)
        #expect(schedule.nextAttempt(after: 1, now: now, retryAfter: 90)!.timeIntervalSince(now) == 90)
        #expect(parseRetryAfter("120") == 120)
        let httpDate = parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now: Date(timeIntervalSince1970: 1_445_412_420))
        #expect(httpDate == 60)
    }
}
