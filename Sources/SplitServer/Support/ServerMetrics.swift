import Foundation
import Metrics
import Prometheus

/// The daemon's metrics, exported in Prometheus text format at `/metrics`.
public final class ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let plansComputed: Metrics.Counter
    let plansStored: Metrics.Counter
    let planFailures: Metrics.Counter
    let planSolve: Metrics.Timer
    let planningCycle: Metrics.Timer
    let telemetrySamples: Metrics.Counter
    let queueDepth: Metrics.Gauge

    private static let bootstrap: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Plans take microseconds: buckets from 1 µs to 10 ms.
        factory.durationHistogramBuckets["splitd_plan_solve_seconds"] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000].map { .microseconds($0) }
        factory.durationHistogramBuckets["splitd_planning_cycle_seconds"] = [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60].map { .milliseconds(Int64($0 * 1000)) }
        MetricsSystem.bootstrap(factory)
        return registry
    }()

    /// The process-wide metrics (the metrics system can be bootstrapped once per process).
    public static let shared = ServerMetrics()

    private init() {
        registry = Self.bootstrap
        plansComputed = Metrics.Counter(label: "splitd_plans_computed_total")
        plansStored = Metrics.Counter(label: "splitd_plans_stored_total")
        planFailures = Metrics.Counter(label: "splitd_plan_failures_total")
        planSolve = Metrics.Timer(label: "splitd_plan_solve_seconds")
        planningCycle = Metrics.Timer(label: "splitd_planning_cycle_seconds")
        telemetrySamples = Metrics.Counter(label: "splitd_telemetry_samples_total")
        queueDepth = Metrics.Gauge(label: "splitd_webhook_queue_depth")
    }

    /// Deliveries by outcome: delivered, retry, dead, gone (410), refused (SSRF guard).
    func delivery(_ outcome: String) -> Metrics.Counter {
        Metrics.Counter(label: "splitd_webhook_deliveries_total", dimensions: [("outcome", outcome)])
    }

    /// HTTP requests by route, method and status.
    func request(route: String, method: String, status: Int, seconds: Double) {
        Metrics.Counter(label: "splitd_http_requests_total", dimensions: [("route", route), ("method", method), ("status", String(status))]).increment()
        Metrics.Timer(label: "splitd_http_request_seconds", dimensions: [("route", route)]).recordNanoseconds(Int64(seconds * 1e9))
    }

    /// The Prometheus text exposition.
    public func exposition() -> String { registry.emitToString() }
}
