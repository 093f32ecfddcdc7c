import SplitCore

/// The distinct splits a simulation's policies run, numbered as they appear, with what the
/// physics needs of each: its iteration phases and the migrations between them.
final class SplitRegistry {
    let model: PreparedModel
    let settings: SimulationSettings
    private(set) var splits: [[Bool]] = []
    private(set) var phases: [IterationPhases] = []
    private var indices: [[Bool]: Int] = [:]
    private var migrationCache: [[SplitMigration?]] = []

    init(model: PreparedModel, settings: SimulationSettings) {
        self.model = model
        self.settings = settings
    }

    var count: Int { splits.count }

    /// The number of `onDevice`, registering it (priced from the model) when new.
    func register(_ onDevice: [Bool]) throws -> Int {
        if let index = indices[onDevice] { return index }
        let plan = try model.plan(
            forSplit: onDevice, conditions: settings.conditions(uplinkBitsPerSecond: 1e9, downlinkBitsPerSecond: 1e9, rttSeconds: 0))
        let index = splits.count
        splits.append(onDevice)
        phases.append(IterationPhases(plan: plan, graph: model.graph))
        indices[onDevice] = index
        for row in migrationCache.indices { migrationCache[row].append(nil) }
        migrationCache.append([SplitMigration?](repeating: nil, count: splits.count))
        return index
    }

    /// What moving from split `from` to split `to` sends (nothing when migration is free).
    func migration(_ from: Int, _ to: Int) -> SplitMigration {
        guard from != to, settings.chargesMigration else { return SplitMigration(uplinkBytes: 0, downlinkBytes: 0) }
        if let cached = migrationCache[from][to] { return cached }
        let migration = SplitMigration(from: splits[from], to: splits[to], graph: model.graph, optimizer: settings.optimizer)
        migrationCache[from][to] = migration
        return migration
    }
}
