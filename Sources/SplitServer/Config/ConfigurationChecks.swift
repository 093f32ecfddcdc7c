import Foundation

extension ServerConfiguration {
    /// How much longer than a webhook request a delivery lease must last: the time between the
    /// claim and the request's start, and between its end and the recorded outcome.
    package static let leaseMarginSeconds: Double = 2

    /// Checks the settings against each other (each was checked alone as it was read); the
    /// error names every variable involved and says which to change.
    package func checkCombinations() throws {
        // A request still in flight when its lease ends is claimed and sent again, by this
        // worker's neighbours or another replica: several copies at once, each a new attempt.
        if deliveryLeaseSeconds < webhookTimeout + Self.leaseMarginSeconds {
            throw ConfigurationError(
                "SPLITD_DELIVERY_LEASE",
                """
                (\(Self.duration(deliveryLeaseSeconds))) must be at least SPLITD_WEBHOOK_TIMEOUT (\(Self.duration(webhookTimeout))) \
                plus \(Self.duration(Self.leaseMarginSeconds)): a delivery still in flight when its lease ends is sent again at the same \
                time. Raise SPLITD_DELIVERY_LEASE or lower SPLITD_WEBHOOK_TIMEOUT
                """)
        }
        // Planning workers hold a connection for a whole batch, delivery workers between claims
        // and records; the API and maintenance need one left over or they queue behind them.
        let needed = planWorkers + deliveryWorkers + 2
        if poolSize < needed {
            throw ConfigurationError(
                "SPLITD_DB_POOL",
                """
                (\(poolSize)) must be at least SPLITD_PLAN_WORKERS (\(planWorkers)) + SPLITD_DELIVERY_WORKERS (\(deliveryWorkers)) + 2 \
                = \(needed): every worker may hold a connection at once, and the API and maintenance need theirs. Raise SPLITD_DB_POOL \
                or run fewer workers
                """)
        }
    }

    /// A duration as a person writes it (`7d`, `90s`, `1.5s`, `250ms`).
    static func duration(_ seconds: Double) -> String {
        for (unit, size) in [("d", 86_400.0), ("h", 3600), ("m", 60)] where seconds >= size && seconds.truncatingRemainder(dividingBy: size) == 0 {
            return "\(Int(seconds / size))\(unit)"
        }
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        return seconds == seconds.rounded() ? "\(Int(seconds))s" : "\(seconds)s"
    }
}
