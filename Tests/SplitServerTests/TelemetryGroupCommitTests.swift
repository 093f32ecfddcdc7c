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

/// Group commit and the token cache through the router, in process: concurrent devices posting
/// at once are stored together yet answered one by one; a bad request fails alone; a rotated or
/// deactivated token stops at once on the replica that did it, and within the cache's TTL on
/// another (on a test clock), while telemetry is refused everywhere at once.
@Suite("Telemetry group commit and token cache in process")
struct TelemetryGroupCommitTests {
    /// A store whose telemetry transactions wait for the test to open the gate (the first one),
    /// and optionally fail whenever they hold more than one request.
    actor GatedStore {
        let inner: InMemoryAPIStore
        let failGroups: Bool
        private var gate: CheckedContinuation<Void, Never>?
        private var gated = true
        private(set) var calls: [Int] = []

        init(_ inner: InMemoryAPIStore, failGroups: Bool = false) {
            self.inner = inner
            self.failGroups = failGroups
        }

        func ingest(_ batches: [TelemetryBatch]) async throws -> [TelemetryBatchOutcome] {
            calls.append(batches.count)
            if gated {
                gated = false
                await withCheckedContinuation { gate = $0 }
            }
            if failGroups, batches.count > 1 { throw StoreUnavailable() }
            return try await inner.ingest(batches: batches)
        }

        var holding: Bool { gate != nil }

        func open() {
            gate?.resume()
            gate = nil
        }
    }

    /// `APIStore` over the in-memory store with gated telemetry.
    struct GatedAPIStore: APIStore {
        let gated: GatedStore
        var inner: InMemoryAPIStore { gated.inner }
        func registerModel(_ graph: ModelGraph) async throws -> (model: StoredModel, created: Bool) { try await inner.registerModel(graph) }
        func latestModels() async throws -> [StoredModel] { await inner.latestModels() }
        func model(name: String, version: Int?) async throws -> (model: StoredModel, versions: Int)? {
            await inner.model(
                name: name,
                version: version)
        }
        func preparedModel(name: String, version: Int?, allowRawUpload: Bool) async throws -> PreparedModel {
            try await inner.preparedModel(name: name, version: version, allowRawUpload: allowRawUpload)
        }
        func createEdgeServer(id: String, computeFLOPs: Double) async throws -> EdgeServer {
            try await inner.createEdgeServer(
                id: id,
                computeFLOPs: computeFLOPs)
        }
        func updateEdgeServer(id: String, computeFLOPs: Double) async throws -> EdgeServer {
            try await inner.updateEdgeServer(
                id: id,
                computeFLOPs: computeFLOPs)
        }
        func edgeServer(id: String) async throws -> EdgeServer? { await inner.edgeServer(id: id) }
        func edgeServers() async throws -> [EdgeServer] { await inner.edgeServers() }
        func putServerProfile(edgeServerID: String, modelName: String, profileJSON: String) async throws {
            try await inner.putServerProfile(edgeServerID: edgeServerID, modelName: modelName, profileJSON: profileJSON)
        }
        func registerDevice(id: String, settings: DeviceSettings, link: TelemetrySample?) async throws -> DeviceCredentials {
            try await inner.registerDevice(id: id, settings: settings, link: link)
        }
        func device(id: String) async throws -> Device? { await inner.device(id: id) }
        func devices(after: String?, limit: Int) async throws -> [Device] { await inner.devices(after: after, limit: limit) }
        func updateDevice(id: String, settings: DeviceSettings) async throws -> Device { try await inner.updateDevice(id: id, settings: settings) }
        func deactivateDevice(id: String) async throws -> Bool { await inner.deactivateDevice(id: id) }
        func putDeviceProfile(deviceID: String, profileJSON: String) async throws {
            try await inner.putDeviceProfile(
                deviceID: deviceID,
                profileJSON: profileJSON)
        }
        func rotateCredentials(deviceID: String, _ request: CredentialRotation, rotatedBy: String) async throws -> RotatedCredentials {
            try await inner.rotateCredentials(deviceID: deviceID, request, rotatedBy: rotatedBy)
        }
        func deviceTokenGrants(tokenHashes: [String]) async throws -> [String: DeviceTokenGrant] {
            await inner.deviceTokenGrants(tokenHashes: tokenHashes)
        }
        func ingest(batches: [TelemetryBatch]) async throws -> [TelemetryBatchOutcome] { try await gated.ingest(batches) }
        func currentPlan(deviceID: String) async throws -> StoredPlan? { await inner.currentPlan(deviceID: deviceID) }
        func infeasibility(deviceID: String) async throws -> (requiredBytes: Int64, limitBytes: Int64?)? {
            await inner.infeasibility(deviceID: deviceID)
        }
        func planHistory(deviceID: String, limit: Int, before: Date?) async throws -> [StoredPlan] {
            await inner.planHistory(deviceID: deviceID, limit: limit, before: before)
        }
        func schemaStatus() async throws -> Migrator.Status { await inner.schemaStatus() }
        func fleetOverview() async throws -> FleetOverview { await inner.fleetOverview() }
        func deviceStatuses(_ filter: DeviceFilter) async throws -> [DeviceStatus] { await inner.deviceStatuses(filter) }
        func linkSeries(deviceID: String, since: Date, maximumPoints: Int) async throws -> [LinkPoint] {
            await inner.linkSeries(deviceID: deviceID, since: since, maximumPoints: maximumPoints)
        }
        func deliveries(deviceID: String, limit: Int) async throws -> [DeliveryRecord] { await inner.deliveries(deviceID: deviceID, limit: limit) }
        func deliveryHealth(failureLimit: Int) async throws -> DeliveryHealth { await inner.deliveryHealth(failureLimit: failureLimit) }
        func refusedMoves(deviceID: String, limit: Int) async throws -> [RefusedMove] { await inner.refusedMoves(deviceID: deviceID, limit: limit) }
        func plan(id: Int64) async throws -> StoredPlan? { await inner.plan(id: id) }
    }

