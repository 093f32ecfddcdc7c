import Foundation
import SplitCore
import SplitIntegrationSupport
import Testing

@testable import SplitStore

/// The dashboard's SQL on PostgreSQL: the overview's aggregates, the fleet table's filters and
/// paging, the link series, deliveries and refused moves (with and without their table).
@Suite("Dashboard repository")
struct DashboardRepositoryTests {
    /// Four devices: two planned (one's push failed), one infeasible, one silent; telemetry for one.
    static func fleet(_ connection: PostgresConnection) throws -> [String] {
        var devices = try Fixtures.fleet(connection, devices: 3)
        _ = try DeviceRepository.register(
            id: Fixtures.hostileName,
            settings: DeviceSettings(modelName: "tiny", edgeServerID: "edge-1", batchSize: 32, computeFLOPs: 1e11),
            secrets: Fixtures.secrets, connection: connection)
        devices.append(Fixtures.hostileName)
        try connection.transaction {
            _ = try PlanRepository.store([Fixtures.plan(for: devices[0]), Fixtures.plan(for: devices[1])], connection: connection)
        }
        try connection.query(
            """
            UPDATE webhook_deliveries SET status = 'failed', attempts = 2, last_status_code = 502, last_error = 'bad gateway <html>'
            WHERE device_id = $1
            """, [devices[1]])
        try connection.transaction { try PlanRepository.recordInfeasible([(devices[2], 5_000_000_000)], connection: connection) }
        let start = Date().addingTimeInterval(-100)
        _ = try TelemetryRepository.ingest(
            (0..<100).map { second in
                TelemetrySample(
                    deviceID: devices[0], measuredAt: start.addingTimeInterval(Double(second)), uplinkBitsPerSecond: 1e6 * Double(second + 1),
                    downlinkBitsPerSecond: 2e6, rttSeconds: 0.02)
            }, connection: connection)
        return devices
    }

