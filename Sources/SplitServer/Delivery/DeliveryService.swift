import Foundation
import Logging
import ServiceLifecycle
import SplitCore
import SplitPush
import SplitStore
import SplitSupport

/// Pushes plans from the outbox: claims due deliveries under a lease, checks each callback URL
/// against the SSRF guard, signs them (Standard Webhooks) and sends them through libcurl, then
/// records each outcome: 2xx delivered; 410 Gone disables the device's webhook; anything else
/// is retried on the schedule (honouring Retry-After) until it is dead.
///
/// Deliveries are a pipeline, not batches: each request finishes on its own and the worker keeps
/// claiming while slow ones are in flight, so a receiver that hangs delays only itself. A host
/// has at most `perHostLimit` requests in flight (the rest are handed back for a moment), and a
/// host whose requests keep timing out gets a short time budget (`degradedTimeoutSeconds`) until
/// it answers again. A crash leaves deliveries leased; they are retried when the lease expires,
/// so a receiver may see a message twice (same `webhook-id`) but never loses one. On graceful
/// shutdown the requests in flight finish and this replica's remaining leases are handed back.
package struct DeliveryService: Service {
    let pool: ConnectionPool
    let secrets: SecretBox
    let client: WebhookClient
    let policy: TargetPolicy
    /// The rule devices apply to their tables, sent with each plan so they decide as the daemon does.
    let switching: SwitchingRule
    let schedule: RetrySchedule
    let owner: String
    let batchSize: Int
    let workers: Int
    let leaseSeconds: Double
    let metrics: ServerMetrics
    let logger: Logger
    let hosts = HostHealth()

    package init(
        pool: ConnectionPool, secrets: SecretBox, client: WebhookClient, policy: TargetPolicy, switching: SwitchingRule,
        schedule: RetrySchedule, owner: String, batchSize: Int, workers: Int, leaseSeconds: Double, metrics: ServerMetrics,
        logger: Logger
    ) {
        self.pool = pool
        self.secrets = secrets
        self.client = client
        self.policy = policy
        self.switching = switching
        self.schedule = schedule
        self.owner = owner
        self.batchSize = batchSize
        self.workers = workers
        self.leaseSeconds = leaseSeconds
        self.metrics = metrics
        self.logger = logger
    }

    /// Requests one worker keeps in flight at most.
    var maximumInFlight: Int { max(batchSize, 16) }
    /// Requests in flight to one host at most (per replica).
    static let perHostLimit = 32
    /// After this many consecutive timeouts a host gets the short budget.
    static let timeoutsBeforeDegraded = 2
    /// The time budget of a host that keeps timing out.
    var degradedTimeoutSeconds: Double { min(client.timeoutSeconds, 2) }

    package func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask { await runWorker(owner: "\(owner)/\(worker)") }
            }
            group.addTask { await reportQueueDepth() }
        }
    }

    private enum Event: Sendable {
        case finished(ClaimedDelivery, WebhookOutcome)
        case tick
    }

    private func runWorker(owner: String) async {
        await withTaskGroup(of: Event.self) { group in
            var inFlight = 0, ticking = false
            var finished: [(ClaimedDelivery, WebhookOutcome)] = []
            while keepRunning {
                var claimed = 0
                if inFlight < maximumInFlight {
                    do {
                        let started = try await start(owner: owner, limit: min(batchSize, maximumInFlight - inFlight), in: &group)
                        claimed = started.claimed
                        inFlight += started.sent
                    } catch {
                        logger.error("claiming webhook deliveries failed", metadata: ["error": "\(error)"])
                    }
                }
                if claimed > 0 && inFlight < maximumInFlight { continue }  // more may be due right away
                if !ticking {
                    ticking = true
                    let pause = inFlight == 0 ? 0.25 : 0.05
                    group.addTask {
                        await sleepUnlessShuttingDown(pause); return .tick
                    }
                }
                // Wait for a request to finish or the tick, whichever comes first.
                switch await group.next() {
                case .finished(let delivery, let outcome)?:
                    inFlight -= 1
                    finished.append((delivery, outcome))
                case .tick?: ticking = false
                case nil: break
                }
                if finished.count >= 64 || !ticking || inFlight == 0 { await record(&finished, owner: owner) }
            }
            while let event = await group.next() {
                if case .finished(let delivery, let outcome) = event { finished.append((delivery, outcome)) }
            }
            await record(&finished, owner: owner)
        }
        _ = try? await pool.withConnection { try DeliveryRepository.releaseLeases(owner: owner, connection: $0) }
    }

    /// Claims up to `limit` due deliveries and starts sending them; returns how many were claimed
    /// and how many started (the rest were refused by the SSRF guard or handed back because their
    /// host is busy).
    private func start(owner: String, limit: Int, in group: inout TaskGroup<Event>) async throws -> (claimed: Int, sent: Int) {
        let claimed = try await pool.withConnection { [leaseSeconds, secrets] connection in
            try DeliveryRepository.claim(owner: owner, limit: limit, leaseSeconds: leaseSeconds, secrets: secrets, connection: connection)
        }
        guard !claimed.isEmpty else { return (0, 0) }
        let now = Date()
        var refused: [(ClaimedDelivery, String)] = []
        var busy: [ClaimedDelivery] = []
        var sent = 0
        for delivery in claimed {
            let request: WebhookRequest
            do {
                request = try self.request(for: delivery, now: now)
            } catch {
                refused.append((delivery, "\(error)"))
                continue
            }
            guard
                let timeout = hosts.begin(
                    request.target.host, limit: Self.perHostLimit, normal: client.timeoutSeconds,
                    degraded: degradedTimeoutSeconds, after: Self.timeoutsBeforeDegraded)
            else {
                busy.append(delivery)
                continue
            }
            sent += 1
            group.addTask { [client, hosts] in
                let outcome = await client.send(request, timeoutSeconds: timeout)
                hosts.end(request.target.host, outcome: outcome)
                return .finished(delivery, outcome)
            }
        }
        if !refused.isEmpty || !busy.isEmpty {
            try await pool.withConnection { [metrics, logger, refused, busy] connection in
                for (delivery, reason) in refused {
                    try DeliveryRepository.markFailed(
                        id: delivery.id, owner: owner, statusCode: nil, error: reason, retryAt: nil,
                        connection: connection)
                    metrics.delivery("refused")
                    logger.error(
                        "webhook refused by the SSRF guard; delivery is dead",
                        metadata: ["device": "\(delivery.deviceID)", "delivery": "\(delivery.id)", "reason": "\(reason)"])
                }
                // Busy hosts: handed back without costing an attempt, due again in a moment.
                try DeliveryRepository.release(ids: busy.map(\.id), owner: owner, delaySeconds: 0.5, connection: connection)
            }
        }
        return (claimed.count, sent)
    }

    /// The signed request for a delivery (throws when the SSRF guard refuses its URL).
    func request(for delivery: ClaimedDelivery, now: Date) throws -> WebhookRequest {
        let target = try policy.vet(delivery.callbackURL)
        let body = WebhookPayload.body(for: delivery.content, switching: switching, now: now)
        let timestamp = Int(now.timeIntervalSince1970)
        // During a secret rotation's overlap, one signature per valid secret (Standard Webhooks).
        let signature = try delivery.webhookSecrets.map {
            try WebhookSignature.sign(id: delivery.id, timestamp: timestamp, body: body, secret: $0)
        }.joined(separator: " ")
        return WebhookRequest(
            target: target, body: body,
            headers: [
                "content-type": "application/json", "webhook-id": delivery.id,
                "webhook-timestamp": String(timestamp), "webhook-signature": signature,
            ])
    }

    /// Records finished requests: all deliveries in one statement, failures one by one.
    private func record(_ finished: inout [(ClaimedDelivery, WebhookOutcome)], owner: String) async {
        guard !finished.isEmpty else { return }
        let batch = finished
        finished.removeAll()
        do {
            try await pool.withConnection { [schedule, metrics, logger] connection in
                let delivered = batch.filter { $0.1.delivered }
                try DeliveryRepository.markDelivered(
                    ids: delivered.map(\.0.id), owner: owner, statusCodes: delivered.map { $0.1.statusCode ?? 200 },
                    connection: connection)
                if !delivered.isEmpty { metrics.delivery("delivered", count: delivered.count) }
                for (delivery, outcome) in batch where !outcome.delivered {
                    if outcome.statusCode == 410 {
                        try DeliveryRepository.markFailed(
                            id: delivery.id, owner: owner, statusCode: 410,
                            error: "receiver answered 410 Gone; webhook disabled",
                            retryAt: nil, connection: connection)
                        try FleetRepository.setWebhookEnabled(deviceID: delivery.deviceID, false, connection: connection)
                        metrics.delivery("gone")
                        logger.notice("webhook gone; disabled", metadata: ["device": "\(delivery.deviceID)"])
                        continue
                    }
                    let retryAt = schedule.nextAttempt(after: delivery.attempt, retryAfter: outcome.retryAfter)
                    let reason = outcome.error ?? "HTTP \(outcome.statusCode ?? 0)"
                    try DeliveryRepository.markFailed(
                        id: delivery.id, owner: owner, statusCode: outcome.statusCode, error: reason,
                        retryAt: retryAt, connection: connection)
                    metrics.delivery(retryAt == nil ? "dead" : "retry")
                    var metadata: Logger.Metadata = [
                        "device": "\(delivery.deviceID)", "delivery": "\(delivery.id)", "attempt": "\(delivery.attempt)",
                        "error": "\(reason)",
                    ]
                    if let retryAt {
                        metadata["next_attempt"] = "\(Timestamp.format(retryAt))"
                        logger.warning("webhook attempt failed; will retry", metadata: metadata)
                    } else {
                        logger.error("webhook delivery is dead: every attempt failed", metadata: metadata)
                    }
                }
            }
        } catch {
            // The leases expire and the deliveries are tried again: at least once, never lost.
            logger.error("recording webhook outcomes failed; they will be retried when their leases expire", metadata: ["error": "\(error)"])
        }
    }

    private func reportQueueDepth() async {
        while keepRunning {
            if let depth = try? await pool.withConnection({ try DeliveryRepository.queueDepth(connection: $0) }) {
                metrics.webhookQueue(depth: depth)
            }
            await sleepUnlessShuttingDown(5)
        }
    }
}

/// Per-host bookkeeping shared by the delivery workers: requests in flight, and consecutive
/// timeouts (a host that keeps timing out gets the short time budget until it answers).
final class HostHealth: @unchecked Sendable {
    private let lock = NSLock()
    private var inFlight: [String: Int] = [:]
    private var timeouts: [String: Int] = [:]

    /// Reserves a slot for `host`: the time budget to use, or nil when it already has `limit` in flight.
    func begin(_ host: String, limit: Int, normal: Double, degraded: Double, after threshold: Int) -> Double? {
        lock.lock()
        defer { lock.unlock() }
        guard inFlight[host, default: 0] < limit else { return nil }
        inFlight[host, default: 0] += 1
        return timeouts[host, default: 0] >= threshold ? degraded : normal
    }

    /// Frees the slot and learns from the outcome.
    func end(_ host: String, outcome: WebhookOutcome) {
        lock.lock()
        defer { lock.unlock() }
        inFlight[host, default: 1] -= 1
        if inFlight[host] == 0 { inFlight[host] = nil }
        if outcome.timedOut { timeouts[host, default: 0] += 1 } else if outcome.statusCode != nil { timeouts[host] = nil }
    }
}
