import SplitCore

/// The lower bounds of a simulation, computed knowing the whole trace.
///
/// **The state space.** Time is continuous, but every policy can only change split at an
/// iteration boundary (a migration, then the iteration), so a schedule is a sequence of splits,
/// one per iteration, and what it achieves is the time its k-th iteration ends. Over the
/// candidate splits S (the plan table's segments and every split a simulated policy ran), let
/// `T[k][s]` be the earliest time at which k iterations can be done with the k-th run in split s
/// (k = 0: the trace's start, any split, as training may start anywhere). Then
///
///     T[k+1][s'] = end of an iteration of s' started at A, A = min over s of migrationEnd(T[k][s], s → s')
///
/// is exact because the physics is first-in first-out: a migration or an iteration that starts
/// later never ends earlier (transfers end at C⁻¹(C(t) + bits) with C non-decreasing, compute and
/// the round trip are constants), so any schedule reaching (k, s) later can be replayed from
/// `T[k][s]` ending no later, and the minimum over predecessors may be taken before the
/// iteration. The DP stops at the first k where every `T[k][s]` is past the trace's end; `K`,
/// the last k with some `T[K][s]` within it, is the most iterations any schedule completes.
///
/// **The unfinished iteration** counts, as for every policy, by the fraction `(end − t)/(F(t) − t)`
/// of an iteration started at t and ending at F(t) > end. That fraction does not increase with t
/// (F non-decreasing and F(t) > end ≥ t), so the best start is the earliest one: the bound's work
/// `K + max over s, s' of that fraction from T[K][s]` is at least any policy's iterations plus its
/// fraction, and its mean delay (trace length / work) at most any policy's. (With start-rate
/// physics, which is not first-in first-out, the same DP is a good schedule, not a proven bound.)
///
/// Cost: O(K·|S|²) migration ends and O(K·|S|) iteration ends, each O(log n) in the trace.
struct Hindsight {
    let physics: Physics
    let registry: SplitRegistry

    /// The optimal schedule over the registry's splits.
    func optimal() -> PolicyResult {
        let count = registry.count
        let start = physics.start, end = physics.end
        var times = [Double](repeating: start, count: count)
        var layers: [[Int32]] = []  // layers[k][s']: the split of iteration k (level k) before s' at level k + 1
        var from = [Int32](repeating: 0, count: count)
        var next = times
        let order = Array(0..<count)
        while true {
            for target in 0..<count {
                var best = Double.infinity, bestFrom = target
                // The same split first, so that a tie keeps it (no move for nothing).
                for source in [target] + order where times[source] <= end && (source != target || best == .infinity) {
                    let ended = physics.step(from: times[source], migration: registry.migration(source, target), phases: registry.phases[target])
                        .ended
                    if ended < best {
                        best = ended
                        bestFrom = source
                    }
                }
                from[target] = Int32(bestFrom)
                next[target] = best
            }
            guard next.contains(where: { $0 <= end }) else { break }
            layers.append(from)
            times = next
        }
        // The unfinished iteration: the largest fraction over (s, s') from T[K][s].
        var bestFraction = 0.0, bestSource = times.firstIndex { $0 <= end } ?? 0
        for source in 0..<count where times[source] <= end {
            for target in 0..<count {
                let (_, _, ended) = physics.step(from: times[source], migration: registry.migration(source, target), phases: registry.phases[target])
                let delay = ended - times[source]
                let fraction = delay > 0 ? min(1, (end - times[source]) / delay) : 0
                if fraction > bestFraction || (fraction == bestFraction && times[source] < times[bestSource]) {
                    (bestFraction, bestSource) = (fraction, source)
                }
            }
        }
        // Back to the schedule that reaches (K, bestSource) for the report's iterations.
        var schedule = [Int](repeating: 0, count: layers.count)
        var split = bestSource
        for k in stride(from: layers.count - 1, through: 0, by: -1) {
            schedule[k] = split
            split = Int(layers[k][split])
        }
        return replay(.hindsight, schedule: schedule, first: split, fraction: bestFraction)
    }

    /// The best single split for the whole trace.
    func bestFixed() -> PolicyResult {
        var best: PolicyResult?
        for split in 0..<registry.count {
            let result = fixed(split)
            if best == nil || result.meanDelaySeconds < best!.meanDelaySeconds { best = result }
        }
        return best!
    }

    /// Split `split` throughout.
    func fixed(_ split: Int) -> PolicyResult {
        let start = physics.start, end = physics.end
        var time = start
        var starts: [Double] = [], delays: [Double] = []
        var partial = 0.0
        while true {
            let ended = physics.step(from: time, migration: SplitMigration(uplinkBytes: 0, downlinkBytes: 0), phases: registry.phases[split]).ended
            let delay = ended - time
            guard delay > 0, ended <= end else {
                if delay > 0 { partial = (end - time) / delay }
                break
            }
            starts.append(time)
            delays.append(delay)
            time = ended
        }
        var result = Simulator.result(.bestFixed, end: end, start: start, starts: starts, delays: delays, partial: partial)
        result.planChanges = 0
        result.iterationSplits = [Int](repeating: split, count: delays.count)
        return result
    }

    /// Runs a schedule (`schedule[k]` the split of iteration k + 1, starting from `first`) to
    /// report it; the unfinished iteration counts by `fraction` (the DP's), or is simulated with
    /// the last split when nil.
    func replay(_ policy: SimulationPolicy, schedule: [Int], first: Int, fraction: Double?) -> PolicyResult {
        let start = physics.start, end = physics.end
        var time = start
        var current = first
        var starts: [Double] = [], delays: [Double] = []
        var changes = 0
        var migrationSeconds = 0.0, migrationBytes = 0.0
        for split in schedule {
            let migration = registry.migration(current, split)
            if split != current { changes += 1 }
            let (moving, _, ended) = physics.step(from: time, migration: migration, phases: registry.phases[split])
            migrationSeconds += moving
            migrationBytes += migration.uplinkBytes + migration.downlinkBytes
            starts.append(time)
            delays.append(ended - time)
            time = ended
            current = split
        }
        let splits = schedule
        var partial = fraction ?? 0
        if fraction == nil {
            let ended = physics.step(from: time, migration: SplitMigration(uplinkBytes: 0, downlinkBytes: 0), phases: registry.phases[current]).ended
            if ended > time { partial = min(1, (end - time) / (ended - time)) }
        }
        var result = Simulator.result(policy, end: end, start: start, starts: starts, delays: delays, partial: partial)
        result.planChanges = changes
        result.migrationSeconds = migrationSeconds
        result.migrationBytes = migrationBytes
        result.iterationSplits = splits
        return result
    }
}
