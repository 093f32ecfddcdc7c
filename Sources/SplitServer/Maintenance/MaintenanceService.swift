import Foundation
import Logging
import ServiceLifecycle
import SplitStore

/// Leader-only upkeep: one replica at a time (a lease with a fencing token) creates telemetry
/// partitions a few days ahead and drops those past the retention period. The work runs in a
/// transaction that first re-checks the lease (`LeaseRepository.verify`), so a replica that lost
/// the lease while paused cannot act on a stale token.
struct MaintenanceService: Service {
    static let leaseName = "maintenance"

    let pool: ConnectionPool
    let owner: String
    let retentionDays: Int
    let interval: TimeInterval
    let logger: Logger

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
            await sleepUnlessShuttingDown(interval)
        }
        if let lease { _ = try? await pool.withConnection { try LeaseRepository.release(lease, connection: $0) } }
    }

    func runOnce(_ lease: Lease) async throws {
        let (created, dropped) = try await pool.withConnection { [retentionDays] connection in
            try connection.transaction { () -> (Int, [String]) in
                guard try LeaseRepository.verify(lease, connection: connection) else { return (0, []) }
                let now = Date()
                let created = try TelemetryRepository.ensurePartitions(from: now.addingTimeInterval(-86_400), to: now.addingTimeInterval(3 * 86_400), connection: connection)
                let dropped = try TelemetryRepository.dropPartitions(keepDays: retentionDays, connection: connection)
                return (created, dropped)
            }
        }
        if created > 0 || !dropped.isEmpty {
            logger.info("telemetry partitions", metadata: ["created": "\(created)", "dropped": "\(dropped.joined(separator: ","))"])
        }
    }
}
