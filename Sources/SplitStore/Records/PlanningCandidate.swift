import Foundation
import SplitCore

/// A device that needs planning, with everything the planner needs, claimed by one replica.
package struct PlanningCandidate: Sendable {
    package var deviceID: String
    package var modelName: String
    /// The version to plan for (pinned, else the latest).
    package var modelVersion: Int
    package var edgeServerID: String
    package var serverFLOPs: Double
    package var batchSize: Int
    /// Registered device throughput, or the measured one when telemetry reports it.
    package var deviceFLOPs: Double
    package var allowRawUpload: Bool
    /// Whether plans for it are pushed (callback URL set and webhooks enabled).
    package var deliverable: Bool
    /// What it wants pushed, and the optimizer it trains with.
    package var pushMode: PushMode
    package var optimizer: Optimizer
    /// Its device memory limit: the registered `memory_bytes`, or the memory it reported
    /// available, whichever is smaller (nil: no limit).
    package var memoryLimitBytes: Int64?
    package var link: LinkEstimate
    /// Why the device was asked to be planned, if it was.
    package var requestedReason: PlanReason?
    /// When its device / server profile last changed (nil: none), to key parsed-profile caches.
    package var deviceProfileVersion: Date?
    package var serverProfileVersion: Date?
    /// The current plan, if any.
    package var current: CurrentPlan?
    /// The planning request as it was before the claim cleared it (put back if planning fails).
    package var claim: Claim
    /// Whether it was evaluated before this claim (a device never evaluated has no plan).
    package var evaluatedBefore: Bool
    /// Its previous evaluation (nil if none): the link and time, and the switching rule's state.
    package var previous: Evaluation?
    /// Its own switching rule (nil: the daemon's).
    package var switching: SwitchingPolicy?

    /// A previous evaluation, as the claim found it before recording this one.
    package struct Evaluation: Sendable {
        package var link: LinkEstimate
        package var at: Date
        /// The payback rule's accrued savings per segment of the table `switchingTable` (digest).
        package var accruedSavingSeconds: [Double]
        package var switchingTable: String?
    }

    /// A device's planning request, as claimed.
    package struct Claim: Sendable {
        package var reason: String
        package var requestedAt: Date?
        /// Its place in the planning queue.
        package var position: QueuePosition
        /// Consecutive planning failures before this claim, and the memory it lacked if it was infeasible.
        package var failures: Int
        package var infeasibleRequiredBytes: Int64?
    }

    /// What the planner needs to know about the plan in force.
    package struct CurrentPlan: Sendable {
        package var id: Int64
        package var modelVersion: Int
        package var splitFingerprint: String?
        package var deviceFLOPs: Double
        package var serverFLOPs: Double
        package var batchSize: Int
        /// Its split's cost apart from the link, valid while FLOPs and batch are unchanged.
        package var cost: SplitCost
        /// The optimizer and memory limit it was made under, and the digest of its table.
        package var optimizer: Optimizer?
        package var memoryLimitBytes: Int64?
        package var tableDigest: String?

        /// Its delay under new link rates, when the compute side has not changed (nil otherwise).
        package func delay(_ conditions: PlanningConditions) -> Double? {
            guard conditions.deviceFLOPsPerSecond == deviceFLOPs, conditions.serverFLOPsPerSecond == serverFLOPs,
                conditions.batchSize == batchSize
            else { return nil }
            return cost.delaySeconds(
                uplinkBitsPerSecond: conditions.uplinkBitsPerSecond, downlinkBitsPerSecond: conditions.downlinkBitsPerSecond,
                rttSeconds: conditions.rttSeconds)
        }
    }
}

/// A place in the planning queue, which is ordered by request time and then device id: the key of
/// a claimed request. The time is kept as PostgreSQL wrote it, so that claiming behind it compares
/// exactly in SQL, and as a `Date` to order positions here.
package struct QueuePosition: Sendable, Comparable {
    package var requestedAt: String
    package var time: Date
    package var deviceID: String

    package static func < (left: QueuePosition, right: QueuePosition) -> Bool { (left.time, left.deviceID) < (right.time, right.deviceID) }
    package static func == (left: QueuePosition, right: QueuePosition) -> Bool {
        left.requestedAt == right.requestedAt && left.deviceID == right.deviceID
    }
}
