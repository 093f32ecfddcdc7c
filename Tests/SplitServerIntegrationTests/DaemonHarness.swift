import Foundation
import SplitIntegrationSupport
import SplitTestSupport
import Testing

@testable import SplitStore

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real `splitd` process on loopback against a test database.
final class Daemon: @unchecked Sendable {
    static let adminToken = "test-admin-token-0123456789"
    /// Every test daemon shares this key, as replicas of one deployment must.
    static let secretKey = Data((0..<32).map { UInt8($0) }).base64EncodedString()

    let database: TestDatabase
    let port: Int
    let instance: String
    let logFile: URL
    private var process: Process?
    private let environment: [String: String]
    private let exchangesLock = NSLock()
    /// Every API exchange so far, as JSON lines for ops/openapi-check.
    private var exchanges: [String] = []

    /// Starts splitd with fast timers for tests; `extra` overrides any variable and `unset`
    /// removes one (e.g. `SPLITD_DATABASE_URL`, so splitd runs its embedded cluster).
    init(
        database: TestDatabase, instance: String = "t\(UUID().uuidString.prefix(6))", extra: [String: String] = [:],
        unset: Set<String> = []
    ) async throws {
        self.database = database
        self.instance = instance
        port = try Self.freePort()
        logFile = FileManager.default.temporaryDirectory.appendingPathComponent("splitd-\(instance).log")
        var environment = Self.environment(database: database, instance: instance)
        environment["SPLITD_LISTEN"] = "127.0.0.1:\(port)"
        environment.merge(extra) { _, new in new }
        for variable in unset { environment[variable] = nil }
        self.environment = environment
        try await start()
    }

    /// The environment test daemons run with (fast timers, the test database, a state directory
    /// of their own), without `SPLITD_LISTEN`.
    static func environment(database: TestDatabase, instance: String) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment.merge([
            "SPLITD_DATABASE_URL": database.url, "SPLITD_ADMIN_TOKEN": Self.adminToken,
            "SPLITD_WEBHOOK_ALLOW": "127.0.0.1", "SPLITD_PLAN_INTERVAL": "200ms",
            "SPLITD_WEBHOOK_RETRY": Array(repeating: "300ms", count: 20).joined(separator: ","),
            "SPLITD_INSTANCE_ID": instance, "SPLITD_MIGRATIONS_DIR": packageRoot.appendingPathComponent("migrations").path,
            "SPLITD_STATE_DIR": FileManager.default.temporaryDirectory.appendingPathComponent("splitd-state-\(instance)").path,
            "SPLITD_LOG_LEVEL": "info", "SPLITD_SECRET_KEY": Self.secretKey,
            // Short enough that a crashed daemon's deliveries come back soon; the lease must
            // outlast the request timeout by 2 s (ServerConfiguration.checkCombinations).
            "SPLITD_WEBHOOK_TIMEOUT": "5s", "SPLITD_DELIVERY_LEASE": "7s",
            // Most tests move links far and expect the split to follow at once: the horizon rule
            // with a long horizon lets the saving pay for the migration at the first evaluation
            // (the payback rule, the default, is tested on its own in TablesAndMemoryTests).
            "SPLITD_SWITCHING": "horizon", "SPLITD_SWITCH_HORIZON": "1000",
        ]) { _, new in new }
        return environment
    }

    /// The built binary beside the test runner (or in .build/debug).
    static var binary: URL {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("splitd"),
            packageRoot.appendingPathComponent(".build/debug/splitd"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[1]
    }

    func start() async throws {
        let process = Process()
        process.executableURL = Self.binary
        process.environment = environment
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logFile)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.process = process
        let ready = try await eventually(timeoutSeconds: 60) {
            if !process.isRunning { throw HarnessError("splitd exited with \(process.terminationStatus):\n\(log())") }
            guard let (status, _) = try? await request("GET", "/readyz", token: nil, timeoutSeconds: 2) else { return false }
            return status == 200
        }
        if ready { return }
        await kill9()  // never leave a daemon behind a failed test
        throw HarnessError("splitd did not become ready:\n\(log())")
    }

    /// SIGTERM, then waits for exit; returns the exit status.
    @discardableResult
    func stop(timeoutSeconds: Double = 20) async -> Int32? {
        guard let process, process.isRunning else { return process?.terminationStatus }
        process.terminate()
        return await exitStatus(timeoutSeconds: timeoutSeconds)
    }

    /// SIGTERM without waiting: graceful shutdown starts (see `exitStatus`).
    func terminate() {
        if let process, process.isRunning { process.terminate() }
    }

    /// Waits for the process to exit; its status, or nil if it still runs after the timeout.
    func exitStatus(timeoutSeconds: Double = 20) async -> Int32? {
        guard let process else { return nil }
        _ = await eventually(timeoutSeconds: timeoutSeconds, intervalSeconds: 0.05) { !process.isRunning }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// Planning cycles this daemon has finished (`splitd_planning_cycle_seconds_count` in
    /// /metrics), or nil when /metrics cannot be read.
    func planningCycles() async -> Int? {
        guard let (status, data) = try? await request("GET", "/metrics", token: nil, timeoutSeconds: 5), status == 200 else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("splitd_planning_cycle_seconds_count") }),
            let value = line.split(separator: " ").last.flatMap({ Double($0) })
        else { return nil }
        return Int(value)
    }

    /// Waits until a whole planning cycle has run after this call (the count grows by two: the
    /// cycle in progress, if any, then a full one); false if that does not happen in time.
    func waitForFreshPlanningCycle() async -> Bool {
        guard let start = await planningCycles() else { return false }
        return await eventually { (await planningCycles() ?? start) >= start + 2 }
    }

    /// kill -9: no cleanup at all.
    func kill9() async {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        _ = await eventually(timeoutSeconds: 60, intervalSeconds: 0.02) { !process.isRunning }
    }

    func log() -> String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// One HTTP request; returns status and body.
    func request(
        _ method: String, _ path: String, token: String? = Daemon.adminToken, body: Data? = nil,
        timeoutSeconds: Double = 30
    ) async throws -> (Int, Data) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.timeoutInterval = timeoutSeconds
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        if path.hasPrefix("/v1/") || path == "/healthz" || path == "/readyz" {
            let exchange: [String: Any] = [
                "method": method, "path": path, "status": status,
                "body": (try? JSONSerialization.jsonObject(with: data)) ?? NSNull(),
            ]
            if let line = try? JSONSerialization.data(withJSONObject: exchange) {
                exchangesLock.withLock { exchanges.append(String(decoding: line, as: UTF8.self)) }
            }
        }
        return (status, data)
    }

    /// Runs ops/openapi-check over every exchange this daemon answered: the responses must match
    /// the OpenAPI document (path, method, status and body schema). Returns the mismatches.
    func openAPIMismatches() throws -> [String] {
        let lines = exchangesLock.withLock { exchanges }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("splitd-exchanges-\(instance).jsonl")
        try lines.joined(separator: "\n").write(to: file, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", packageRoot.appendingPathComponent("ops/openapi-check").path, file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard output.contains("exchange(s) checked") else { throw HarnessError("ops/openapi-check did not run: \(output)") }
        return process.terminationStatus == 0 ? [] : output.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("ops/openapi-check:") }
    }

    /// A request with a JSON object body, returning the status and the decoded JSON object.
    func json(_ method: String, _ path: String, token: String? = Daemon.adminToken, _ object: Any? = nil) async throws -> (Int, [String: Any]) {
        let body = try object.map { try JSONSerialization.data(withJSONObject: $0) }
        let (status, data) = try await request(method, path, token: token, body: body)
        return (status, (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:])
    }

    static func freePort() throws -> Int { try EmbeddedPostgres.freeLoopbackPort() }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Fleet set-up through the API.
