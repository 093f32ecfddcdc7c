import Foundation
import SplitCore
import SplitIntegrationSupport
import Testing

@testable import SplitStore

/// The planning queue (migration 0007): which requests a claim sees, in which order, from where,
/// and what a claim returns about a device's history.
@Suite("Planning queue")
struct PlanningQueueTests {
    static func sample(_ device: String, uplink: Double = 1e7, at date: Date = Date()) -> TelemetrySample {
        TelemetrySample(deviceID: device, measuredAt: date, uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: 2e7, rttSeconds: 0.01)
    }

    static func claim(_ connection: PostgresConnection, limit: Int = 100, after: QueuePosition? = nil) throws -> [PlanningCandidate] {
        try connection.transaction { try PlanRepository.claimCandidates(limit: limit, after: after, connection: connection) }
    }

    static func requested(_ connection: PostgresConnection, _ device: String) throws -> String? {
        try connection.query("SELECT requested_reason FROM planning_state WHERE device_id = $1", [device]).string(0, "requested_reason")
    }

    @Test("a silent device waits outside the queue until its first estimate; requests of one event are claimed in device order")
    func linkKnownAndOrder() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        let devices = try Fixtures.fleet(connection, devices: 6)
        try TelemetryRepository.ingest(devices.prefix(4).map { Self.sample($0) }, connection: connection)
        let known = try connection.query("SELECT device_id FROM planning_state WHERE link_known ORDER BY device_id")
        #expect((0..<known.rowCount).map { known.string($0, "device_id") } == devices.prefix(4).sorted())
        // One event (one statement) requests them all at one time: the queue takes them by device id.
        try connection.query("UPDATE planning_state SET requested_reason = 'model change', requested_at = now()")
        let first = try Self.claim(connection, limit: 2)
        #expect(first.map(\.deviceID) == Array(devices.prefix(4).sorted().prefix(2)))
        #expect(first.allSatisfy { $0.requestedReason == .modelChange && !$0.evaluatedBefore && $0.current == nil })
        // Behind the last claim's position: the next two, and then nothing.
        let position = try #require(first.last?.claim.position)
        let second = try Self.claim(connection, limit: 2, after: position)
        #expect(second.map(\.deviceID) == Array(devices.prefix(4).sorted().suffix(2)))
        #expect(try Self.claim(connection, after: second.last?.claim.position).isEmpty)
        // A request put back behind a position (a failure keeps its time) is claimed from the head.
        try connection.query(
            """
            UPDATE planning_state SET requested_reason = 'requested', requested_at = $2::timestamptz WHERE device_id = $1
            """, [first[0].deviceID, position.requestedAt])
        #expect(try Self.claim(connection, after: second.last?.claim.position).isEmpty)
        #expect(try Self.claim(connection).map(\.deviceID) == [first[0].deviceID])
        // The silent devices kept their request; their first estimate brings them in.
        #expect(try Self.requested(connection, devices[5]) != nil)
        try TelemetryRepository.ingest([Self.sample(devices[5])], connection: connection)
        #expect(try Self.claim(connection).map(\.deviceID) == [devices[5]])
        // A planning row added after its device's estimate starts known (as rows restored from a
        // backup, or written by an older version, may be).
        try connection.query("DELETE FROM planning_state WHERE device_id = $1", [devices[0]])
        try connection.query(
            "INSERT INTO planning_state (device_id, requested_reason, requested_at) VALUES ($1, 'requested', now())",
            [devices[0]])
        #expect(try Self.claim(connection).map(\.deviceID) == [devices[0]])
        // Every request has a time.
        #expect(throws: PostgresError.self) {
            try connection.query(
                "UPDATE planning_state SET requested_reason = 'requested', requested_at = NULL WHERE device_id = $1",
                [devices[1]])
        }
    }

    @Test("inactive devices are never planned: deactivation drops the request, and a claim drops one that raced it")
    func inactive() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        let devices = try Fixtures.fleet(connection, devices: 3)
        try TelemetryRepository.ingest(devices.map { Self.sample($0) }, connection: connection)
        #expect(try DeviceRepository.deactivate(id: devices[0], connection: connection))
        #expect(try Self.requested(connection, devices[0]) == nil)
        // A request that reached an inactive device anyway (written behind the API's back).
        try connection.query("UPDATE devices SET active = false WHERE id = $1", [devices[1]])
        let claimed = try Self.claim(connection)
        #expect(claimed.map(\.deviceID) == [devices[2]])
        #expect(try Self.requested(connection, devices[1]) == nil, "its request was dropped, not left at the queue's head")
    }

    @Test("a claim says whether the device was evaluated before and returns its plan in force; a 'first' plan never hides an older one")
    func historyOfAClaim() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        let device = try Fixtures.fleet(connection, devices: 1)[0]
        try TelemetryRepository.ingest([Self.sample(device)], connection: connection)
        let first = try #require(try Self.claim(connection).first)
        #expect(!first.evaluatedBefore && first.current == nil)
        var plan = Fixtures.plan(for: device)
        plan.firstPlan = true
        let ids = try connection.transaction { try PlanRepository.store([plan], connection: connection) }
        try PlanRequestRepository.request(deviceID: device, reason: .requested, connection: connection)
        let again = try #require(try Self.claim(connection).first)
        #expect(again.evaluatedBefore && again.current?.id == ids[0] && again.current?.splitFingerprint == plan.splitFingerprint)
        // Were a caller wrong about a first plan, the plans in force stay one per device.
        #expect(throws: PostgresError.self) { try connection.transaction { try PlanRepository.store([plan], connection: connection) } }
        plan.firstPlan = false
        let next = try connection.transaction { try PlanRepository.store([plan], connection: connection) }
        let inForce = try connection.query("SELECT id FROM plans WHERE device_id = $1 AND superseded_at IS NULL", [device])
        #expect(inForce.rowCount == 1 && inForce.int(0, "id").map(Int64.init) == next[0])
    }
}