    @Test("overview: devices by model, the split in force, and the devices in each state, by aggregate")
    func overview() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        _ = try Self.fleet(connection)
        let overview = try DashboardRepository.overview(connection: connection)
        #expect(overview.activeDevices == 4 && overview.plannedDevices == 2)
        #expect(overview.infeasibleDevices == 1 && overview.failingDevices == 0 && overview.webhookFailingDevices == 1)
        #expect(overview.models == [FleetOverview.ModelCount(model: "tiny", devices: 4)])
        #expect(overview.splits.count == 1 && overview.splits[0].devices == 2 && overview.splits[0].cutLayers == ["a"])
        #expect(abs(overview.splits[0].meanPredictedDelaySeconds - 1.5) < 1e-9)
    }

    @Test("fleet table: one statement per page in id order, each row with its plan, link, state and push; filters and keyset paging")
    func devices() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        let ids = try Self.fleet(connection)
        let all = try DashboardRepository.devices(DeviceFilter(), connection: connection)
        #expect(all.map(\.id) == ids.sorted())
        let first = try #require(all.first { $0.id == ids[0] })
        #expect(first.planID != nil && first.cutLayers == ["a"] && first.states == [.ok])
        #expect(first.uplinkBitsPerSecond != nil && first.linkSamples == 100)
        let failing = try #require(all.first { $0.id == ids[1] })
        #expect(failing.deliveryStatus == "failed" && failing.deliveryError == "bad gateway <html>" && failing.states == [.webhook])
        let infeasible = try #require(all.first { $0.id == ids[2] })
        #expect(infeasible.infeasibleRequiredBytes == 5_000_000_000 && infeasible.states == [.infeasible, .unplanned])
        let hostile = try #require(all.first { $0.id == Fixtures.hostileName })
        #expect(hostile.states == [.unplanned] && hostile.callbackURL == nil)
        func listed(_ filter: DeviceFilter) throws -> [String] { try DashboardRepository.devices(filter, connection: connection).map(\.id) }
        #expect(try listed(DeviceFilter(state: .infeasible)) == [ids[2]])
        #expect(try listed(DeviceFilter(state: .webhook)) == [ids[1]])
        #expect(try listed(DeviceFilter(state: .ok)) == [ids[0]])
        #expect(try listed(DeviceFilter(state: .unplanned)) == [ids[2], Fixtures.hostileName].sorted())
        #expect(try listed(DeviceFilter(state: .failing)) == [])
        #expect(try listed(DeviceFilter(idPrefix: "dev-tiny-")) == Array(ids.prefix(3)))
        #expect(try listed(DeviceFilter(idPrefix: "x'); DROP")) == [Fixtures.hostileName])
        #expect(try listed(DeviceFilter(model: "other")) == [])
        #expect(try listed(DeviceFilter(limit: 2)) == Array(ids.sorted().prefix(2)))
        #expect(try listed(DeviceFilter(after: ids.sorted()[1], limit: 2)) == Array(ids.sorted()[2...]))
        #expect(try listed(DeviceFilter(id: ids[1])) == [ids[1]])
        // Deactivated devices leave the table but their own page still finds them.
        _ = try DeviceRepository.deactivate(id: ids[0], connection: connection)
        #expect(try !listed(DeviceFilter()).contains(ids[0]))
        #expect(try DashboardRepository.devices(DeviceFilter(id: ids[0]), connection: connection).first?.active == false)
    }

    @Test("link series: at most the points asked for, each the mean of its interval, every sample counted once")
    func linkSeries() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        let ids = try Self.fleet(connection)
        let points = try DashboardRepository.linkSeries(
            deviceID: ids[0], since: Date().addingTimeInterval(-3600), maximumPoints: 10, connection: connection)
        #expect(points.count == 10)
        #expect(points.map(\.samples).reduce(0, +) == 100)
        #expect(points.map(\.measuredAt) == points.map(\.measuredAt).sorted())
        #expect(points.first!.uplinkBitsPerSecond < points.last!.uplinkBitsPerSecond)
        let mean = points.map { $0.uplinkBitsPerSecond * Double($0.samples) }.reduce(0, +) / 100
        #expect(abs(mean - 50.5e6) < 1)
        let epoch = Date(timeIntervalSince1970: 0)
        #expect(try DashboardRepository.linkSeries(deviceID: ids[1], since: epoch, maximumPoints: 10, connection: connection).isEmpty)
        let recent = try DashboardRepository.linkSeries(
            deviceID: ids[0], since: Date().addingTimeInterval(-50.5), maximumPoints: 500, connection: connection)
        #expect(recent.count == 50 && recent.allSatisfy { $0.samples == 1 })
    }

    @Test("deliveries and their health: a device's pushes, counts by status, the failing host and its error")
    func deliveries() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        let ids = try Self.fleet(connection)
        let pushes = try DashboardRepository.deliveries(deviceID: ids[1], limit: 10, connection: connection)
        #expect(pushes.count == 1 && pushes[0].status == "failed" && pushes[0].planID != nil && pushes[0].lastStatusCode == 502)
        let health = try DashboardRepository.deliveryHealth(failureLimit: 10, connection: connection)
        #expect(health.countsByStatus == ["pending": 1, "failed": 1])
        #expect(health.oldestUnfinishedAt != nil && health.due == 2)
        #expect(health.recentFailures.map(\.deviceID) == [ids[1]])
        #expect(health.failingHosts == [DeliveryHealth.FailingHost(host: "127.0.0.1", deliveries: 1, devices: 1, lastError: "bad gateway <html>")])
    }

    @Test("refused moves are read by device, newest first, with every number the planner recorded")
    func refusedMoves() throws {
        let database = try TestDatabase.make()
        defer { database.drop() }
        let connection = try database.connect()
        let ids = try Self.fleet(connection)
        #expect(try DashboardRepository.refusedMoves(deviceID: ids[0], limit: 10, connection: connection).isEmpty)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        func move(_ device: String, _ age: Double, _ reason: String, layers: [String]) -> RefusedMove {
            RefusedMove(
                deviceID: device, recordedAt: now.addingTimeInterval(-age), reason: reason, rule: "payback", currentSeconds: 1.5,
                candidateSeconds: 1.496, migrationSeconds: 12.5, accruedSavingSeconds: 0.4, requiredSavingSeconds: 12.5,
                revisitAt: age == 0 ? nil : now.addingTimeInterval(3000), candidateCutLayers: layers)
        }
        let older = move(ids[0], 60, "not yet paid for", layers: ["a", "b\"c ü"])
        let newer = move(ids[0], 0, "below minimum gain", layers: [])
        try PlanRepository.recordRefusals([older, newer, move(ids[1], 0, "other device", layers: ["x"])], connection: connection)
        let moves = try DashboardRepository.refusedMoves(deviceID: ids[0], limit: 10, connection: connection)
        #expect(moves == [newer, older])
        #expect(abs(moves[1].savingSecondsPerIteration - 0.004) < 1e-12)
        #expect(try connection.query("SELECT count(*) AS n FROM refused_moves WHERE saving_seconds_per_iteration > 0").int(0, "n") == 3)
        #expect(try DashboardRepository.refusedMoves(deviceID: ids[0], limit: 1, connection: connection) == [newer])
        // Retention: maintenance deletes those recorded before the cutoff, oldest first, a batch at a time.
        #expect(try PlanRepository.trimRefusals(before: now.addingTimeInterval(-30), limit: 10, connection: connection) == 1)
        #expect(try DashboardRepository.refusedMoves(deviceID: ids[0], limit: 10, connection: connection) == [newer])
        #expect(try PlanRepository.trimRefusals(before: now.addingTimeInterval(1), limit: 1, connection: connection) == 1)
        #expect(try connection.query("SELECT count(*) AS n FROM refused_moves").int(0, "n") == 1)
    }
}
