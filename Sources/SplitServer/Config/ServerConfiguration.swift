import Foundation
import Logging
import SplitPush
import SplitStore

/// Everything splitd is configured with, from `SPLITD_*` environment variables (flags override),
/// validated once at start: every error names the variable.
public struct ServerConfiguration: Sendable {
    /// PostgreSQL URL; nil starts the embedded private cluster under `stateDirectory`.
    public var databaseURL: String?
    /// Where splitd keeps its state (embedded cluster, generated admin token).
    public var stateDirectory: URL
    public var listenHost: String
    public var listenPort: Int
    /// Bearer token for operator endpoints (generated when nil and the listener is loopback-only).
    public var adminToken: String?
    public var planInterval: TimeInterval
    /// Relative improvement a new split must bring before it replaces the current one.
    public var minimumGain: Double
    /// Hosts and CIDRs exempt from the webhook SSRF guard.
    public var webhookAllowList: [String]
    public var logLevel: Logger.Level
    /// Devices planned per transaction, and how many planning workers run at once.
    public var planBatchSize: Int
    public var planWorkers: Int
    /// When a link has moved enough to re-plan.
    public var replanThresholds: ReplanThresholds
    /// Telemetry smoothing time constant.
    public var smoothing: LinkSmoothing
    public var retrySchedule: RetrySchedule
    public var webhookTimeout: TimeInterval
    public var deliveryBatchSize: Int
    public var deliveryWorkers: Int
    public var deliveryLeaseSeconds: Double
    public var telemetryRetentionDays: Int
    public var autoMigrate: Bool
    public var poolSize: Int
    /// Unique name of this replica (leases and delivery ownership).
    public var instanceID: String
    /// Largest request body accepted (models may be big), bytes.
    public var maximumBodyBytes: Int
    /// Planner used for fleet plans (`block`, falling back to `dag`).
    public var algorithm: String

