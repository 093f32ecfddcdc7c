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
/// is retried on the schedule (honouring Retry-After) until it is dead. A delivery that can never
/// be sent (its URL is refused, its payload cannot be encoded) is dead at once, with the reason.
///
/// Deliveries are a pipeline, not batches: each request finishes on its own and the worker keeps
/// claiming while slow ones are in flight. `DeliveryGate` shares the replica's capacity between
/// receivers (origins: scheme, host and port), so a receiver that hangs holds only its own
/// deliveries: a receiver has at most 32 requests in flight, one at a time (with the full
/// timeout) once it keeps timing out, and such receivers together never hold more than half the
/// capacity. A crash leaves deliveries leased; they are retried when the lease expires (the lease
/// outlasts the request timeout, see `ServerConfiguration.checkCombinations`), so a receiver may see a
/// message twice (same `webhook-id`) but never loses one. On graceful shutdown the requests in
/// flight finish and this replica's remaining leases are handed back.
package struct DeliveryService: Service {
    let pool: ConnectionPool
    let secrets: SecretBox
    let client: WebhookClient
    let policy: TargetPolicy
    /// The daemon's estimator and default switching rule, sent with each plan (with the device's own
    /// rule when it has one) so a device holding a table decides as the daemon does.
    let planning: DevicePlanningSettings
    let schedule: RetrySchedule
    let owner: String
    let batchSize: Int
    let workers: Int
    let leaseSeconds: Double
    let metrics: ServerMetrics
    let logger: Logger
    /// Requests in flight, in all and per receiver; its capacity is the client's connections.
    let gate: DeliveryGate

    package init(
        pool: ConnectionPool, secrets: SecretBox, client: WebhookClient, policy: TargetPolicy, planning: DevicePlanningSettings,
        schedule: RetrySchedule, owner: String, batchSize: Int, workers: Int, leaseSeconds: Double, metrics: ServerMetrics,
        logger: Logger
    ) {
        self.pool = pool
        self.secrets = secrets
        self.client = client
        self.policy = policy
        self.planning = planning
        self.schedule = schedule
        self.owner = owner
        self.batchSize = batchSize
        self.workers = workers
        self.leaseSeconds = leaseSeconds
        self.metrics = metrics
        self.logger = logger
        self.gate = DeliveryGate(capacity: client.maximumConnections)
    }

    package func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask { await runWorker(owner: "\(owner)/\(worker)") }
            }
            group.addTask { await reportQueueDepth() }
        }
    }

    /// What became of one claimed delivery.
    enum Attempt: Sendable {
        /// The request was made (or could not be: a transport error, a timeout, no address).
        case sent(WebhookOutcome)
        /// It can never be sent: dead at once.
        case refused(Refusal)
    }

    /// Why a delivery can never be sent, for its row, its log line and its metric.
    struct Refusal: Sendable, Equatable {
        var reason: String
        /// `splitd_webhook_deliveries_total` outcome: `refused` (SSRF guard, unusable URL) or
        /// `unencodable` (a payload that is not valid JSON, such as a non-finite number).
        var metric: String
        var message: Logger.Message

        init(_ error: Error) {
            reason = "\(error)"
            switch error as? WebhookError {
            case .unencodablePayload?:
                metric = "unencodable"
                message = "webhook payload cannot be encoded; delivery is dead"
            case .invalidURL?, .forbiddenTarget?:
                metric = "refused"
                message = "webhook refused by the SSRF guard; delivery is dead"
            default:
                metric = "refused"
                message = "webhook cannot be sent; delivery is dead"
            }
        }
    }

    /// A signed delivery ready to be sent once its host is resolved and vetted.
    struct PreparedDelivery: Sendable {
        var callback: CallbackURL
        var body: Data
        var headers: [String: String]
    }

    /// The smallest claim while receivers are busy.
    static let smallestClaim = 8

    private enum Event: Sendable {
        case finished(ClaimedDelivery, Attempt)
        case tick
    }

    private func runWorker(owner: String) async {
        await withTaskGroup(of: Event.self) { group in
            var inFlight = 0, ticking = false
            var finished: [(ClaimedDelivery, Attempt)] = []
            // How many to claim next: halved while claims meet busy receivers (a busy receiver's
            // backlog would otherwise be claimed and handed back whenever one of its requests
            // finishes), doubled back while everything claimed is sent.
            var claimLimit = batchSize
            while keepRunning {
                var full = false
                let slots = gate.reserve(upTo: claimLimit)
                if slots > 0 {
                    let started = await start(owner: owner, slots: slots, in: &group)
                    inFlight += started.sent
                    finished += started.refused
                    claimLimit = started.handedBack > 0 ? max(min(Self.smallestClaim, batchSize), claimLimit / 2) : min(batchSize, claimLimit * 2)
                    full = started.claimed == slots && started.handedBack == 0
                }
                // The claim took all it could and sent it: more may be due right away.
                if full { continue }
                if !ticking {
                    ticking = true
                    let pause = inFlight == 0 ? 0.25 : 0.05
                    group.addTask {
                        await sleepUnlessShuttingDown(pause)
                        return .tick
                    }
                }
                // Wait for a request to finish or the tick, whichever comes first.
                switch await group.next() {
                case .finished(let delivery, let attempt)?:
                    inFlight -= 1
                    finished.append((delivery, attempt))
                case .tick?: ticking = false
                case nil: break
                }
                if finished.count >= 64 || !ticking || inFlight == 0 { await record(&finished, owner: owner) }
            }
            while let event = await group.next() {
                if case .finished(let delivery, let attempt) = event { finished.append((delivery, attempt)) }
            }
            await record(&finished, owner: owner)
        }
        _ = try? await pool.withConnection { try DeliveryRepository.releaseLeases(owner: owner, connection: $0) }
    }

    /// Claims up to `slots` due deliveries (slots the gate reserved) and starts sending them.
    /// Returns how many were claimed, started and handed back (their receiver was busy; that costs
    /// no attempt), and those that can never be sent (to be recorded dead).
    private func start(
        owner: String, slots: Int, in group: inout TaskGroup<Event>
    ) async -> (claimed: Int, sent: Int, handedBack: Int, refused: [(ClaimedDelivery, Attempt)]) {
        var unused = slots
        defer { gate.unreserve(unused) }
        let claimed: [ClaimedDelivery]
        do {
            claimed = try await pool.withConnection { [leaseSeconds, secrets] connection in
                try DeliveryRepository.claim(owner: owner, limit: slots, leaseSeconds: leaseSeconds, secrets: secrets, connection: connection)
            }
        } catch {
            logger.error("claiming webhook deliveries failed", metadata: ["error": "\(error)"])
            return (0, 0, 0, [])
        }
        guard !claimed.isEmpty else { return (0, 0, 0, []) }
        let now = Date()
        var refused: [(ClaimedDelivery, Attempt)] = []
        var busy: [Double: [String]] = [:]
        var waiting: [String: Int] = [:]  // deliveries handed back per receiver in this claim
        var sent = 0
        for delivery in claimed {
            let callback: CallbackURL
            do {
                callback = try CallbackURL(delivery.callbackURL)
            } catch {
                refused.append((delivery, .refused(Refusal(error))))
                continue
            }
            let origin = callback.origin
            if case .busy(let seconds) = gate.admit(origin: origin, timeoutSeconds: client.timeoutSeconds, now: now) {
                // A receiver's backlog comes back spread out, a slot's worth at a time, rather
                // than all of it claimed and handed back again every round.
                let queued = waiting[origin, default: 0]
                waiting[origin] = queued + 1
                let delay = seconds + 0.5 * Double(queued / gate.perOrigin)
                busy[(delay * 10).rounded(.up) / 10, default: []].append(delivery.id)
                continue
            }
            unused -= 1  // admitted: the reservation is taken
            // Encoded and signed only once its receiver has room for it.
            let prepared: PreparedDelivery
            do {
                prepared = try prepare(delivery, callback: callback, now: now)
            } catch {
                gate.finish(origin: origin, timedOut: false, answered: false)
                refused.append((delivery, .refused(Refusal(error))))
                continue
            }
            sent += 1
            group.addTask { [client, policy, gate] in
                let attempt = await Self.send(prepared, client: client, policy: policy)
                switch attempt {
                case .sent(let outcome): gate.finish(origin: origin, timedOut: outcome.timedOut, answered: outcome.statusCode != nil)
                case .refused: gate.finish(origin: origin, timedOut: false, answered: false)
                }
                return .finished(delivery, attempt)
            }
        }
        if !busy.isEmpty {
            do {
                try await pool.withConnection { [busy] connection in
                    for (delay, ids) in busy {
                        try DeliveryRepository.release(ids: ids, owner: owner, delaySeconds: delay, connection: connection)
                    }
                }
            } catch {
                logger.error("handing back deliveries to busy receivers failed; their leases expire", metadata: ["error": "\(error)"])
            }
        }
        return (claimed.count, sent, claimed.count - sent - refused.count, refused)
    }

    /// The signed body and headers of a delivery to `callback` (its URL as `CallbackURL`, the
    /// parser registration used, read it); throws `WebhookError` when its payload cannot be encoded.
    func prepare(_ delivery: ClaimedDelivery, callback: CallbackURL, now: Date) throws -> PreparedDelivery {
        var settings = planning
        settings.switching = delivery.switching ?? planning.switching
        let body = try WebhookPayload.body(for: delivery.content, planning: settings, now: now)
        let timestamp = Int(now.timeIntervalSince1970)
        // During a secret rotation's overlap, one signature per valid secret (Standard Webhooks).
        let signature = try delivery.webhookSecrets.map {
            try WebhookSignature.sign(id: delivery.id, timestamp: timestamp, body: body, secret: $0)
        }.joined(separator: " ")
        return PreparedDelivery(
            callback: callback, body: body,
            headers: [
                "content-type": "application/json", "webhook-id": delivery.id,
                "webhook-timestamp": String(timestamp), "webhook-signature": signature,
            ])
    }

    /// Resolves and vets the host (off Swift's threads), then sends; resolving and sending share
    /// the one timeout, so a request never outlives it (nor, therefore, its lease).
    static func send(_ prepared: PreparedDelivery, client: WebhookClient, policy: TargetPolicy) async -> Attempt {
        let started = DispatchTime.now()
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9 }
        let target: TargetPolicy.Target
        do {
            target = try await policy.vet(prepared.callback, timeoutSeconds: client.timeoutSeconds)
        } catch WebhookError.unresolvable(let reason) {
            // DNS may answer later: a failed attempt, retried on the schedule.
            let seconds = elapsed()
            return .sent(
                WebhookOutcome(
                    statusCode: nil, error: "cannot resolve the callback host: \(reason)", retryAfter: nil, seconds: seconds,
                    timedOut: seconds >= client.timeoutSeconds))
        } catch {
            return .refused(Refusal(error))
        }
        let remaining = client.timeoutSeconds - elapsed()
        guard remaining > 0.001 else {
            return .sent(
                WebhookOutcome(statusCode: nil, error: "timed out resolving the callback host", retryAfter: nil, seconds: elapsed(), timedOut: true))
        }
        let request = WebhookRequest(target: target, body: prepared.body, headers: prepared.headers)
        return .sent(await client.send(request, timeoutSeconds: remaining))
    }

    /// Records finished deliveries: all delivered ones in one statement, the rest one by one.
    private func record(_ finished: inout [(ClaimedDelivery, Attempt)], owner: String) async {
        guard !finished.isEmpty else { return }
        let batch = finished
        finished.removeAll()
        do {
            try await pool.withConnection { [schedule, metrics, logger] connection in
                var delivered: [(id: String, statusCode: Int)] = []
                for (delivery, attempt) in batch {
                    if case .sent(let outcome) = attempt, outcome.delivered { delivered.append((delivery.id, outcome.statusCode ?? 200)) }
                }
                try DeliveryRepository.markDelivered(
                    ids: delivered.map(\.id), owner: owner, statusCodes: delivered.map(\.statusCode), connection: connection)
                if !delivered.isEmpty { metrics.delivery("delivered", count: delivered.count) }
                for (delivery, attempt) in batch {
                    let outcome: WebhookOutcome
                    switch attempt {
                    case .refused(let refusal):
                        try DeliveryRepository.markFailed(
                            id: delivery.id, owner: owner, statusCode: nil, error: refusal.reason, retryAt: nil, connection: connection)
                        metrics.delivery(refusal.metric)
                        logger.error(
                            refusal.message,
                            metadata: ["device": "\(delivery.deviceID)", "delivery": "\(delivery.id)", "reason": "\(refusal.reason)"])
                        continue
                    case .sent(let sent):
                        outcome = sent
                    }
                    if outcome.delivered { continue }
                    if outcome.statusCode == 410 {
                        try DeliveryRepository.markFailed(
                            id: delivery.id, owner: owner, statusCode: 410,
                            error: "receiver answered 410 Gone; webhook disabled",
                            retryAt: nil, connection: connection)
                        try DeviceRepository.setWebhookEnabled(deviceID: delivery.deviceID, false, connection: connection)
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
