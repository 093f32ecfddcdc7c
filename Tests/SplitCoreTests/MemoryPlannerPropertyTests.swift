import Testing

@testable import SplitCore

/// Random graphs with random parameter sizes, so device memory has weights and activations.
enum RandomMemoryGraphs {
    /// `graph` with every layer's `param_bytes` drawn at random (sometimes zero); assertion
    /// layers keep none, as in traced graphs, so they stay followers of the block planner.
    static func withParameters(_ graph: ModelGraph, seed: UInt64) -> ModelGraph? {
        var random = SplitMix64.property(seed: seed ^ 0x5EED_0F_4A7A)
        let layers = graph.layers.map { layer -> Layer in
            var copy = layer
            copy.parameterBytes = layer.op == "assert" ? 0 : RandomGraphs.magnitude(&random, scale: 2e6, zeroChance: 0.3).rounded()
            copy.outputBytes = copy.outputBytes.rounded()
            return copy
        }
        return try? ModelGraph(name: graph.name, layers: layers, outputs: graph.outputs.map { graph.layers[$0].name })
    }

    /// A device profile measuring times and `memory_bytes` (sometimes 0) for random layers.
    static func deviceProfile(_ graph: ModelGraph, seed: UInt64) throws -> LayerProfile {
        var random = SplitMix64.property(seed: seed ^ 0x9A0F_11E5)
        var milliseconds: [String: (forward: Double, backward: Double)] = [:]
        var memory: [String: Double] = [:]
        for layer in graph.layers {
            if Bool.random(using: &random) {
                milliseconds[layer.name] = (
                    RandomGraphs.magnitude(&random, scale: 1),
                    RandomGraphs.magnitude(
                        &random,
                        scale: 2)
                )
            }
            if Bool.random(using: &random) { memory[layer.name] = RandomGraphs.magnitude(&random, scale: 4e5, zeroChance: 0.3).rounded() }
        }
        return try LayerProfile(batchSize: 4, milliseconds: milliseconds, memoryBytes: memory)
    }

    /// The least memory any valid split needs, from a planner that must refuse a 1-byte limit
    /// (or nil when 1 byte is enough).
    static func minimumMemory(_ planner: SplitPlanner, _ algorithm: PlanningAlgorithm, _ conditions: PlanningConditions) throws -> Int64? {
        var tiny = conditions
        tiny.deviceMemoryLimitBytes = 1
        do {
            _ = try planner.plan(algorithm, conditions: tiny)
            return nil
        } catch PlanningError.deviceMemoryExceeded(let required, _) {
            return required
        }
    }

    /// Limits around the interesting points: below the least memory (infeasible), at it, between
    /// it and the fastest split's memory (binding), just under and at the fastest split's memory.
    static func limits(minimum: Int64, fastest: Int64, random: inout SplitMix64) -> [Int64] {
        var limits: Set<Int64> = [max(1, minimum), max(1, fastest), max(1, fastest - 1), max(1, minimum - 1)]
        if fastest > minimum + 1 {
            for _ in 0..<2 { limits.insert(Int64.random(in: minimum...fastest, using: &random)) }
        }
        return limits.sorted()
    }
}

@Suite("Planning under a device memory limit: random DAGs")
struct MemoryPlannerPropertyTests {
    /// Outcome of one planner under one limit: a plan, or the least memory reported as needed.
    enum Outcome {
        case plan(Plan)
        case infeasible(Int64)
    }

    static func outcome(_ planner: SplitPlanner, _ algorithm: PlanningAlgorithm, _ conditions: PlanningConditions) throws -> Outcome {
        do {
            return .plan(try planner.plan(algorithm, conditions: conditions))
        } catch PlanningError.deviceMemoryExceeded(let required, let limit) {
            #expect(limit == conditions.deviceMemoryLimitBytes)
            return .infeasible(required)
        }
    }

    /// Tallies of the limits a property test checked, by what the limit did.
    struct LimitCounts {
        var binding = 0, infeasible = 0, loose = 0
    }