    /// Reads the configuration from `environment`, then applies `overrides` (flag values, same keys).
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment,
                            overrides: [String: String] = [:]) throws -> ServerConfiguration {
        let values = environment.merging(overrides) { _, override in override }
        func value(_ key: String) -> String? { values[key].flatMap { $0.isEmpty ? nil : $0 } }
        func number(_ key: String, default fallback: Double, range: ClosedRange<Double>) throws -> Double {
            guard let text = value(key) else { return fallback }
            guard let parsed = Double(text), range.contains(parsed) else {
                throw ConfigurationError(key, "must be a number in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
            }
            return parsed
        }
        func integer(_ key: String, default fallback: Int, range: ClosedRange<Int>) throws -> Int {
            guard let text = value(key) else { return fallback }
            guard let parsed = Int(text), range.contains(parsed) else {
                throw ConfigurationError(key, "must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
            }
            return parsed
        }
        func duration(_ key: String, default fallback: TimeInterval) throws -> TimeInterval {
            guard let text = value(key) else { return fallback }
            guard let parsed = parseDuration(text), parsed > 0 else {
                throw ConfigurationError(key, "must be a duration like 10s, 500ms, 2m or 1h, got '\(text)'")
            }
            return parsed
        }
        func flag(_ key: String, default fallback: Bool) throws -> Bool {
            guard let text = value(key)?.lowercased() else { return fallback }
            if ["1", "true", "yes", "on"].contains(text) { return true }
            if ["0", "false", "no", "off"].contains(text) { return false }
            throw ConfigurationError(key, "must be true or false, got '\(text)'")
        }

        var configuration = ServerConfiguration(
            databaseURL: value("SPLITD_DATABASE_URL"),
            stateDirectory: URL(fileURLWithPath: value("SPLITD_STATE_DIR") ?? ".splitd", isDirectory: true).standardizedFileURL,
            listenHost: "127.0.0.1", listenPort: 8080, adminToken: value("SPLITD_ADMIN_TOKEN"),
            planInterval: try duration("SPLITD_PLAN_INTERVAL", default: 10),
            minimumGain: try number("SPLITD_MIN_GAIN", default: 0.05, range: 0...1),
            webhookAllowList: (value("SPLITD_WEBHOOK_ALLOW") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty },
            logLevel: .info,
            planBatchSize: try integer("SPLITD_PLAN_BATCH", default: 1000, range: 1...100_000),
            planWorkers: try integer("SPLITD_PLAN_WORKERS", default: 2, range: 1...64),
            replanThresholds: ReplanThresholds(relativeRateChange: try number("SPLITD_REPLAN_THRESHOLD", default: 0.1, range: 0...100)),
            smoothing: LinkSmoothing(timeConstantSeconds: try duration("SPLITD_SMOOTHING", default: 30)),
            retrySchedule: .standard,
            webhookTimeout: try duration("SPLITD_WEBHOOK_TIMEOUT", default: 10),
            deliveryBatchSize: try integer("SPLITD_DELIVERY_BATCH", default: 256, range: 1...10_000),
            deliveryWorkers: try integer("SPLITD_DELIVERY_WORKERS", default: 2, range: 1...64),
            deliveryLeaseSeconds: try duration("SPLITD_DELIVERY_LEASE", default: 60),
            telemetryRetentionDays: try integer("SPLITD_TELEMETRY_RETENTION_DAYS", default: 30, range: 1...36_500),
            autoMigrate: try flag("SPLITD_AUTO_MIGRATE", default: true),
            poolSize: try integer("SPLITD_DB_POOL", default: 16, range: 1...512),
            instanceID: value("SPLITD_INSTANCE_ID") ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())",
            maximumBodyBytes: try integer("SPLITD_MAX_BODY_BYTES", default: 64 << 20, range: 1024...(1 << 30)),
            algorithm: value("SPLITD_ALGORITHM") ?? "block")
        if let listen = value("SPLITD_LISTEN") {
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65_535).contains(port) else {
                throw ConfigurationError("SPLITD_LISTEN", "must be HOST:PORT (e.g. 127.0.0.1:8080 or 0.0.0.0:8080), got '\(listen)'")
            }
            configuration.listenHost = String(listen[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            configuration.listenPort = port
        }
        if let level = value("SPLITD_LOG_LEVEL") {
            guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
                throw ConfigurationError("SPLITD_LOG_LEVEL", "must be one of trace, debug, info, notice, warning, error, critical; got '\(level)'")
            }
            configuration.logLevel = parsed
        }
        if let schedule = value("SPLITD_WEBHOOK_RETRY") {
            guard let parsed = RetrySchedule(parsing: schedule) else {
                throw ConfigurationError("SPLITD_WEBHOOK_RETRY", "must be a comma-separated list of durations like 5s,30s,2m,10m,1h,6h; got '\(schedule)'")
            }
            configuration.retrySchedule = parsed
        }
        if !["block", "dag"].contains(configuration.algorithm) {
            throw ConfigurationError("SPLITD_ALGORITHM", "must be block or dag, got '\(configuration.algorithm)'")
        }
        if let url = configuration.databaseURL, !(url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") || url.contains("=")) {
            throw ConfigurationError("SPLITD_DATABASE_URL", "must be a postgres:// URL or a libpq connection string")
        }
        do {
            _ = try TargetPolicy(allowList: configuration.webhookAllowList)
        } catch let error as WebhookError {
            throw ConfigurationError("SPLITD_WEBHOOK_ALLOW", "has an invalid entry: \(error)")
        }
        if configuration.adminToken == nil && !configuration.listensOnLoopbackOnly {
            throw ConfigurationError("SPLITD_ADMIN_TOKEN", "is required when listening on \(configuration.listenHost) (not loopback-only)")
        }
        if let token = configuration.adminToken, token.count < 16 {
            throw ConfigurationError("SPLITD_ADMIN_TOKEN", "must be at least 16 characters")
        }
        return configuration
    }

    /// True when nothing beyond this machine can reach the listener.
    public var listensOnLoopbackOnly: Bool {
        ["127.0.0.1", "::1", "localhost"].contains(listenHost) || listenHost.hasPrefix("127.")
    }

    /// The path where a generated admin token is written.
    public var adminTokenFile: URL { stateDirectory.appendingPathComponent("admin-token") }
}

/// A configuration value that cannot be used.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let variable: String
    public let reason: String
    public init(_ variable: String, _ reason: String) {
        self.variable = variable
        self.reason = reason
    }
    public var description: String { "\(variable) \(reason)" }
}

/// `10s`, `500ms`, `2m`, `1h`, or bare seconds.
public func parseDuration(_ text: String) -> TimeInterval? {
    let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
    for (suffix, scale) in [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)] where trimmed.hasSuffix(suffix) {
        return Double(trimmed.dropLast(suffix.count)).map { $0 * scale }
    }
    return Double(trimmed)
}
