import Foundation
import Metrics
import Prometheus
import Synchronization

/// The daemon's metrics, exported in Prometheus text format at `/metrics`, each with its `# HELP`.
///
/// They are registered on the Prometheus registry directly (with help text) rather than through
/// the swift-metrics facade, whose handlers carry no help; the facade is still bootstrapped onto
/// the same registry for libraries that report through it.
package final class ServerMetrics: Sendable {
    package let registry: PrometheusCollectorRegistry
    private let plansComputed: Prometheus.Counter
    private let plansStored: Prometheus.Counter
    private let planFailures: Prometheus.Counter
    private let infeasibleDevices: Prometheus.Counter
    private let planSolve: DurationHistogram
    private let planningCycle: DurationHistogram
    private let telemetrySamples: Prometheus.Counter
    private let queueDepth: Prometheus.Gauge
    /// The per-route request metrics, made once each (the registry's lookup costs more than a request's work).
    private let requestMetrics = Mutex<[RequestKey: RequestMetrics]>([:])

    private struct RequestKey: Hashable {
        var route: String
        var method: String
        var status: Int
    }

    private struct RequestMetrics {
        var count: Prometheus.Counter
        var latency: DurationHistogram
    }

    private static let bootstrap: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    /// The process-wide metrics (the metrics system can be bootstrapped once per process).
    package static let shared = ServerMetrics()

    private init() {
        let registry = Self.bootstrap
        self.registry = registry
        plansComputed = registry.makeCounter(descriptor: Self.name("plans_computed", "total", "Devices evaluated by the planner."))
        plansStored = registry.makeCounter(
            descriptor: Self.name(
                "plans_stored", "total",
                "New plans stored (each replaced a device's current plan or was its first)."))
        planFailures = registry.makeCounter(
            descriptor: Self.name(
                "plan_failures", "total",
                "Devices the planner could not plan (recorded and retried later)."))
        infeasibleDevices = registry.makeCounter(
            descriptor: Self.name(
                "infeasible_evaluations", "total",
                "Evaluations that found no split fitting the device's memory limit."))
        // Plans take microseconds: buckets from 1 µs to 10 ms.
        planSolve = registry.makeDurationHistogram(
            descriptor: Self.name("plan_solve", "seconds", "Time to compute one device's optimal split."),
            buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000].map { .microseconds($0) })
        planningCycle = registry.makeDurationHistogram(
            descriptor: Self.name("planning_cycle", "seconds", "Time of one planning cycle (claim, plan, store) of one worker."),
            buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60].map { .milliseconds(Int64($0 * 1000)) })
        telemetrySamples = registry.makeCounter(descriptor: Self.name("telemetry_samples", "total", "Telemetry samples accepted and stored."))
        queueDepth = registry.makeGauge(descriptor: Self.name("webhook_queue_depth", "", "Webhook deliveries waiting (pending or to be retried)."))
    }

    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "splitd", metricName: metric, unitName: unit, helpText: help)
    }

    /// One planning batch: devices evaluated, plans stored, failures, and each solve time.
    func planned(evaluated: Int, stored: Int, failed: Int, infeasible: Int = 0, solveSeconds: [Double]) {
        if infeasible > 0 { infeasibleDevices.increment(by: Int64(infeasible)) }
        plansComputed.increment(by: Int64(evaluated))
        plansStored.increment(by: Int64(stored))
        if failed > 0 { planFailures.increment(by: Int64(failed)) }
        for seconds in solveSeconds { planSolve.recordNanoseconds(Int64(seconds * 1e9)) }
    }

    /// One planning cycle took `seconds`.
    func planningCycle(seconds: Double) { planningCycle.recordNanoseconds(Int64(seconds * 1e9)) }

    /// `count` telemetry samples were stored.
    func telemetryStored(_ count: Int) { telemetrySamples.increment(by: Int64(count)) }

    /// The number of deliveries waiting.
    func webhookQueue(depth: Int) { queueDepth.set(to: Double(depth)) }

    /// Deliveries by outcome: delivered, retry, dead, gone (410), refused (SSRF guard), superseded.
    func delivery(_ outcome: String, count: Int = 1) {
        registry.makeCounter(
            descriptor: Self.name("webhook_deliveries", "total", "Webhook delivery attempts by outcome."),
            labels: [
                (
                    "outcome",
                    outcome
                )
            ]
        )
        .increment(by: Int64(count))
    }

    /// A better split the switching rule refused, by the rule's reason.
    func refusedMove(reason: String) {
        registry.makeCounter(
            descriptor: Self.name("refused_moves", "total", "Better splits the switching rule did not move to, by reason."),
            labels: [("reason", reason)]
        )
        .increment()
    }

    /// HTTP requests by route, method and status, and their latency by route.
    func request(route: String, method: String, status: Int, seconds: Double) {
        let key = RequestKey(route: route, method: method, status: status)
        let metrics = requestMetrics.withLock { cached in
            if let metrics = cached[key] { return metrics }
            let metrics = RequestMetrics(
                count: registry.makeCounter(
                    descriptor: Self.name("http_requests", "total", "HTTP requests by route, method and status."),
                    labels: [("route", route), ("method", method), ("status", String(status))]),
                latency: registry.makeDurationHistogram(
                    descriptor: Self.name("http_request", "seconds", "HTTP request latency by route."), labels: [("route", route)],
                    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10].map { .nanoseconds(Int64($0 * 1e9)) }))
            cached[key] = metrics
            return metrics
        }
        metrics.count.increment()
        metrics.latency.recordNanoseconds(Int64(seconds * 1e9))
    }

    /// The Prometheus text exposition.
    package func exposition() -> String { registry.emitToString() }
}