enum Fleet {
    static func modelJSON(_ name: String) throws -> Data {
        try Data(contentsOf: packageRoot.appendingPathComponent("ops/models/\(name).json"))
    }

    /// Registers a model, an edge server and one device; returns the device's token and secret.
    static func setUp(
        _ daemon: Daemon, model: String = "resnet18", device: String = "dev-1", callback: String?,
        uplink: Double = 2e8, edge: String = "edge-1", extra: [String: Any] = [:]
    ) async throws -> (token: String, secret: String) {
        let (modelStatus, _) = try await daemon.request("POST", "/v1/models", body: try modelJSON(model))
        #expect(modelStatus == 201 || modelStatus == 200)
        let (edgeStatus, _) = try await daemon.json("POST", "/v1/edge-servers", ["id": edge, "compute_flops": 2e13])
        #expect(edgeStatus == 201 || edgeStatus == 409)
        return try await register(daemon, device: device, model: model, callback: callback, uplink: uplink, edge: edge, extra: extra)
    }

    static func register(
        _ daemon: Daemon, device: String, model: String = "resnet18", callback: String?, uplink: Double = 2e8,
        edge: String = "edge-1", extra: [String: Any] = [:]
    ) async throws -> (token: String, secret: String) {
        var body: [String: Any] = [
            "id": device, "model": model, "edge_server": edge, "batch_size": 32, "compute_flops": 1e11,
            "link": ["uplink_bps": uplink, "downlink_bps": uplink * 2, "rtt_seconds": 0.01],
        ]
        body.merge(extra) { _, new in new }
        if let callback { body["callback_url"] = callback }
        let (status, created) = try await daemon.json("POST", "/v1/devices", body)
        guard status == 201, let token = created["token"] as? String, let secret = created["webhook_secret"] as? String else {
            throw HarnessError("registering \(device) failed: \(status) \(created)")
        }
        return (token, secret)
    }

    static func telemetry(_ device: String, uplink: Double, at date: Date = Date()) -> [String: Any] {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return ["device": device, "measured_at": formatter.string(from: date), "uplink_bps": uplink, "downlink_bps": uplink * 2, "rtt_seconds": 0.01]
    }
}