    /// One replica: a router over `store` with its own token cache on `clock`.
    static func replica(
        _ store: any APIStore, clock: DeviceTokenCacheTests.TestClock,
        ttlSeconds: Double = 10
    ) throws -> (Application<RouterResponder<SplitRequestContext>>, APIDependencies) {
        let api = APIDependencies(
            store: store,
            auth: Authenticator(
                adminTokens: [RouteTests.admin], store: store,
                tokens: DeviceTokenCache(
                    ttlSeconds: ttlSeconds,
                    now: clock.function)),
            telemetry: TelemetryCommitter(store: store), metrics: ServerMetrics.shared, policy: try TargetPolicy(allowList: ["127.0.0.1"]),
            maximumBodyBytes: 1 << 20, telemetryRetentionDays: 30, logger: Logger(label: "group-commit-tests"))
        return (Application(router: APIRoutes.router(api)), api)
    }

    /// A model, an edge server and `count` devices; their tokens by device id.
    static func fleet(_ store: InMemoryAPIStore, count: Int) async throws -> [String: String] {
        let resnet18 = try Data(contentsOf: packageRoot.appendingPathComponent("ops/models/resnet18.json"))
        _ = try await store.registerModel(try ModelGraph(json: resnet18))
        _ = try await store.createEdgeServer(id: "edge-1", computeFLOPs: 2e13)
        var tokens: [String: String] = [:]
        for index in 0..<count {
            tokens["dev-\(index)"] = try await store.registerDevice(
                id: "dev-\(index)",
                settings: DeviceSettings(
                    modelName: "resnet18", edgeServerID: "edge-1", batchSize: 32, computeFLOPs: 1e11, callbackURL: nil), link: nil
            ).token
        }
        return tokens
    }

    static func sample(_ device: String, uplink: Double = 2e7) -> ByteBuffer {
        RouteTests.json([
            "samples": [
                [
                    "device": device, "measured_at": Timestamp.format(Date()), "uplink_bps": uplink, "downlink_bps": 4e7,
                    "rtt_seconds": 0.01,
                ]
            ]
        ])
    }

