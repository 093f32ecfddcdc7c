/// How a device that holds a plan table moves between its splits: look the rates up, and switch
/// only when `SwitchingRule` says the move pays for its migration.
extension PlanTable {
    /// The segment a device now running segment `current` should run next at these rates: the
    /// table's segment for the rates if `rule` accepts the move, priced by
    /// `migrationSeconds(current, candidate)`, else `current`.
    public func segmentToRun(
        current: Int, uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double,
        rule: SwitchingRule, migrationSeconds: (Int, Int) -> Double
    ) -> Int {
        let candidate = segmentIndex(
            forEffectiveBitsPerSecond: Self.effectiveBitsPerSecond(
                uplinkBitsPerSecond: uplinkBitsPerSecond, downlinkBitsPerSecond: downlinkBitsPerSecond))
        guard candidate != current else { return current }
        let accepted = rule.shouldSwitch(
            currentSeconds: segments[current].delaySeconds(uplinkBitsPerSecond: uplinkBitsPerSecond, downlinkBitsPerSecond: downlinkBitsPerSecond),
            candidateSeconds: segments[candidate].delaySeconds(
                uplinkBitsPerSecond: uplinkBitsPerSecond,
                downlinkBitsPerSecond: downlinkBitsPerSecond),
            migrationSeconds: migrationSeconds(current, candidate))
        return accepted ? candidate : current
    }

    /// The migration between every pair of segments (`[from][to]`) of a table of `graph`.
    public func migrations(graph: ModelGraph, optimizer: Optimizer) -> [[SplitMigration]] {
        let splits = segments.map { $0.onDevice(layerCount: graph.count) }
        return splits.map { from in splits.map { to in SplitMigration(from: from, to: to, graph: graph, optimizer: optimizer) } }
    }
}
