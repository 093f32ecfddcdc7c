import Foundation
import Logging
import SplitCore
import SplitPush
import SplitStore

/// One setting of `ServerConfiguration`: its variable, its flag, its default and meaning, and
/// how its text is parsed into the configuration.
package struct ConfigurationSetting: Sendable {
    /// The environment variable (`SPLITD_PLAN_INTERVAL`).
    package let variable: String
    /// What it is for, one line.
    package let help: String
    /// The default, as a person would write it.
    package let defaultValue: String
    let apply: @Sendable (String, inout ServerConfiguration) throws -> Void

    /// The matching flag: the variable without `SPLITD_`, lower-case, `-` for `_` (`--plan-interval`).
    package var flag: String { "--" + variable.dropFirst("SPLITD_".count).lowercased().replacingOccurrences(of: "_", with: "-") }
}

extension ServerConfiguration {
    /// Every setting splitd reads, in the order README and `--help` list them.
    package static let settings: [ConfigurationSetting] = [
        text(
            "SPLITD_DATABASE_URL", "unset",
            "postgres://user:pass@host:port/db?sslmode=... or a libpq string; unset starts the embedded cluster"
        ) { text, configuration in
            guard text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") || text.contains("=") else {
                throw ConfigurationError("SPLITD_DATABASE_URL", "must be a postgres:// URL or a libpq connection string")
            }
            configuration.databaseURL = text
        },
        text("SPLITD_STATE_DIR", "./.splitd (systemd: /var/lib/splitd)", "embedded cluster and generated admin token") { text, configuration in
            configuration.stateDirectory = URL(fileURLWithPath: text, isDirectory: true).standardizedFileURL
        },
        text("SPLITD_LISTEN", "127.0.0.1:8080", "HTTP listener, HOST:PORT ([::1]:8080 for IPv6)") { text, configuration in
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else {
                throw ConfigurationError("SPLITD_LISTEN", "must be HOST:PORT (e.g. 127.0.0.1:8080 or 0.0.0.0:8080), got '\(text)'")
            }
            configuration.listenHost = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            configuration.listenPort = port
        },
        text(
            "SPLITD_ADMIN_TOKEN", "generated on loopback",
            """
            operator bearer token(s), comma-separated so a new one can be added before the old is removed; required unless the listener is \
            loopback-only, where one is generated into <state>/admin-token (mode 0600)
            """
        ) { text, configuration in
            let tokens = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !tokens.isEmpty, tokens.allSatisfy({ $0.count >= 16 }) else {
                throw ConfigurationError("SPLITD_ADMIN_TOKEN", "must be one or more comma-separated tokens of at least 16 characters")
            }
            configuration.adminTokens = tokens
        },
        text(
            "SPLITD_SECRET_KEY", "generated into <state>/secret-key",
            """
            base64 of 32 random bytes; encrypts the webhook secrets stored in the database. Every replica on one database needs the same key \
            (generate: head -c 32 /dev/urandom | base64)
            """
        ) { text, configuration in
            do {
                _ = try SecretBox(base64Key: text)
            } catch let error as SecretBoxError {
                throw ConfigurationError("SPLITD_SECRET_KEY", "\(error)")
            }
            configuration.secretKey = text
        },
        duration("SPLITD_PLAN_INTERVAL", "10s", "planning period") { $0.planInterval = $1 },
        text(
            "SPLITD_SWITCHING", "payback",
            """
            the rule that decides when a device moves to a better split (devices may set their own): payback (move once the savings a better \
            split would have earned since it became better pay for moving its layers) or horizon (once SPLITD_SWITCH_HORIZON iterations of \
            the saving at today's rates would)
            """
        ) { text, configuration in
            guard ["payback", "horizon"].contains(text) else {
                throw ConfigurationError("SPLITD_SWITCHING", "must be payback or horizon, got '\(text)'")
            }
            configuration.switchingRuleName = text
        },
        number(
            "SPLITD_PAYBACK_FACTOR", "1", 0...Limits.paybackFactor.bounds.upperBound,
            "payback rule: accrued savings must reach this many times the migration seconds"
        ) {
            $0.paybackFactor = $1
        },
        number(
            "SPLITD_MIN_GAIN", "0", 0...Limits.minimumGain.bounds.upperBound,
            "a better split counts only if it saves at least this fraction of the current iteration time (either rule)"
        ) { $0.minimumGain = $1 },
        integer(
            "SPLITD_SWITCH_HORIZON", "\(SwitchingRule.defaultHorizonIterations)", Limits.horizonIterations,
            "horizon rule: a move is made only if the time saved over this many iterations pays for moving the layers"
        ) {
            $0.switchHorizonIterations = $1
        },
        number("SPLITD_REPLAN_THRESHOLD", "0.1", 0...100, "relative link change since the last evaluation that marks a device for planning") {
            $0.replanThresholds.relativeRateChange = $1
        },
        text(
            "SPLITD_ESTIMATOR", "arithmetic",
            "how telemetry averages into the link planned for: arithmetic (mean capacity, what a transfer sees) or geometric"
        ) { text, configuration in
            guard let mean = LinkEstimator.Mean(rawValue: text) else {
                throw ConfigurationError("SPLITD_ESTIMATOR", "must be arithmetic or geometric, got '\(text)'")
            }
            configuration.estimator.mean = mean
        },
        duration("SPLITD_SMOOTHING", "10s", "time constant τ of the link estimate's moving average") { $0.estimator.timeConstantSeconds = $1 },
        integer("SPLITD_PLAN_BATCH", "2000", 1...100_000, "devices per planning transaction") { $0.planBatchSize = $1 },
        integer("SPLITD_PLAN_WORKERS", "2", 1...64, "concurrent planning workers") { $0.planWorkers = $1 },
        text("SPLITD_ALGORITHM", "block", "fleet planner: block or dag") { text, configuration in
            guard let algorithm = PlanningAlgorithm(rawValue: text), [.block, .dag].contains(algorithm) else {
                throw ConfigurationError("SPLITD_ALGORITHM", "must be block or dag, got '\(text)'")
            }
            configuration.algorithm = algorithm
        },
        text("SPLITD_WEBHOOK_ALLOW", "empty", "hosts and CIDRs exempt from the SSRF guard, e.g. 127.0.0.1,10.0.0.0/8") { text, configuration in
            let entries = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            do {
                _ = try TargetPolicy(allowList: entries)
            } catch let error as WebhookError {
                throw ConfigurationError("SPLITD_WEBHOOK_ALLOW", "has an invalid entry: \(error)")
            }
            configuration.webhookAllowList = entries
        },
        text(
            "SPLITD_WEBHOOK_RETRY", "5s,30s,2m,10m,1h,6h",
            "retry delays after each failed attempt, then dead (±20% jitter)"
        ) { text, configuration in
            do {
                let delays = try text.split(separator: ",").map { try Limits.parseDuration(String($0), range: retryDelayRange) }
                guard !delays.isEmpty else { throw QuantityError(text: text, kind: .duration, "is empty") }
                guard delays.count <= maximumRetries else {
                    throw ConfigurationError("SPLITD_WEBHOOK_RETRY", "lists \(delays.count) retries; at most \(maximumRetries) are allowed")
                }
                configuration.retrySchedule = RetrySchedule(delays: delays)
            } catch let error as QuantityError {
                throw ConfigurationError("SPLITD_WEBHOOK_RETRY", "must be a comma-separated list of durations like 5s,30s,2m,10m,1h,6h: \(error)")
            }
        },
        duration(
            "SPLITD_WEBHOOK_TIMEOUT", "10s",
            "per webhook request, DNS included (at most 5m); a receiver that keeps timing out gets one request at a time, still with this timeout",
            range: webhookTimeoutRange
        ) { $0.webhookTimeout = $1 },
        integer(
            "SPLITD_DELIVERY_BATCH", "256", 1...deliveryCapacity,
            "deliveries claimed at once, at most the \(deliveryCapacity) requests a replica keeps in flight"
        ) { $0.deliveryBatchSize = $1 },
        integer("SPLITD_DELIVERY_WORKERS", "2", 1...64, "concurrent delivery loops") { $0.deliveryWorkers = $1 },
        duration(
            "SPLITD_DELIVERY_LEASE", "60s",
            "lease on claimed deliveries (a crashed replica's are retried after it); at least SPLITD_WEBHOOK_TIMEOUT + 2s, at most 1h",
            range: deliveryLeaseRange
        ) { $0.deliveryLeaseSeconds = $1 },
        integer(
            "SPLITD_TELEMETRY_RETENTION_DAYS", "30", 1...36_500,
            "telemetry partitions older than this are dropped, and refused moves older than this deleted"
        ) { $0.telemetryRetentionDays = $1 },
        text(
            "SPLITD_DELIVERY_RETENTION", "7d",
            """
            finished webhook deliveries (delivered, superseded, dead) are deleted this long after their last attempt; the delivery of each plan in \
            force is kept, and split_history keeps saying which plans were pushed
            """
        ) { text, configuration in
            do {
                configuration.deliveryRetentionSeconds = try Limits.parseDuration(text, range: deliveryRetentionRange)
            } catch let error as QuantityError {
                throw ConfigurationError("SPLITD_DELIVERY_RETENTION", "must be a duration like 7d, 36h or 90d: \(error)")
            }
        },
        integer("SPLITD_DB_POOL", "16", 1...512, "database connections") { $0.poolSize = $1 },
        text(
            "SPLITD_TOKEN_CACHE_TTL", "10s",
            """
            how long a replica trusts a device token it verified (0: ask the database every time); a token revoked on another replica still reads \
            there for at most this long, and never stores telemetry
            """
        ) { text, configuration in
            do {
                configuration.tokenCacheSeconds = text == "0" ? 0 : try Limits.parseDuration(text, range: tokenCacheRange)
            } catch let error as QuantityError {
                throw ConfigurationError("SPLITD_TOKEN_CACHE_TTL", "must be 0 or a duration like 10s, 500ms or 1m (at most 1h): \(error)")
            }
        },
        flag(
            "SPLITD_AUTO_MIGRATE", "true",
            "apply pending migrations at start (false: refuse to start until 'splitd migrate')"
        ) { $0.autoMigrate = $1 },
        text("SPLITD_INSTANCE_ID", "host-pid", "unique name of this replica (leases, delivery ownership)") { text, configuration in
            configuration.instanceID = text
        },
        integer("SPLITD_MAX_BODY_BYTES", "67108864 (64 MiB)", 1024...(1 << 30), "largest request body accepted") { $0.maximumBodyBytes = $1 },
        duration(
            "SPLITD_DRAIN_GRACE", "2s",
            """
            on SIGTERM, how long an idle keep-alive connection is kept for one more request (answered with Connection: close) before it is \
            closed
            """
        ) { $0.drainGraceSeconds = $1 },
        duration(
            "SPLITD_DRAIN_TIMEOUT", "30s",
            "on SIGTERM, the longest wait for requests in flight; connections still open then are closed (keep it under TimeoutStopSec)"
        ) { $0.drainTimeoutSeconds = $1 },
        text("SPLITD_LOG_LEVEL", "info", "trace, debug, info, notice, warning, error or critical") { text, configuration in
            guard let level = Logger.Level(rawValue: text.lowercased()) else {
                throw ConfigurationError("SPLITD_LOG_LEVEL", "must be one of trace, debug, info, notice, warning, error, critical; got '\(text)'")
            }
            configuration.logLevel = level
        },
        text("SPLITD_LOG_FORMAT", "text", "text, or json for one JSON object per line (log shippers)") { text, configuration in
            guard let format = LogFormat(rawValue: text.lowercased()) else {
                throw ConfigurationError("SPLITD_LOG_FORMAT", "must be text or json, got '\(text)'")
            }
            configuration.logFormat = format
        },
        text(
            "SPLITD_PG_BIN", "found",
            "directory of PostgreSQL's initdb and pg_ctl for the embedded cluster (default: newest /usr/lib/postgresql/*/bin, then PATH)"
        ) {
            $1.postgresBinDirectory = $0
        },
        text(
            "SPLITD_MIGRATIONS_DIR", "found",
            "directory of the migration files (default: share/splitd/migrations beside the binary, ./migrations, the source checkout)"
        ) {
            $1.migrationsDirectory = $0
        },
    ]

    static let retryDelayRange = ValueRange("retry delay", unit: "s", 0...7 * 86_400, allowsZero: true)
    static let durationRange = ValueRange("duration", unit: "s", 1e-3...7 * 86_400)
    /// A webhook request: 100 ms to 5 minutes (a receiver acknowledges; it does not work).
    static let webhookTimeoutRange = ValueRange("webhook timeout", unit: "s", 0.1...300)
    /// A delivery lease: 1 s to an hour (how long a crashed replica's deliveries wait).
    static let deliveryLeaseRange = ValueRange("delivery lease", unit: "s", 1...3600)
    /// How long a revoked token may still read on another replica: at most an hour.
    static let tokenCacheRange = ValueRange("token cache lifetime", unit: "s", 1e-3...3600)
    /// Retries after the first attempt, at most.
    static let maximumRetries = 50
    /// Webhook requests one replica keeps in flight at most (the webhook client's connections).
    package static let deliveryCapacity = 256
    /// A minute to a hundred years (about forever).
    package static let deliveryRetentionRange = ValueRange("retention", unit: "s", 60...36_500 * 86_400)

    /// The setting named `variable`.
    package static func setting(_ variable: String) -> ConfigurationSetting? { settings.first { $0.variable == variable } }

    private static func text(
        _ variable: String, _ defaultValue: String, _ help: String,
        _ apply: @escaping @Sendable (String, inout ServerConfiguration) throws -> Void
    ) -> ConfigurationSetting {
        ConfigurationSetting(variable: variable, help: help, defaultValue: defaultValue, apply: apply)
    }

    private static func duration(
        _ variable: String, _ defaultValue: String, _ help: String, range: ValueRange = durationRange,
        _ set: @escaping @Sendable (inout ServerConfiguration, TimeInterval) -> Void
    ) -> ConfigurationSetting {
        text(variable, defaultValue, help) { text, configuration in
            do {
                set(&configuration, try Limits.parseDuration(text, range: range))
            } catch let error as QuantityError {
                throw ConfigurationError(variable, "must be a duration like 10s, 500ms, 2m or 1h: \(error)")
            }
        }
    }

    private static func number(
        _ variable: String, _ defaultValue: String, _ range: ClosedRange<Double>, _ help: String,
        _ set: @escaping @Sendable (inout ServerConfiguration, Double) -> Void
    ) -> ConfigurationSetting {
        text(variable, defaultValue, help) { text, configuration in
            guard let value = Double(text), range.contains(value) else {
                throw ConfigurationError(variable, "must be a number in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
            }
            set(&configuration, value)
        }
    }

    private static func integer(
        _ variable: String, _ defaultValue: String, _ range: ClosedRange<Int>, _ help: String,
        _ set: @escaping @Sendable (inout ServerConfiguration, Int) -> Void
    ) -> ConfigurationSetting {
        text(variable, defaultValue, help) { text, configuration in
            guard let value = Int(text), range.contains(value) else {
                throw ConfigurationError(variable, "must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(text)'")
            }
            set(&configuration, value)
        }
    }

    private static func flag(
        _ variable: String, _ defaultValue: String, _ help: String,
        _ set: @escaping @Sendable (inout ServerConfiguration, Bool) -> Void
    ) -> ConfigurationSetting {
        text(variable, defaultValue, help) { text, configuration in
            switch text.lowercased() {
            case "1", "true", "yes", "on": set(&configuration, true)
            case "0", "false", "no", "off": set(&configuration, false)
            default: throw ConfigurationError(variable, "must be true or false, got '\(text)'")
            }
        }
    }
}
