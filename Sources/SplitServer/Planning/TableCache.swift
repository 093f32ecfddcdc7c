import Crypto
import Foundation
import SplitCore
import SplitSupport

/// Plan tables computed by the daemon, shared by every device with the same prepared model and
/// compute side (a fleet has few), and kept while they are used.
///
/// A daemon table is computed with an RTT of 0: the RTT moves every split's delay alike, so it
/// never changes which split a rate calls for, and a device adds its own measured RTT. Tables
/// are computed under the device's memory limit (memory does not depend on the link).
package final class TableCache: @unchecked Sendable {
    /// A table, its document as pushed and stored (`PlanTableReport` JSON) and that document's digest.
    struct Entry: Sendable {
        let table: PlanTable
        let document: String
        let digest: String
    }

    private struct Key: Hashable {
        let model: ObjectIdentifier
        let conditions: ComputeConditions
    }

    private let lock = NSLock()
    private var entries: [Key: (entry: Entry, lastUse: UInt64)] = [:]
    private var clock: UInt64 = 0
    let capacity: Int

    package init(capacity: Int = 4096) { self.capacity = capacity }

    /// The table of `model` under `conditions` (their rates ignored, RTT set to 0), computed with
    /// `planner` (`algorithm`) on a miss. Throws what planning throws (a memory limit no split meets).
    func table(model: PreparedModel, conditions: PlanningConditions, planner: SplitPlanner, algorithm: PlanningAlgorithm) throws -> Entry {
        var compute = ComputeConditions(conditions)
        compute.rttSeconds = 0
        let key = Key(model: ObjectIdentifier(model), conditions: compute)
        lock.lock()
        clock += 1
        if let cached = entries[key] {
            entries[key]?.lastUse = clock
            lock.unlock()
            return cached.entry
        }
        lock.unlock()
        let table = try PlanTable.compute(model: model, conditions: compute) { try planner.plan(algorithm, conditions: $0) }
        let data = try PlanTableReport(table: table, model: model, algorithm: algorithm).jsonData()
        let entry = Entry(table: table, document: String(decoding: data, as: UTF8.self), digest: Hex.encode(SHA256.hash(data: data)))
        lock.lock()
        defer { lock.unlock() }
        entries[key] = (entry, clock)
        if entries.count > capacity {
            // Drop the least recently used quarter (a model object that was evicted from the model
            // cache can never be asked for again, so its tables age out here).
            for victim in entries.sorted(by: { $0.value.lastUse < $1.value.lastUse }).prefix(capacity / 4).map(\.key) { entries[victim] = nil }
        }
        return entry
    }
}
