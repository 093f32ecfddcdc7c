import Foundation
import Testing

@testable import SplitCore

@Suite("Plan tables")
struct PlanTableTests {
    /// A random model and compute side from the property tests' generator, or nil when the
    /// graph cannot be planned (conflicting pins).
    static func randomCase(seed: UInt64, layers: Int) -> (PreparedModel, ComputeConditions)? {
        guard let graph = RandomGraphs.unstructured(seed: seed, count: layers),
            let model = try? PreparedModel(graph: graph, allowRawUpload: seed % 3 == 0)
        else { return nil }
        return (model, ComputeConditions(RandomGraphs.conditions(seed: seed)))
    }

    /// How many of the table's two end probes (at the search's own end rates, planned again with
    /// `algorithm`) return a split other than the end segment's: each such tie costs one probe.
    static func endTies(
        _ table: PlanTable, model: PreparedModel, conditions: ComputeConditions,
        algorithm: PlanningAlgorithm = .block
    ) throws -> Int {
        let bounds = PlanTable.Bounds(model: model, conditions: conditions)
        var ties = 0
        for (rate, segment) in [(bounds.lowRate, table.segments.first), (bounds.highRate, table.segments.last)] {
            guard let segment else { continue }
            var probe = conditions.conditions(effectiveBitsPerSecond: rate)
            probe.isTableProbe = true
            let plan = try SplitPlanner(model: model).plan(algorithm, conditions: probe)
            if plan.onDevice.indices.filter({ plan.onDevice[$0] }) != segment.deviceLayers { ties += 1 }
        }
        return ties
    }

