import Foundation
import Logging
import ServiceLifecycle
import SplitCore
import SplitStore

/// Re-plans the fleet every `interval`: workers claim batches (SKIP LOCKED, so replicas share the
/// work and none is done twice) until no device needs planning, then the loop sleeps. On graceful
/// shutdown the batches in progress finish and commit; no new one starts.
package struct PlanningService: Service {
    let pool: ConnectionPool
    let planner: FleetPlanner
    let interval: TimeInterval
    let batchSize: Int
    let workers: Int
    let metrics: ServerMetrics
    let logger: Logger

    package init(
        pool: ConnectionPool, planner: FleetPlanner, interval: TimeInterval, batchSize: Int, workers: Int, metrics: ServerMetrics,
        logger: Logger
    ) {
        self.pool = pool
        self.planner = planner
        self.interval = interval
        self.batchSize = batchSize
        self.workers = workers
        self.metrics = metrics
        self.logger = logger
    }

    package func run() async throws {
        while keepRunning {
            await runCycle()
            await sleepUnlessShuttingDown(interval)
        }
    }

    /// One cycle: plan until nothing is left; returns devices planned and plans stored.
    @discardableResult
    package func runCycle() async -> (planned: Int, stored: Int) {
        let started = DispatchTime.now()
        let totals = await withTaskGroup(of: (Int, Int).self) { group in
            for _ in 0..<workers {
                group.addTask {
                    var planned = 0, stored = 0
                    // Each worker goes through the queue once per cycle, each claim behind its
                    // previous one: the queue's head holds the index entries of everything just
                    // claimed. (A position shared by the workers measured slower: a claim then
                    // more often steps over the other worker's rows while they are still locked.)
                    var position: QueuePosition?
                    while keepRunning {
                        do {
                            let outcome = try await pool.withConnection { [planner, batchSize, position] connection in
                                try planner.planBatch(limit: batchSize, after: position, connection: connection)
                            }
                            position = outcome.position ?? position
                            planned += outcome.claimed
                            stored += outcome.stored
                            metrics.planned(
                                evaluated: outcome.claimed - outcome.failed, stored: outcome.stored, failed: outcome.failed,
                                infeasible: outcome.infeasible, solveSeconds: outcome.solveSeconds)
                            if outcome.claimed < batchSize { break }
                        } catch {
                            logger.error("planning batch failed", metadata: ["error": "\(error)"])
                            break
                        }
                    }
                    return (planned, stored)
                }
            }
            return await group.reduce(into: (0, 0)) {
                $0.0 += $1.0; $0.1 += $1.1
            }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        metrics.planningCycle(seconds: seconds)
        if totals.0 > 0 {
            logger.info(
                "planning cycle",
                metadata: [
                    "devices": "\(totals.0)", "stored": "\(totals.1)",
                    "seconds": "\(String(format: "%.3f", seconds))",
                ])
        }
        return totals
    }
}
