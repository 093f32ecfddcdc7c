import Testing

@testable import SplitCore

@Suite("Sample models under device memory limits")
struct MemorySampleModelTests {
    /// A device profile that measured `memory_bytes` for every third layer (some 0, some more
    /// than the estimate), with the shipped CPU times when there are any.
    static func memoryProfile(_ graph: ModelGraph, times: LayerProfile?) throws -> LayerProfile {
        var milliseconds: [String: (forward: Double, backward: Double)] = [:]
        for (name, seconds) in times?.secondsPerSample ?? [:] { milliseconds[name] = (seconds * 1000 * 8, 0) }
        var memory: [String: Double] = [:]
        for (index, layer) in graph.layers.enumerated() where index % 3 == 0 {
            memory[layer.name] = index % 2 == 0 ? 0 : (layer.outputBytes * 8 * 1.5).rounded()
        }
        return try LayerProfile(batchSize: 8, milliseconds: milliseconds, memoryBytes: memory)
    }

    @Test("dag and block agree under a sweep of limits, rates and optimizers, with and without profiles", arguments: SampleModels.names)
    func dagEqualsBlock(name: String) throws {
        let graph = try SampleModels.graph(name)
        let cpu = try SampleModels.profile("\(name).cpu2.json")
        let models = [
            try PreparedModel(graph: graph),
            try PreparedModel(
                graph: graph, deviceProfile: try Self.memoryProfile(graph, times: cpu),
                serverProfile: try SampleModels.profile("\(name).h200.json")),
        ]
        var counts = (binding: 0, infeasible: 0, loose: 0)
        var fastestExceedsMinimum = false
        for (variant, model) in models.enumerated() {
            let planner = SplitPlanner(model: model)
            for (step, (device, uplink)) in [(3e10, 5e6), (1e11, 1e8), (1e11, 2e9), (1e12, 2e7)].enumerated() {
                var conditions = PlanningConditions(
                    batchSize: 32, deviceFLOPsPerSecond: device, serverFLOPsPerSecond: 2e13, uplinkBitsPerSecond: uplink,
                    downlinkBitsPerSecond: uplink * 2, rttSeconds: 0.01, optimizer: Optimizer.allCases[step % 3])
                let fastest = try planner.plan(.block, conditions: conditions)
                let minimum = try RandomMemoryGraphs.minimumMemory(planner, .block, conditions) ?? 1
                #expect(try RandomMemoryGraphs.minimumMemory(planner, .dag, conditions) ?? 1 == minimum, "\(name)")
                let everything = model.rules.forcedServer.map { !$0 }
                fastestExceedsMinimum = fastestExceedsMinimum || fastest.deviceMemoryBytes > minimum
                let largest = try model.deviceMemoryBytes(onDevice: everything, batchSize: 32, optimizer: conditions.optimizer)
                var limits = [minimum - 1, minimum, fastest.deviceMemoryBytes - 1, fastest.deviceMemoryBytes]
                for index in 1..<8 { limits.append(minimum + (largest - minimum) * Int64(index) / 8) }
                for limit in limits where limit >= 1 {
                    conditions.deviceMemoryLimitBytes = limit
                    let label = "\(name) variant \(variant) device \(device) uplink \(uplink) limit \(limit)"
                    switch (
                        try MemoryPlannerPropertyTests.outcome(planner, .dag, conditions),
                        try MemoryPlannerPropertyTests.outcome(planner, .block, conditions)
                    ) {
                    case let (.plan(dag), .plan(block)):
                        #expect(
                            relativeDifference(dag.delaySeconds, block.delaySeconds) <= 1e-9,
                            "\(label): dag \(dag.delaySeconds) block \(block.delaySeconds)")
                        #expect(dag.memoryBound == block.memoryBound, "\(label)")
                        for plan in [dag, block] {
                            #expect(plan.deviceMemoryBytes <= limit && model.violation(of: plan.onDevice) == nil, "\(label)")
                        }
                        #expect(dag.delaySeconds >= fastest.delaySeconds * (1 - 1e-9))
                        if dag.memoryBound { counts.binding += 1 } else { counts.loose += 1 }
                    case let (.infeasible(a), .infeasible(b)):
                        #expect(a == minimum && b == minimum && limit < minimum, "\(label)")
                        counts.infeasible += 1
                    default:
                        Issue.record("\(label): dag and block disagree on feasibility")
                    }
                }
            }
        }
        // GPT-2's fastest split is always its smallest device part: no limit can bind there.
        #expect(counts.infeasible > 0 && counts.loose > 0 && (counts.binding > 20 || !fastestExceedsMinimum), "\(name): \(counts)")
    }
}
