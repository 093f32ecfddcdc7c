import Foundation
import Logging
import ServiceLifecycle
import SplitPush
import SplitStore

/// Pushes plans from the outbox: claims due deliveries under a lease, checks each callback URL
/// against the SSRF guard, signs (Standard Webhooks) and sends them concurrently through libcurl,
/// then records each outcome with one statement: 2xx delivered; 410 Gone disables the device's
/// webhook; anything else is retried on the schedule (honouring Retry-After) until it is dead.
/// A crash leaves deliveries leased; they are retried when the lease expires, so a receiver may
/// see a message twice (same `webhook-id`) but never loses one. On graceful shutdown the batch in
/// flight finishes and this replica's remaining leases are handed back.
struct DeliveryService: Service {
    let pool: ConnectionPool
    let secrets: SecretBox
    let client: WebhookClient
    let policy: TargetPolicy
    let schedule: RetrySchedule
    let owner: String
    let batchSize: Int
    let workers: Int
    let leaseSeconds: Double
    let metrics: ServerMetrics
    let logger: Logger

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask { await runWorker(owner: "\(owner)/\(worker)") }
            }
            group.addTask { await reportQueueDepth() }
        }
    }

    private func runWorker(owner: String) async {
        while keepRunning {
            let sent: Int
            do {
                sent = try await deliverBatch(owner: owner)
            } catch {
                logger.error("delivery batch failed", metadata: ["error": "\(error)"])
                sent = 0
            }
            if sent == 0 { await sleepUnlessShuttingDown(0.25) }
        }
        _ = try? await pool.withConnection { try DeliveryRepository.releaseLeases(owner: owner, connection: $0) }
    }

    /// Claims, sends and records one batch; returns how many were claimed.
    func deliverBatch(owner: String) async throws -> Int {
        let claimed = try await pool.withConnection { [batchSize, leaseSeconds, secrets] connection in
            try DeliveryRepository.claim(owner: owner, limit: batchSize, leaseSeconds: leaseSeconds, secrets: secrets, connection: connection)
        }
        guard !claimed.isEmpty else { return 0 }
        let now = Date()
        var requests: [WebhookRequest] = []
        var sendable: [ClaimedDelivery] = []
        var refused: [(ClaimedDelivery, String)] = []
        for delivery in claimed {
            do {
                let target = try policy.vet(delivery.callbackURL)
                let body = WebhookPayload(plan: delivery.plan, now: now).encoded()
                let timestamp = Int(now.timeIntervalSince1970)
                // During a secret rotation's overlap, one signature per valid secret (Standard Webhooks).
                let signature = try delivery.webhookSecrets.map {
                    try WebhookSignature.sign(id: delivery.id, timestamp: timestamp, body: body, secret: $0)
                }.joined(separator: " ")
                requests.append(WebhookRequest(target: target, body: body, headers: [
                    "content-type": "application/json", "webhook-id": delivery.id,
                    "webhook-timestamp": String(timestamp), "webhook-signature": signature]))
                sendable.append(delivery)
            } catch {
                refused.append((delivery, "\(error)"))
            }
        }
        let outcomes = await client.send(requests)
        try await pool.withConnection { [schedule, metrics, logger, refused, sendable] connection in
            for (delivery, reason) in refused {
                try DeliveryRepository.markFailed(id: delivery.id, owner: owner, statusCode: nil, error: reason, retryAt: nil, connection: connection)
                metrics.delivery("refused")
                logger.error("webhook refused by the SSRF guard; delivery is dead", metadata: ["device": "\(delivery.deviceID)", "delivery": "\(delivery.id)", "reason": "\(reason)"])
            }
            let delivered = zip(sendable, outcomes).filter { $0.1.delivered }
            try DeliveryRepository.markDelivered(ids: delivered.map(\.0.id), owner: owner, statusCodes: delivered.map { $0.1.statusCode! }, connection: connection)
            metrics.delivery("delivered", count: delivered.count)
            for (delivery, outcome) in zip(sendable, outcomes) where !outcome.delivered {
                if outcome.statusCode == 410 {
                    try DeliveryRepository.markFailed(id: delivery.id, owner: owner, statusCode: 410, error: "receiver answered 410 Gone; webhook disabled",
                                                      retryAt: nil, connection: connection)
                    try FleetRepository.setWebhookEnabled(deviceID: delivery.deviceID, false, connection: connection)
                    metrics.delivery("gone")
                    logger.notice("webhook gone; disabled", metadata: ["device": "\(delivery.deviceID)"])
                } else {
                    let retryAt = schedule.nextAttempt(after: delivery.attempt, retryAfter: outcome.retryAfter)
                    let reason = outcome.error ?? "HTTP \(outcome.statusCode ?? 0)"
                    try DeliveryRepository.markFailed(id: delivery.id, owner: owner, statusCode: outcome.statusCode, error: reason,
                                                      retryAt: retryAt, connection: connection)
                    metrics.delivery(retryAt == nil ? "dead" : "retry")
                    var metadata: Logger.Metadata = ["device": "\(delivery.deviceID)", "delivery": "\(delivery.id)", "attempt": "\(delivery.attempt)",
                                                     "error": "\(reason)"]
                    if let retryAt {
                        metadata["next_attempt"] = "\(Timestamp.format(retryAt))"
                        logger.warning("webhook attempt failed; will retry", metadata: metadata)
                    } else {
                        logger.error("webhook delivery is dead: every attempt failed", metadata: metadata)
                    }
                }
            }
        }
        return claimed.count
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
