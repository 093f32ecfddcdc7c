import Testing

@testable import SplitCore

/// Relative difference of two delays.
func relativeDifference(_ a: Double, _ b: Double) -> Double {
    abs(a - b) / max(abs(a), abs(b), 1e-300)
}

@Suite("Planner properties on random DAGs")
struct PlannerPropertyTests {
    /// Plans `graph` with every algorithm in `algorithms` under `conditions`, checking validity.
    static func plans(
        _ model: PreparedModel, _ conditions: PlanningConditions,
        _ algorithms: [PlanningAlgorithm]
    ) throws -> [PlanningAlgorithm: Plan] {
        let planner = SplitPlanner(model: model)
        var result: [PlanningAlgorithm: Plan] = [:]
        for algorithm in algorithms {
            let plan = try planner.plan(algorithm, conditions: conditions)
            #expect(model.violation(of: plan.onDevice) == nil, "\(algorithm) on \(model.graph.name): \(model.violation(of: plan.onDevice) ?? "")")
            // The reported delay is the cost model evaluated on the partition.
            let check = model.evaluate(onDevice: plan.onDevice, costs: planner.costs, conditions: conditions)
            #expect(check.breakdown.totalSeconds == plan.delaySeconds)
            result[algorithm] = plan
        }
        return result
    }

    @Test("dag equals brute force within 1e-9 on 2,000+ random DAGs, with and without raw upload")
    func dagMatchesBruteForce() throws {
        var checked = 0, conflicts = 0, seed: UInt64 = 0
        while checked < 2_200 {
            seed += 1
            let count = 3 + Int(seed % 12)
            guard let graph = RandomGraphs.unstructured(seed: seed, count: count) else { continue }
            let allowRaw = seed % 3 == 0
            let model: PreparedModel
            do {
                model = try PreparedModel(graph: graph, allowRawUpload: allowRaw)
            } catch let error as PlanningError {
                guard case .conflictingConstraints = error else { throw error }
                conflicts += 1
                continue
            }
            let conditions = RandomGraphs.conditions(seed: seed)
            let plans = try Self.plans(model, conditions, [.brute, .dag, .block, .chain, .boundary, .serverOnly])
            let optimum = plans[.brute]!.delaySeconds
            #expect(
                relativeDifference(plans[.dag]!.delaySeconds, optimum) <= 1e-9,
                "seed \(seed): dag \(plans[.dag]!.delaySeconds) vs brute \(optimum)")
            #expect(
                relativeDifference(plans[.block]!.delaySeconds, optimum) <= 1e-12,
                "seed \(seed): block \(plans[.block]!.delaySeconds) vs brute \(optimum)")
            for baseline in [PlanningAlgorithm.chain, .boundary, .serverOnly] {
                #expect(plans[baseline]!.delaySeconds >= optimum * (1 - 1e-9), "seed \(seed): \(baseline) beat the optimum")
            }
            checked += 1
        }
        #expect(checked >= 2_000)
        #expect(conflicts < checked, "generator should mostly produce plannable graphs")
    }

    @Test("block equals dag within 1e-12 on random block-structured graphs (with broadcast masks and assertion sinks)")
    func blockMatchesDagOnBlockGraphs() throws {
        var checked = 0
        for seed in UInt64(1)...600 {
            guard let graph = RandomGraphs.blockStructured(seed: seed, blocks: 1 + Int(seed % 12), blockSize: 1...8) else { continue }
            let model = try PreparedModel(graph: graph, allowRawUpload: seed % 4 == 0)
            let reused = SplitPlanner(model: model)
            for variant in UInt64(0)..<4 {
                let plans = try Self.plans(model, RandomGraphs.conditions(seed: seed * 31 + variant), [.dag, .block, .chain, .boundary])
                let again = try reused.plan(.block, conditions: RandomGraphs.conditions(seed: seed * 31 + variant))
                #expect(relativeDifference(again.delaySeconds, plans[.dag]!.delaySeconds) <= 1e-12, "seed \(seed)/\(variant): reused block planner")
                #expect(model.violation(of: again.onDevice) == nil)
                #expect(
                    relativeDifference(plans[.block]!.delaySeconds, plans[.dag]!.delaySeconds) <= 1e-12,
                    "seed \(seed)/\(variant): block \(plans[.block]!.delaySeconds) vs dag \(plans[.dag]!.delaySeconds)")
                #expect(plans[.chain]!.delaySeconds >= plans[.dag]!.delaySeconds * (1 - 1e-9))
                #expect(plans[.boundary]!.delaySeconds >= plans[.dag]!.delaySeconds * (1 - 1e-9))
            }
            checked += 1
        }
        #expect(checked >= 500)
    }

    @Test("block equals dag within 1e-12 on larger unstructured random DAGs")
    func blockMatchesDagOnUnstructuredGraphs() throws {
        var checked = 0
        for seed in UInt64(10_000)..<10_400 {
            guard let graph = RandomGraphs.unstructured(seed: seed, count: 20 + Int(seed % 60)),
                let model = try? PreparedModel(graph: graph, allowRawUpload: seed % 2 == 0)
            else { continue }
            let plans = try Self.plans(model, RandomGraphs.conditions(seed: seed), [.dag, .block])
            #expect(relativeDifference(plans[.block]!.delaySeconds, plans[.dag]!.delaySeconds) <= 1e-12, "seed \(seed)")
            checked += 1
        }
        #expect(checked >= 200)
    }
}

@Suite("Planner state across calls")
struct PlannerReuseTests {
    @Test("a planner reused for many block plans in a row matches a fresh dag plan every time", arguments: SampleModels.names)
    func blockReuse(name: String) throws {
        let model = try PreparedModel(graph: try SampleModels.graph(name))
        let reused = SplitPlanner(model: model)
        var random = SplitMix64.property(seed: 99)
        for _ in 0..<300 {
            let uplink = RandomGraphs.pow10(Double.random(in: 6...10, using: &random))
            let conditions = PlanningConditions(
                batchSize: Int.random(in: 1...64, using: &random),
                deviceFLOPsPerSecond: RandomGraphs.pow10(
                    Double.random(
                        in: 10...12,
                        using: &random)),
                serverFLOPsPerSecond: 2e13, uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: uplink * 2, rttSeconds: 0.01)
            let block = try reused.plan(.block, conditions: conditions)
            let dag = try SplitPlanner(model: model).plan(.dag, conditions: conditions)
            #expect(relativeDifference(block.delaySeconds, dag.delaySeconds) <= 1e-12, "\(name): block \(block.delaySeconds) dag \(dag.delaySeconds)")
            #expect(model.violation(of: block.onDevice) == nil)
        }
    }

    @Test("interleaving planners on one planner gives each the same answer as a fresh planner")
    func interleaving() throws {
        let model = try PreparedModel(graph: try SampleModels.graph("googlenet"))
        let shared = SplitPlanner(model: model)
        var random = SplitMix64.property(seed: 7)
        for _ in 0..<200 {
            let uplink = RandomGraphs.pow10(Double.random(in: 6...10, using: &random))
            let conditions = PlanningConditions(
                batchSize: 32, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 2e13,
                uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: uplink)
            let algorithm = [PlanningAlgorithm.block, .dag, .chain, .block, .boundary, .serverOnly].randomElement(using: &random)!
            let a = try shared.plan(algorithm, conditions: conditions)
            let b = try SplitPlanner(model: model).plan(algorithm, conditions: conditions)
            #expect(a.onDevice == b.onDevice || relativeDifference(a.delaySeconds, b.delaySeconds) <= 1e-12, "\(algorithm)")
        }
    }
}