    @Test("on 1,500 random DAGs the table is optimal at every rate, proven against brute force over all splits")
    func bruteForce() throws {
        var checked = 0, segments = 0, endTies = 0, seed: UInt64 = 50_000
        while checked < 1_500 {
            seed += 1
            guard let (model, conditions) = Self.randomCase(seed: seed, layers: 3 + Int(seed % 11)) else { continue }
            let algorithm: PlanningAlgorithm = seed % 2 == 0 ? .block : .dag
            let table = try PlanTable.compute(model: model, conditions: conditions, algorithm: algorithm)
            let label = "seed \(seed) (\(algorithm))"
            PlanTableChecks.checkStructure(table, model: model, label)
            PlanTableChecks.checkAgainstBruteForce(table, model: model, splits: PlanTableChecks.allSplits(model), label)
            #expect(
                table.plannerCalls <= max(2, 2 * table.segments.count - 1) + 2,
                "\(label): \(table.plannerCalls) calls for \(table.segments.count) segments")
            if table.plannerCalls > max(2, 2 * table.segments.count - 1) { endTies += 1 }
            segments += table.segments.count
            checked += 1
        }
        #expect(segments > checked, "random DAGs should often have more than one segment")
        #expect(endTies < checked / 10, "the extra probe for a tie at an end should be rare: \(endTies)")
    }

    @Test("on random DAGs the table's split is the planner's optimum at thousands of log-uniform rate pairs")
    func randomRates() throws {
        var pairs = 0, checked = 0, seed: UInt64 = 70_000
        while checked < 600 {
            seed += 1
            guard let (model, conditions) = Self.randomCase(seed: seed, layers: 5 + Int(seed % 40)) else { continue }
            let table = try PlanTable.compute(model: model, conditions: conditions)
            PlanTableChecks.checkStructure(table, model: model, "seed \(seed)")
            pairs += try PlanTableChecks.checkAgainstPlanner(
                table, planner: SplitPlanner(model: model), algorithm: .dag,
                pairs: 20, seed: seed, "seed \(seed)")
            checked += 1
        }
        #expect(pairs >= 12_000)
    }

    @Test(
        "every sample model, with and without raw upload and measured profiles: the table matches dag at 2,000 rate pairs",
        arguments: SampleModels.names)
    func sampleModels(name: String) throws {
        let graph = try SampleModels.graph(name)
        let server = try SampleModels.profile("\(name).h200.json")
        let device = try SampleModels.profile("\(name).cpu2.json")
        let variants: [(String, PreparedModel)] = [
            ("estimates", try PreparedModel(graph: graph)),
            ("raw upload", try PreparedModel(graph: graph, allowRawUpload: true)),
            ("profiles", try PreparedModel(graph: graph, deviceProfile: device, serverProfile: server)),
        ]
        for (index, (variant, model)) in variants.enumerated() {
            for (deviceFLOPs, batch) in [(1e11, 32), (3e10, 8)] {
                let conditions = ComputeConditions(batchSize: batch, deviceFLOPsPerSecond: deviceFLOPs, serverFLOPsPerSecond: 2e13, rttSeconds: 0.01)
                let label = "\(name) \(variant) device \(deviceFLOPs)"
                let table = try PlanTable.compute(model: model, conditions: conditions)
                PlanTableChecks.checkStructure(table, model: model, label)
                // 2k − 1 probes, plus one per end whose probe ties with a better split (see
                // PlanTableSearch: measured profiles, or `block` comparing candidates to 1e-12 of
                // a delay that the extreme rate makes almost all transfer).
                let bound = max(2, 2 * table.segments.count - 1) + (try Self.endTies(table, model: model, conditions: conditions))
                #expect(table.plannerCalls <= bound, "\(label): \(table.plannerCalls) calls for \(table.segments.count) segments")
                let pairs = deviceFLOPs == 1e11 && index == 0 ? 2_000 : 300
                try PlanTableChecks.checkAgainstPlanner(
                    table, planner: SplitPlanner(model: model), algorithm: .dag,
                    pairs: pairs, seed: UInt64(index * 7 + batch), label)
                let fromDag = try PlanTable.compute(model: model, conditions: conditions, algorithm: .dag)
                #expect(fromDag.segments.count == table.segments.count, "\(label): dag and block tables differ in length")
                for (a, b) in zip(fromDag.segments, table.segments) {
                    #expect(relativeDifference(a.minEffectiveBitsPerSecond, b.minEffectiveBitsPerSecond) <= 1e-9, "\(label)")
                }
            }
        }
    }

    @Test("any exact planner plugs in: a planner limited to splits under a device parameter budget gets that family's exact table")
    func plannerSeam() throws {
        var checked = 0, seed: UInt64 = 90_000
        while checked < 300 {
            seed += 1
            guard let (model, conditions) = Self.randomCase(seed: seed, layers: 4 + Int(seed % 9)) else { continue }
            // Parameters are absent from the generator; give each layer some and cap the device
            // at half the total (every split keeping the pinned layers is still checked).
            var withParameters = model.graph.layers
            for index in withParameters.indices { withParameters[index].parameterBytes = Double((index * 37 + Int(seed)) % 11) }
            let graph = try ModelGraph(
                name: model.graph.name, layers: withParameters,
                outputs: model.graph.outputs.map { model.graph.layers[$0].name })
            let capped = try PreparedModel(graph: graph, allowRawUpload: model.rules.allowRawUpload)
            let layers = capped.graph.layers
            let total = layers.reduce(0) { $0 + $1.parameterBytes }
            let pinned = (0..<graph.count).filter { capped.rules.forcedDevice[$0] }.reduce(0.0) { $0 + layers[$1].parameterBytes }
            let budget = max(pinned, total / 2)
            let fits: ([Bool]) -> Bool = { split in
                split.indices.filter { split[$0] }.reduce(0.0) { $0 + layers[$1].parameterBytes } <= budget
            }
            let family = PlanTableChecks.allSplits(capped, where: fits)
            guard !family.isEmpty else { continue }
            var calls = 0
            let table = try PlanTable.compute(model: capped, conditions: conditions) { planning in
                calls += 1
                var best: Plan?
                for split in family {
                    let plan = try capped.plan(forSplit: split, conditions: planning)
                    if best == nil || plan.delaySeconds < best!.delaySeconds { best = plan }
                }
                return best!
            }
            let label = "seed \(seed) capped at \(budget) B"
            #expect(calls == table.plannerCalls)
            PlanTableChecks.checkStructure(table, model: capped, label)
            for segment in table.segments { #expect(fits(segment.onDevice(layerCount: graph.count)), "\(label): a segment breaks the cap") }
            PlanTableChecks.checkAgainstBruteForce(table, model: capped, splits: family, label)
            checked += 1
        }
    }

    @Test("lookup: the segment for (uplink, downlink) is the one holding 1/(1/uplink + 1/downlink); breakpoints go to the faster segment")
    func lookup() throws {
        let model = try PreparedModel(graph: try SampleModels.graph("vgg16"))
        let table = try PlanTable.compute(
            model: model,
            conditions: ComputeConditions(
                batchSize: 32, deviceFLOPsPerSecond: 1e11,
                serverFLOPsPerSecond: 2e13))
        #expect(table.segments.count >= 3)
        var random = SplitMix64.property(seed: 5)
        for _ in 0..<2_000 {
            let uplink = PlanTableChecks.logUniform(&random, 1, 1e12), downlink = PlanTableChecks.logUniform(&random, 1, 1e12)
            let rate = PlanTable.effectiveBitsPerSecond(uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: downlink)
            let scanned = table.segments.firstIndex { rate >= $0.minEffectiveBitsPerSecond && rate < ($0.maxEffectiveBitsPerSecond ?? .infinity) }
            #expect(table.segment(forUplink: uplink, downlink: downlink) == table.segments[scanned!])
        }
        for index in 1..<table.segments.count {
            #expect(table.segmentIndex(forEffectiveBitsPerSecond: table.segments[index].minEffectiveBitsPerSecond) == index)
        }
        #expect(table.segmentIndex(forEffectiveBitsPerSecond: 1e-30) == 0)
        #expect(table.segmentIndex(forEffectiveBitsPerSecond: 1e30) == table.segments.count - 1)
    }

    @Test("breakpoints far outside any real link rate are found: the end probes are placed by bounds, not by a fixed range")
    func extremeBreakpoints() throws {
        // x (1e9 B) → p (1 FLOP, 1000 B) → q (1e12 FLOPs, 999.999 B) → s (output); raw upload allowed.
        let graph = try ModelGraph(
            name: "extremes",
            layers: [
                Layer(name: "x", outputBytes: 1e9),
                Layer(name: "p", inputs: ["x"], forwardFLOPs: 1, outputBytes: 1000),
                Layer(name: "q", inputs: ["p"], forwardFLOPs: 1e12, outputBytes: 999.999),
                Layer(name: "s", inputs: ["q"], forwardFLOPs: 1e9, outputBytes: 10),
            ])
        let model = try PreparedModel(graph: graph, allowRawUpload: true)
        let conditions = ComputeConditions(batchSize: 1, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 1e13)
        let table = try PlanTable.compute(model: model, conditions: conditions)
        PlanTableChecks.checkStructure(table, model: model, "extremes")
        PlanTableChecks.checkAgainstBruteForce(table, model: model, splits: PlanTableChecks.allSplits(model), "extremes")
        let names = table.segments.map { $0.deviceLayers.map { graph.layers[$0].name } }
        #expect(names == [["x", "p", "q"], ["x", "p"], ["x"]])
        try #require(table.segments.count == 3)
        // q moves to the device when 0.001 B saved pays for (1e12/1e11 − 1e12/1e13) s of compute:
        // R = 8·0.001 / 9.9 ≈ 8.08e-4 bit/s. p moves to the server when saving (1/1e11 − 1/1e13) s
        // pays for sending x instead of p: R = 8·(1e9 − 1000) / 9.9e-12 ≈ 8.08e20 bit/s.
        #expect(relativeDifference(table.segments[1].minEffectiveBitsPerSecond, 8 * 0.001 / (10 - 0.1)) <= 1e-6)
        #expect(relativeDifference(table.segments[2].minEffectiveBitsPerSecond, 8 * (1e9 - 1000) / (1e-11 - 1e-13)) <= 1e-6)
    }

    @Test("a model whose splits all send the same bytes has one segment; bad conditions are rejected naming the field")
    func degenerateAndInvalid() throws {
        let graph = try ModelGraph(
            name: "flat",
            layers: [
                Layer(name: "x", outputBytes: 0),
                Layer(name: "a", inputs: ["x"], forwardFLOPs: 1e9, outputBytes: 0),
                Layer(name: "b", inputs: ["a"], forwardFLOPs: 1e9, outputBytes: 0),
                Layer(name: "c", inputs: ["b"], forwardFLOPs: 1e9, outputBytes: 0),
            ])
        let model = try PreparedModel(graph: graph)
        let table = try PlanTable.compute(
            model: model,
            conditions: ComputeConditions(
                batchSize: 4, deviceFLOPsPerSecond: 1e12,
                serverFLOPsPerSecond: 1e10))
        #expect(table.segments.count == 1)
        // With a device 100x faster and nothing to send, the one free layer (b) runs on the device.
        #expect(table.segments[0].deviceLayers.map { model.graph.layers[$0].name } == ["x", "a", "b"])
        #expect(throws: PlanningError.self) {
            try PlanTable.compute(model: model, conditions: ComputeConditions(batchSize: 0, deviceFLOPsPerSecond: 1e12, serverFLOPsPerSecond: 1e10))
        }
        do {
            _ = try PlanTable.compute(model: model, conditions: ComputeConditions(batchSize: 1, deviceFLOPsPerSecond: -1, serverFLOPsPerSecond: 1e10))
            Issue.record("negative device FLOP/s accepted")
        } catch let error as PlanningError {
            #expect(error == .invalidParameter(.deviceFLOPs, reason: Limits.computeThroughput.violation(-1)!))
        }
    }
}
