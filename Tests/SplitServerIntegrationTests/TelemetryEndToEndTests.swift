import Foundation
import SplitCore
import SplitIntegrationSupport
import SplitSupport
import SplitTestSupport
import Testing

@testable import SplitStore

/// Devices reporting their own telemetry to the real binary on PostgreSQL: concurrent devices
/// are group-committed with nothing lost and estimates as if ingested one by one; a revoked
/// token stops at once on the replica that revoked it and, for telemetry, on every replica.
@Suite("Telemetry from devices, end to end")
struct TelemetryEndToEndTests {
    @Test(
        """
        40 devices posting concurrently with their own tokens: every 202 is stored, estimates equal sequential folding, an unknown device's request \
        fails alone
        """)
    func concurrentDevices() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let daemon = try await Daemon(database: database)
        var tokens: [String: String] = [:]
        tokens["dev-0"] = try await Fleet.setUp(daemon, device: "dev-0", callback: nil).token
        for index in 1..<40 { tokens["dev-\(index)"] = try await Fleet.register(daemon, device: "dev-\(index)", callback: nil).token }
        let connection = try database.connect()
        defer { connection.close() }
        let initial = Dictionary(uniqueKeysWithValues: try TelemetryRepository.estimates(connection: connection).map { ($0.deviceID, $0) })
        let start = Date().addingTimeInterval(1)
        // Each device sends 5 samples one after the other; the devices all at once.
        let sent = try await withThrowingTaskGroup(of: (String, [TelemetrySample], [Int]).self) { group in
            for index in 0..<40 {
                let device = "dev-\(index)", token = tokens[device]
                group.addTask {
                    var samples: [TelemetrySample] = [], statuses: [Int] = []
                    for step in 0..<5 {
                        let at = start.addingTimeInterval(Double(step) * 7 + Double(index) * 0.001)
                        let uplink = 2e8 * (1 + 0.3 * Double((index + step) % 4))
                        let body = ["samples": [Fleet.telemetry(device, uplink: uplink, at: at)]]
                        statuses.append(try await daemon.json("POST", "/v1/telemetry", token: token, body).0)
                        samples.append(
                            TelemetrySample(
                                deviceID: device,
                                measuredAt: Timestamp.parse(
                                    Fleet.telemetry(
                                        device, uplink: uplink,
                                        at: at)["measured_at"] as! String)!,
                                uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: uplink * 2, rttSeconds: 0.01))
                    }
                    return (device, samples, statuses)
                }
            }
            group.addTask {
                let ghost = ["samples": [Fleet.telemetry("dev-1", uplink: 1e6), Fleet.telemetry("ghost", uplink: 1e6)]]
                let (status, body) = try await daemon.json("POST", "/v1/telemetry", ghost)
                #expect(body["field"] as? String == "samples[1].device")
                return ("ghost", [], [status])
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = ($1.1, $1.2) }
        }
        #expect(sent["ghost"]?.1 == [422])
        #expect((0..<40).allSatisfy { sent["dev-\($0)"]?.1 == [202, 202, 202, 202, 202] })
        #expect(
            try connection.query("SELECT count(*) AS n FROM telemetry WHERE device_id <> 'ghost'").int(0, "n") == 40 * 5 + 40,
            "each device's 5 samples and its registration link")
        #expect(
            try connection.query("SELECT count(*) AS n FROM telemetry WHERE uplink_bps = 1e6").int(0, "n") == 0,
            "nothing from the refused request")
        let estimator = LinkEstimator.recommended  // the daemon's default (SPLITD_ESTIMATOR, SPLITD_SMOOTHING)
        for estimate in try TelemetryRepository.estimates(connection: connection) {
            let expected = try #require(sent[estimate.deviceID]?.0).reduce(initial[estimate.deviceID]) { estimator.fold($1, into: $0) }
            let folded = try #require(expected)
            #expect(
                abs(estimate.uplinkBitsPerSecond / folded.uplinkBitsPerSecond - 1) < 1e-9 && estimate.samples == folded.samples,
                "\(estimate.deviceID)")
        }
        #expect(await daemon.stop() == 0)
    }

    @Test(
        """
        a rotated token: refused at once on the replica that rotated it, for telemetry on every replica, and for reads on the others within \
        SPLITD_TOKEN_CACHE_TTL
        """)
    func revocationAcrossReplicas() async throws {
        let database = try TestDatabase.make(migrated: false)
        defer { database.drop() }
        let first = try await Daemon(database: database, instance: "cache-a", extra: ["SPLITD_TOKEN_CACHE_TTL": "2s"])
        let second = try await Daemon(database: database, instance: "cache-b", extra: ["SPLITD_TOKEN_CACHE_TTL": "2s"])
        let old = try await Fleet.setUp(first, device: "dev-0", callback: nil).token
        for daemon in [first, second] { #expect(try await daemon.request("GET", "/v1/devices/dev-0/plans", token: old).0 == 200) }
        let (status, rotated) = try await first.json("POST", "/v1/devices/dev-0/credentials", ["token": true, "token_grace_seconds": 0])
        #expect(status == 200)
        let fresh = try #require(rotated["token"] as? String)
        #expect(try await first.request("GET", "/v1/devices/dev-0/plans", token: old).0 == 401, "at once where it was rotated")
        #expect(
            try await second.json("POST", "/v1/telemetry", token: old, ["samples": [Fleet.telemetry("dev-0", uplink: 1e8)]]).0 == 401,
            "telemetry is checked against the token when it is stored")
        #expect(
            try await eventually(timeoutSeconds: 2 + 5) { try await second.request("GET", "/v1/devices/dev-0/plans", token: old).0 == 401 },
            "within the TTL on the other replica")
        #expect(try await second.json("POST", "/v1/telemetry", token: fresh, ["samples": [Fleet.telemetry("dev-0", uplink: 1e8)]]).0 == 202)
        let connection = try database.connect()
        defer { connection.close() }
        #expect(try connection.query("SELECT count(*) AS n FROM telemetry WHERE uplink_bps = 1e8").int(0, "n") == 1)
        #expect(await first.stop() == 0)
        #expect(await second.stop() == 0)
    }
}
