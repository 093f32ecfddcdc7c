import Foundation
import Logging
import ServiceLifecycle
import SplitStore

/// Leader-only upkeep: one replica at a time (a lease with a fencing token) creates telemetry
/// partitions a few days ahead, drops those past the retention period (and refused moves with
/// them), and deletes finished webhook deliveries past theirs. The work runs in transactions that first re-check the lease
/// (`LeaseRepository.verify`), so a replica that lost the lease while paused cannot act on a stale
/// token.
struct MaintenanceService: Service {
    static let leaseName = "maintenance"

    let pool: ConnectionPool
    let owner: String
    let retentionDays: Int
    let interval: TimeInterval
    let logger: Logger
    /// Finished deliveries whose last activity is older than this are deleted (`SPLITD_DELIVERY_RETENTION`).
    var deliveryRetentionSeconds: TimeInterval = 7 * 86_400
    /// Deliveries looked at (and at most deleted) per transaction: a batch holds row locks only on
    /// finished rows, for milliseconds, so delivery is never held up.
    var trimBatchSize = 10_000

    func run() async throws {
        var lease: Lease?
        while keepRunning {
            do {
                lease = try await pool.withConnection { [owner, interval] in
                    try LeaseRepository.acquire(name: Self.leaseName, owner: owner, ttlSeconds: interval * 3, connection: $0)
                }
                if let lease { try await runOnce(lease) }
            } catch {
                logger.error("maintenance failed", metadata: ["error": "\(error)"])
            }
            do {
                if let lease { try await trimDeliveries(lease, forAtMost: interval) }
            } catch {
                logger.error("trimming webhook deliveries failed", metadata: ["error": "\(error)"])
            }
            await sleepUnlessShuttingDown(interval)
        }
        if let lease { _ = try? await pool.withConnection { try LeaseRepository.release(lease, connection: $0) } }
    }

    func runOnce(_ lease: Lease) async throws {
        let (created, dropped) = try await pool.withConnection { [retentionDays, trimBatchSize] connection in
            try connection.transaction { () -> (Int, [String]) in
                guard try LeaseRepository.verify(lease, connection: connection) else { return (0, []) }
                let now = Date()
                let created = try TelemetryRepository.ensurePartitions(
                    from: now.addingTimeInterval(-86_400), to: now.addingTimeInterval(3 * 86_400),
                    connection: connection)
                let dropped = try TelemetryRepository.dropPartitions(keepDays: retentionDays, connection: connection)
                try PlanRepository.trimRefusals(
                    before: now.addingTimeInterval(-Double(retentionDays) * 86_400), limit: trimBatchSize, connection: connection)
                return (created, dropped)
            }
        }
        if created > 0 || !dropped.isEmpty {
            logger.info("telemetry partitions", metadata: ["created": "\(created)", "dropped": "\(dropped.joined(separator: ","))"])
        }
    }
}

extension MaintenanceService {
    /// Deletes finished deliveries past the retention, `trimBatchSize` per transaction, each
    /// transaction re-checking the lease. Stops when none are left, when the lease is lost, on
    /// shutdown, or after `seconds` (the lease outlives a maintenance period: the next run goes on
    /// from the oldest left). Returns how many it deleted.
    @discardableResult
    func trimDeliveries(_ lease: Lease, forAtMost seconds: TimeInterval = .infinity) async throws -> Int {
        let cutoff = Date().addingTimeInterval(-deliveryRetentionSeconds)
        let deadline = Date().addingTimeInterval(seconds)
        var position: TrimPosition?
        var deleted = 0, batches = 0
        while keepRunning {
            let batch = try await pool.withConnection { [position, trimBatchSize] connection in
                try connection.transaction { () -> TrimBatch? in
                    guard try LeaseRepository.verify(lease, connection: connection) else { return nil }
                    return try DeliveryRepository.trimFinished(before: cutoff, after: position, limit: trimBatchSize, connection: connection)
                }
            }
            guard let batch else { break }  // the lease changed hands
            deleted += batch.deleted
            batches += 1
            position = batch.position
            if batch.scanned < trimBatchSize || Date() >= deadline { break }
        }
        if deleted > 0 {
            logger.info(
                "webhook deliveries trimmed",
                metadata: [
                    "deleted": "\(deleted)", "batches": "\(batches)", "retention_seconds": "\(deliveryRetentionSeconds)",
                ])
        }
        return deleted
    }
}
