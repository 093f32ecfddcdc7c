import Foundation
import Testing

@testable import SplitServer

/// Settings checked against each other and against sane bounds at start, each refusal naming
/// every variable involved.
@Suite("Configuration combinations and bounds")
struct ConfigurationChecksTests {
    static func refusal(_ environment: [String: String]) -> String? {
        do {
            _ = try ServerConfiguration.load(environment: environment)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test("the defaults, and the test harness's settings, pass")
    func defaults() throws {
        _ = try ServerConfiguration.load(environment: [:])
        _ = try ServerConfiguration.load(environment: ["SPLITD_WEBHOOK_TIMEOUT": "5s", "SPLITD_DELIVERY_LEASE": "7s"])
    }

    @Test("a lease shorter than the webhook timeout plus 2 s is refused, naming both (it would send a delivery again while in flight)")
    func leaseAgainstTimeout() throws {
        let message = try #require(Self.refusal(["SPLITD_WEBHOOK_TIMEOUT": "30s", "SPLITD_DELIVERY_LEASE": "10s"]))
        #expect(message.contains("SPLITD_DELIVERY_LEASE (10s)") && message.contains("SPLITD_WEBHOOK_TIMEOUT (30s)"), "\(message)")
        #expect(Self.refusal(["SPLITD_WEBHOOK_TIMEOUT": "10s", "SPLITD_DELIVERY_LEASE": "11s"]) != nil)
        #expect(Self.refusal(["SPLITD_WEBHOOK_TIMEOUT": "10s", "SPLITD_DELIVERY_LEASE": "12s"]) == nil)
        #expect(Self.refusal(["SPLITD_DELIVERY_LEASE": "5s"])?.contains("SPLITD_WEBHOOK_TIMEOUT (10s)") == true, "the default timeout counts")
    }

    @Test(
        "absurd values are refused by bounds, naming the variable",
        arguments: [
            (["SPLITD_WEBHOOK_TIMEOUT": "7d", "SPLITD_DELIVERY_LEASE": "1s"], "SPLITD_WEBHOOK_TIMEOUT"),
            (["SPLITD_WEBHOOK_TIMEOUT": "10ms"], "SPLITD_WEBHOOK_TIMEOUT"),
            (["SPLITD_DELIVERY_LEASE": "2h"], "SPLITD_DELIVERY_LEASE"),
            (["SPLITD_DELIVERY_BATCH": "1000"], "SPLITD_DELIVERY_BATCH"),
            (["SPLITD_TOKEN_CACHE_TTL": "7d"], "SPLITD_TOKEN_CACHE_TTL"),
            (["SPLITD_WEBHOOK_RETRY": Array(repeating: "1s", count: 51).joined(separator: ",")], "SPLITD_WEBHOOK_RETRY"),
        ])
    func bounds(environment: [String: String], variable: String) throws {
        let message = try #require(Self.refusal(environment))
        #expect(message.hasPrefix(variable), "\(message)")
    }

    @Test("a pool smaller than the workers plus two is refused, naming all three")
    func poolAgainstWorkers() throws {
        let message = try #require(Self.refusal(["SPLITD_DB_POOL": "5", "SPLITD_PLAN_WORKERS": "2", "SPLITD_DELIVERY_WORKERS": "2"]))
        for variable in ["SPLITD_DB_POOL (5)", "SPLITD_PLAN_WORKERS (2)", "SPLITD_DELIVERY_WORKERS (2)"] {
            #expect(message.contains(variable), "\(message)")
        }
        #expect(Self.refusal(["SPLITD_DB_POOL": "6"]) == nil)
    }
}