    /// `eventually`, polling every millisecond (the states waited for are brief): gives up after
    /// 60 s *and* 5,000 probes.
    static func until(_ condition: () async -> Bool) async -> Bool {
        await eventually(timeoutSeconds: 60, minimumProbes: 5_000, intervalSeconds: 0.001, condition)
    }

    @Test(
        """
        50 devices posting at once are stored in one group but answered one by one; a request naming an unknown device gets 422 and stores nothing; \
        its neighbours get 202
        """)
    func concurrentDevicesAreGrouped() async throws {
        let inner = InMemoryAPIStore()
        let tokens = try await Self.fleet(inner, count: 50)
        let gated = GatedStore(inner)
        let (app, api) = try Self.replica(GatedAPIStore(gated: gated), clock: DeviceTokenCacheTests.TestClock())
        try await app.test(.router) { client in
            // The first request holds the writer; the others queue up behind it.
            async let first = client.execute(
                uri: "/v1/telemetry", method: .post, headers: RouteTests.headers(tokens["dev-0"]),
                body: Self.sample("dev-0")
            ).status
            #expect(await Self.until { await gated.holding })
            let statuses = try await withThrowingTaskGroup(of: (String, HTTPResponse.Status).self) { group in
                for index in 1..<50 {
                    group.addTask {
                        let response = try await client.execute(
                            uri: "/v1/telemetry", method: .post,
                            headers: RouteTests.headers(tokens["dev-\(index)"]),
                            body: Self.sample("dev-\(index)"))
                        return ("dev-\(index)", response.status)
                    }
                }
                group.addTask {
                    let body = RouteTests.json([
                        "samples": [
                            [
                                "device": "dev-1", "measured_at": Timestamp.format(Date()), "uplink_bps": 1e7,
                                "downlink_bps": 1e7, "rtt_seconds": 0.01,
                            ],
                            [
                                "device": "ghost", "measured_at": Timestamp.format(Date()), "uplink_bps": 1e7,
                                "downlink_bps": 1e7, "rtt_seconds": 0.01,
                            ],
                        ]
                    ])
                    let response = try await client.execute(
                        uri: "/v1/telemetry", method: .post, headers: RouteTests.headers(RouteTests.admin),
                        body: body)
                    #expect(RouteTests.error(response).field == "samples[1].device")
                    return ("ghost", response.status)
                }
                #expect(await Self.until { await api.telemetry.waiting == 50 })
                await gated.open()
                return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
            }
            #expect(try await first == .accepted)
            #expect(statuses["ghost"] == .unprocessableContent)
            #expect((1..<50).allSatisfy { statuses["dev-\($0)"] == .accepted })
        }
        #expect(await gated.calls == [1, 50], "one transaction for the first request, one for the 50 that waited")
        let stored = await inner.samples
        #expect(stored.count == 50 && Set(stored.map(\.deviceID)).count == 50, "every 202 stored once, nothing from the refused request")
    }

    @Test("when a whole group fails, its requests are stored one by one and each gets its own answer")
    func failedGroupFallsBackToSingleRequests() async throws {
        let inner = InMemoryAPIStore()
        let tokens = try await Self.fleet(inner, count: 10)
        let gated = GatedStore(inner, failGroups: true)
        let (app, api) = try Self.replica(GatedAPIStore(gated: gated), clock: DeviceTokenCacheTests.TestClock())
        try await app.test(.router) { client in
            async let first = client.execute(
                uri: "/v1/telemetry", method: .post, headers: RouteTests.headers(tokens["dev-0"]),
                body: Self.sample("dev-0")
            ).status
            #expect(await Self.until { await gated.holding })
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 1..<10 {
                    group.addTask {
                        try await client.execute(
                            uri: "/v1/telemetry", method: .post, headers: RouteTests.headers(tokens["dev-\(index)"]),
                            body: Self.sample("dev-\(index)")
                        ).status
                    }
                }
                #expect(await Self.until { await api.telemetry.waiting == 9 })
                await gated.open()
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(try await first == .accepted)
            #expect(statuses.count == 9 && statuses.allSatisfy { $0 == .accepted })
        }
        #expect(await gated.calls == [1, 9] + Array(repeating: 1, count: 9))
        #expect(await inner.samples.count == 10)
    }

