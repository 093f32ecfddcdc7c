import Foundation
import Logging
import SplitCore
import SplitPush
import SplitStore

/// Everything splitd is configured with, from `SPLITD_*` environment variables and the matching
/// flags (a flag wins), validated once at start: every error names the variable.
///
/// The settings are declared once, in `ServerConfiguration.settings`: the flags `splitd serve`
/// accepts, its `--help`, README's table and `systemd/splitd.env.example` all follow that list
/// (a test compares them, and every `SPLITD_*` name the sources mention, with it).
package struct ServerConfiguration: Sendable {
    /// PostgreSQL URL; nil starts the embedded private cluster under `stateDirectory`.
    package var databaseURL: String?
    /// Where splitd keeps its state (embedded cluster, generated admin token).
    package var stateDirectory = URL(fileURLWithPath: ".splitd", isDirectory: true).standardizedFileURL
    package var listenHost = "127.0.0.1"
    package var listenPort = 8080
    /// Bearer tokens for operator endpoints (one generated when empty and the listener is loopback-only).
    package var adminTokens: [String] = []
    package var planInterval: TimeInterval = 10
    /// The switching rule devices follow unless they choose their own: `payback` (the default) or `horizon`.
    package var switchingRuleName = SwitchingPolicy.default.name
    /// The payback rule's θ: accrued savings must reach θ × the migration seconds.
    package var paybackFactor = PaybackRule.defaultPaybackFactor
    /// Relative improvement per iteration below which a better split does not count (either rule).
    package var minimumGain = 0.0
    /// The horizon rule's iterations over which a saving must pay for moving the layers.
    package var switchHorizonIterations = SwitchingRule.defaultHorizonIterations
    /// Hosts and CIDRs exempt from the webhook SSRF guard.
    package var webhookAllowList: [String] = []
    package var logLevel: Logger.Level = .info
    /// `text` (one line per event) or `json` (one JSON object per line, for log shippers).
    package var logFormat: LogFormat = .text
    /// Devices planned per transaction, and how many planning workers run at once.
    package var planBatchSize = 2000
    package var planWorkers = 2
    /// When a link has moved enough to re-plan.
    package var replanThresholds = ReplanThresholds()
    /// How telemetry becomes the link estimate planned for (`LinkEstimator`: mean and τ).
    package var estimator = LinkEstimator.recommended
    package var retrySchedule = RetrySchedule.standard
    package var webhookTimeout: TimeInterval = 10
    package var deliveryBatchSize = 256
    package var deliveryWorkers = 2
    package var deliveryLeaseSeconds: Double = 60
    package var telemetryRetentionDays = 30
    /// How long finished webhook deliveries are kept after their last activity.
    package var deliveryRetentionSeconds: TimeInterval = 7 * 86_400
    package var autoMigrate = true
    package var poolSize = 16
    /// How long a replica trusts a device token it verified (bounds how long a token revoked on
    /// another replica still reads there; telemetry is re-checked when stored), seconds.
    package var tokenCacheSeconds: TimeInterval = 10
    /// Unique name of this replica (leases and delivery ownership).
    package var instanceID = "\(ProcessInfo.processInfo.hostName)-\(getpid())"
    /// Largest request body accepted (models may be big), bytes.
    package var maximumBodyBytes = 64 << 20
    /// On SIGTERM, how long an idle keep-alive connection is kept open for one more request, seconds.
    package var drainGraceSeconds: TimeInterval = 2
    /// On SIGTERM, the longest wait for requests in flight before their connections are closed, seconds.
    package var drainTimeoutSeconds: TimeInterval = 30
    /// Planner used for fleet plans (`block`, falling back to `dag`).
    package var algorithm = PlanningAlgorithm.block
    /// Directory of PostgreSQL's server programs for the embedded cluster (nil: found on the system).
    package var postgresBinDirectory: String?
    /// Directory of the migration files (nil: found next to the binary or in the checkout).
    package var migrationsDirectory: String?
    /// Base64 of the 32-byte key that encrypts stored webhook secrets (nil: kept in the state directory).
    package var secretKey: String?

    /// The defaults, before any variable or flag.
    package init() {}

    /// Log line formats.
    package enum LogFormat: String, Sendable, CaseIterable { case text, json }

    /// Reads the configuration from `environment`, then applies `overrides` (flag values keyed by
    /// variable name), then checks the settings against each other.
    package static func load(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        overrides: [String: String] = [:]
    ) throws -> ServerConfiguration {
        let values = environment.merging(overrides) { _, override in override }
        var configuration = ServerConfiguration()
        for setting in settings {
            guard let text = values[setting.variable], !text.isEmpty else { continue }
            try setting.apply(text, &configuration)
        }
        if configuration.drainGraceSeconds > configuration.drainTimeoutSeconds {
            throw ConfigurationError("SPLITD_DRAIN_GRACE", "must not be longer than SPLITD_DRAIN_TIMEOUT")
        }
        if configuration.adminTokens.isEmpty && !configuration.listensOnLoopbackOnly {
            throw ConfigurationError("SPLITD_ADMIN_TOKEN", "is required when listening on \(configuration.listenHost) (not loopback-only)")
        }
        try configuration.checkCombinations()
        return configuration
    }

    /// True when nothing beyond this machine can reach the listener.
    package var listensOnLoopbackOnly: Bool {
        ["127.0.0.1", "::1", "localhost"].contains(listenHost) || listenHost.hasPrefix("127.")
    }

    /// The rule that decides when a device moves to a better split, unless it has its own.
    package var switching: SwitchingPolicy {
        switchingRuleName == "horizon"
            ? .horizon(SwitchingRule(horizonIterations: switchHorizonIterations, minimumRelativeGain: minimumGain))
            : .payback(PaybackRule(paybackFactor: paybackFactor, minimumRelativeGain: minimumGain))
    }

    /// The daemon's per-device planning settings (a device may choose its own switching rule and
    /// push mode): what `splitctl simulate --policies daemon` evaluates.
    package var planningSettings: DevicePlanningSettings {
        DevicePlanningSettings(estimator: estimator, thresholds: replanThresholds, switching: switching, pushMode: .table)
    }

    /// The path where a generated admin token is written.
    package var adminTokenFile: URL { stateDirectory.appendingPathComponent("admin-token") }
}

/// A configuration value that cannot be used.
package struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    package let variable: String
    package let reason: String
    package init(_ variable: String, _ reason: String) {
        self.variable = variable
        self.reason = reason
    }
    package var description: String { "\(variable) \(reason)" }
}