    /// Checks `dag` and `block` (and the baselines) against brute force under limits around the
    /// interesting points of `model` (least memory, fastest split's memory).
    static func checkAgainstBruteForce(
        _ model: PreparedModel, _ conditions: PlanningConditions, seed: UInt64,
        counts: inout LimitCounts
    ) throws {
        var conditions = conditions
        let brute = SplitPlanner(model: model), dag = SplitPlanner(model: model), block = SplitPlanner(model: model)
        let fastest = try brute.plan(.brute, conditions: conditions)
        let minimum = try RandomMemoryGraphs.minimumMemory(brute, .brute, conditions) ?? 1
        var random = SplitMix64.property(seed: seed)
        for limit in RandomMemoryGraphs.limits(minimum: minimum, fastest: fastest.deviceMemoryBytes, random: &random) {
            conditions.deviceMemoryLimitBytes = limit
            let label = "seed \(seed) limit \(limit)"
            switch try Self.outcome(brute, .brute, conditions) {
            case .infeasible(let required):
                counts.infeasible += 1
                #expect(required == minimum, "\(label)")
                for planner in [dag, block] {
                    let algorithm: PlanningAlgorithm = planner === dag ? .dag : .block
                    guard case .infeasible(let reported) = try Self.outcome(planner, algorithm, conditions) else {
                        Issue.record("\(label): \(algorithm) planned although nothing fits")
                        continue
                    }
                    #expect(reported == minimum, "\(label): \(algorithm) says \(reported), brute \(minimum)")
                }
            case .plan(let reference):
                if reference.memoryBound { counts.binding += 1 } else { counts.loose += 1 }
                #expect(reference.deviceMemoryBytes <= limit)
                for (planner, algorithm) in [(dag, PlanningAlgorithm.dag), (block, .block)] {
                    guard case .plan(let plan) = try Self.outcome(planner, algorithm, conditions) else {
                        Issue.record("\(label): \(algorithm) found nothing that fits")
                        continue
                    }
                    #expect(model.violation(of: plan.onDevice) == nil, "\(label) \(algorithm)")
                    #expect(plan.deviceMemoryBytes <= limit, "\(label) \(algorithm): \(plan.deviceMemoryBytes) > \(limit)")
                    let memory = try model.deviceMemoryBytes(
                        onDevice: plan.onDevice, batchSize: conditions.batchSize,
                        optimizer: conditions.optimizer)
                    #expect(plan.deviceMemoryBytes == memory)
                    #expect(
                        relativeDifference(plan.delaySeconds, reference.delaySeconds) <= 1e-9,
                        "\(label) \(algorithm): \(plan.delaySeconds) vs brute \(reference.delaySeconds)")
                    #expect(plan.memoryBound == reference.memoryBound, "\(label) \(algorithm): memory_bound")
                }
                for baseline in [PlanningAlgorithm.chain, .boundary, .serverOnly] {
                    do {
                        let plan = try dag.plan(baseline, conditions: conditions)
                        #expect(plan.deviceMemoryBytes <= limit && model.violation(of: plan.onDevice) == nil, "\(label) \(baseline)")
                        #expect(plan.delaySeconds >= reference.delaySeconds * (1 - 1e-9), "\(label): \(baseline) beat the optimum")
                    } catch PlanningError.noCandidateWithinMemory(let algorithm, _) {
                        #expect(algorithm == baseline.rawValue)
                    }
                }
            }
        }
    }

    @Test(
        """
        dag and block under a limit equal brute force on 2,000+ random DAGs (binding, non-binding and infeasible limits; measured memory on a \
        quarter)
        """)
    func exactAgainstBruteForce() throws {
        var checked = 0, counts = LimitCounts(), seed: UInt64 = 50_000
        while checked < 2_100 {
            seed += 1
            guard let base = RandomGraphs.unstructured(seed: seed, count: 3 + Int(seed % 13)),
                let graph = RandomMemoryGraphs.withParameters(base, seed: seed)
            else { continue }
            let profile = seed % 4 == 1 ? try RandomMemoryGraphs.deviceProfile(graph, seed: seed) : nil
            guard let model = try? PreparedModel(graph: graph, deviceProfile: profile, allowRawUpload: seed % 3 == 0) else { continue }
            var conditions = RandomGraphs.conditions(seed: seed)
            conditions.optimizer = Optimizer.allCases[Int(seed % 3)]
            try Self.checkAgainstBruteForce(model, conditions, seed: seed, counts: &counts)
            checked += 1
        }
        #expect(checked >= 2_000)
        #expect(counts.binding > 1_000 && counts.infeasible > 1_000 && counts.loose > 1_000, "\(counts)")
    }

    @Test("block under a limit equals brute force on 600 small NASNet-like graphs split into windows (guards as followers)")
    func windowsExactAgainstBruteForce() throws {
        var checked = 0, windowed = 0, withFollowers = 0, counts = LimitCounts(), seed: UInt64 = 80_000
        while checked < 600 {
            seed += 1
            guard let base = RandomGraphs.nasnetLike(seed: seed, cells: 1 + Int(seed % 3), combines: 1...2, branchLength: 2),
                let graph = RandomMemoryGraphs.withParameters(base, seed: seed),
                let model = try CellPlannerTests.prepare(graph, allowRaw: seed % 2 == 0),
                model.rules.forcedDevice.indices.filter({ model.rules.isFree($0) }).count <= SplitPlanner.bruteForceLimit
            else { continue }
            if model.decomposition.windowCount > 1 { windowed += 1 }
            if model.decomposition.isFollower.contains(true) { withFollowers += 1 }
            var conditions = RandomGraphs.conditions(seed: seed)
            conditions.optimizer = Optimizer.allCases[Int(seed % 3)]
            try Self.checkAgainstBruteForce(model, conditions, seed: seed, counts: &counts)
            checked += 1
        }
        #expect(windowed >= checked / 2, "most graphs should split into several windows: \(windowed) of \(checked)")
        #expect(withFollowers >= checked / 4, "guards should often be followers: \(withFollowers) of \(checked)")
        #expect(counts.binding > 300 && counts.infeasible > 300 && counts.loose > 300, "\(counts)")
    }

    /// Random graph families for the larger block == dag comparison.
    enum Family: String, CaseIterable, Sendable {
        case unstructured, nasnet
    }

    @Test("block equals dag under limits on larger random DAGs and NASNet-like graphs (windows)", arguments: Family.allCases)
    func blockMatchesDag(family: Family) throws {
        var checked = 0, windowed = 0
        let seeds: Range<UInt64> = family == .unstructured ? 60_000..<60_300 : 61_000..<61_300
        for seed in seeds {
            let base =
                family == .unstructured
                ? RandomGraphs.unstructured(seed: seed, count: 20 + Int(seed % 40))
                : RandomGraphs.nasnetLike(seed: seed, cells: 2 + Int(seed % 6))
            guard let base, let graph = RandomMemoryGraphs.withParameters(base, seed: seed) else { continue }
            let model: PreparedModel
            if family == .unstructured {
                guard let prepared = try? PreparedModel(graph: graph, allowRawUpload: seed % 2 == 0) else { continue }
                model = prepared
            } else {
                // A quarter with default window sizes, a quarter with measured memory (and times).
                let profile = seed % 4 == 1 ? try RandomMemoryGraphs.deviceProfile(graph, seed: seed) : nil
                guard let prepared = try CellPlannerTests.prepare(graph, allowRaw: seed % 2 == 0, profile: profile, splitAll: seed % 4 != 0)
                else { continue }
                model = prepared
            }
            if model.decomposition.windowCount > 1 { windowed += 1 }
            var conditions = RandomGraphs.conditions(seed: seed)
            conditions.optimizer = Optimizer.allCases[Int(seed % 3)]
            let planner = SplitPlanner(model: model)
            let fastest = try planner.plan(.dag, conditions: conditions)
            let minimum = try RandomMemoryGraphs.minimumMemory(planner, .dag, conditions) ?? 1
            #expect(try RandomMemoryGraphs.minimumMemory(planner, .block, conditions) ?? 1 == minimum, "seed \(seed)")
            var random = SplitMix64.property(seed: seed)
            for limit in RandomMemoryGraphs.limits(minimum: minimum, fastest: fastest.deviceMemoryBytes, random: &random) {
                conditions.deviceMemoryLimitBytes = limit
                switch (try Self.outcome(planner, .dag, conditions), try Self.outcome(planner, .block, conditions)) {
                case let (.plan(dag), .plan(block)):
                    #expect(relativeDifference(dag.delaySeconds, block.delaySeconds) <= 1e-9, "seed \(seed) limit \(limit)")
                    #expect(dag.memoryBound == block.memoryBound, "seed \(seed) limit \(limit): memory_bound")
                    #expect(block.deviceMemoryBytes <= limit && model.violation(of: block.onDevice) == nil)
                case let (.infeasible(a), .infeasible(b)):
                    #expect(a == b && a == minimum)
                default:
                    Issue.record("seed \(seed) limit \(limit): dag and block disagree on feasibility")
                }
            }
            checked += 1
        }
        #expect(checked >= 200)
        if family == .nasnet { #expect(windowed >= checked / 2, "most NASNet-like graphs should have several windows") }
    }
}