    @Test(
        """
        rotating or deactivating refuses the old token at once on that replica; another replica refuses its telemetry at once and everything else \
        within the TTL
        """)
    func revocationAcrossReplicas() async throws {
        let store = InMemoryAPIStore()
        let tokens = try await Self.fleet(store, count: 2)
        let clockA = DeviceTokenCacheTests.TestClock(), clockB = DeviceTokenCacheTests.TestClock()
        let (replicaA, _) = try Self.replica(store, clock: clockA)
        let (replicaB, _) = try Self.replica(store, clock: clockB)
        let old = try #require(tokens["dev-0"])
        let plan = "/v1/devices/dev-0/plan"
        try await replicaA.test(.router) { a in
            try await replicaB.test(.router) { b in
                // Both replicas have verified (and cached) the token: 404 is "authenticated, no plan yet".
                #expect(try await a.execute(uri: plan, method: .get, headers: RouteTests.headers(old)).status == .notFound)
                #expect(try await b.execute(uri: plan, method: .get, headers: RouteTests.headers(old)).status == .notFound)
                // Rotated on A without grace.
                var fresh = ""
                try await a.execute(
                    uri: "/v1/devices/dev-0/credentials", method: .post, headers: RouteTests.headers(RouteTests.admin),
                    body: RouteTests.json(["token": true, "token_grace_seconds": 0])
                ) { response in
                    #expect(response.status == .ok)
                    fresh = (try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any])?["token"] as? String ?? ""
                }
                #expect(try await a.execute(uri: plan, method: .get, headers: RouteTests.headers(old)).status == .unauthorized, "at once on A")
                #expect(
                    try await a.execute(
                        uri: "/v1/telemetry", method: .post, headers: RouteTests.headers(old),
                        body: Self.sample("dev-0")
                    ).status == .unauthorized)
                // B still trusts its cached entry for reads, within the TTL, but stores nothing with it.
                #expect(
                    try await b.execute(
                        uri: "/v1/telemetry", method: .post, headers: RouteTests.headers(old),
                        body: Self.sample("dev-0")
                    ).status == .unauthorized,
                    "telemetry is re-checked when stored")
                clockB.advance(9.9)
                #expect(
                    try await b.execute(uri: plan, method: .get, headers: RouteTests.headers(old)).status == .unauthorized,
                    "the refused telemetry also evicted B's entry")
                #expect(try await b.execute(uri: plan, method: .get, headers: RouteTests.headers(fresh)).status == .notFound)
                #expect(
                    try await b.execute(
                        uri: "/v1/telemetry", method: .post, headers: RouteTests.headers(fresh),
                        body: Self.sample("dev-0")
                    ).status == .accepted)

                // Deactivated on A: B's cached entry for the new token answers reads until its TTL passes.
                #expect(
                    try await a.execute(
                        uri: "/v1/devices/dev-0", method: .delete,
                        headers: RouteTests.headers(RouteTests.admin)
                    ).status == .noContent)
                #expect(try await a.execute(uri: plan, method: .get, headers: RouteTests.headers(fresh)).status == .unauthorized, "at once on A")
                #expect(
                    try await b.execute(uri: plan, method: .get, headers: RouteTests.headers(fresh)).status == .notFound,
                    "B: cached, within the TTL")
                clockB.advance(9.99)
                #expect(
                    try await b.execute(uri: plan, method: .get, headers: RouteTests.headers(fresh)).status == .notFound,
                    "B: still within the TTL")
                clockB.advance(0.02)
                #expect(try await b.execute(uri: plan, method: .get, headers: RouteTests.headers(fresh)).status == .unauthorized, "B: the TTL passed")
                // The other device was never affected.
                #expect(
                    try await b.execute(
                        uri: "/v1/telemetry", method: .post, headers: RouteTests.headers(tokens["dev-1"]),
                        body: Self.sample("dev-1")
                    ).status == .accepted)
            }
        }
        #expect(await store.samples.map(\.deviceID) == ["dev-0", "dev-1"])
    }
}
