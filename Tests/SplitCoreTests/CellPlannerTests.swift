import Testing

@testable import SplitCore

/// Exactness of `block` on graphs whose cells read the two previous cells (no boundary layers).
@Suite("Block planner on NASNet-style cells")
struct CellPlannerTests {
    /// Prepares `graph` with every region split into windows when `splitAll` (by default regions of
    /// up to 64 layers, or whose windows save little, stay whole, which would leave small graphs
    /// without windows), or nil when its pins conflict (an output reading the input directly).
    static func prepare(_ graph: ModelGraph, allowRaw: Bool, profile: LayerProfile? = nil, splitAll: Bool = true) throws -> PreparedModel? {
        do {
            return try PreparedModel(
                graph: graph, deviceProfile: profile, serverProfile: nil, allowRawUpload: allowRaw,
                splitEveryRegion: splitAll)
        } catch let error as PlanningError {
            guard case .conflictingConstraints = error else { throw error }
            return nil
        }
    }

    @Test("block equals dag within 1e-12 on 2,400 NASNet-like graphs (a quarter with default window sizes), a reused planner included")
    func blockMatchesDag() throws {
        var checked = 0, split = 0
        for seed in UInt64(1)...2_400 {
            guard let graph = RandomGraphs.nasnetLike(seed: seed, cells: 1 + Int(seed % 9)),
                let model = try Self.prepare(graph, allowRaw: seed % 3 == 0, splitAll: seed % 4 != 0)
            else { continue }
            if model.decomposition.windowCount > 1 { split += 1 }
            let reused = SplitPlanner(model: model)
            for variant in UInt64(0)..<2 {
                let conditions = RandomGraphs.conditions(seed: seed * 7 + variant)
                let plans = try PlannerPropertyTests.plans(model, conditions, [.dag, .block])
                let again = try reused.plan(.block, conditions: conditions)
                let optimum = plans[.dag]!.delaySeconds
                #expect(
                    relativeDifference(plans[.block]!.delaySeconds, optimum) <= 1e-12,
                    "seed \(seed)/\(variant): block \(plans[.block]!.delaySeconds) dag \(optimum)")
                #expect(relativeDifference(again.delaySeconds, optimum) <= 1e-12, "seed \(seed)/\(variant): reused block planner")
                #expect(model.violation(of: again.onDevice) == nil)
            }
            checked += 1
        }
        #expect(checked >= 2_000)
        #expect(split >= checked / 2, "most graphs should split into several windows")
    }

    @Test("block equals brute force within 1e-12 on 1,000 small NASNet-like graphs")
    func blockMatchesBruteForce() throws {
        var checked = 0, seed: UInt64 = 50_000
        while checked < 1_000 {
            seed += 1
            guard let graph = RandomGraphs.nasnetLike(seed: seed, cells: 1 + Int(seed % 3), combines: 1...2, branchLength: 2),
                let model = try Self.prepare(graph, allowRaw: seed % 2 == 0),
                model.rules.forcedDevice.indices.filter({ model.rules.isFree($0) }).count <= SplitPlanner.bruteForceLimit
            else { continue }
            let plans = try PlannerPropertyTests.plans(model, RandomGraphs.conditions(seed: seed), [.brute, .block, .dag])
            let optimum = plans[.brute]!.delaySeconds
            #expect(
                relativeDifference(plans[.block]!.delaySeconds, optimum) <= 1e-12,
                "seed \(seed): block \(plans[.block]!.delaySeconds) brute \(optimum)")
            #expect(
                relativeDifference(plans[.dag]!.delaySeconds, optimum) <= 1e-12,
                "seed \(seed): dag \(plans[.dag]!.delaySeconds) brute \(optimum)")
            checked += 1
        }
    }

    @Test("block equals dag on NASNet-like graphs with measured layers (windows cut per plan)")
    func blockMatchesDagWithProfiles() throws {
        var checked = 0
        for seed in UInt64(100_000)..<100_500 {
            guard let graph = RandomGraphs.nasnetLike(seed: seed, cells: 2 + Int(seed % 6)),
                let profile = RandomGraphs.profile(seed: seed, graph: graph),
                let model = try Self.prepare(graph, allowRaw: false, profile: profile)
            else { continue }
            let planner = SplitPlanner(model: model)
            for variant in UInt64(0)..<3 {
                let conditions = RandomGraphs.conditions(seed: seed * 5 + variant)
                let block = try planner.plan(.block, conditions: conditions)
                let dag = try planner.plan(.dag, conditions: conditions)
                #expect(
                    relativeDifference(block.delaySeconds, dag.delaySeconds) <= 1e-12,
                    "seed \(seed)/\(variant): block \(block.delaySeconds) dag \(dag.delaySeconds)")
                #expect(model.violation(of: block.onDevice) == nil)
            }
            checked += 1
        }
        #expect(checked >= 400)
    }

    @Test(
        "NASNet-A Mobile and Large split into windows of about two cells, priced without a max-flow per plan",
        arguments: ["nasnet_a_mobile", "nasnet_a_large"])
    func nasnetWindows(name: String) throws {
        let model = try PreparedModel(graph: try SampleModels.graph(name))
        let decomposition = model.decomposition
        let free = model.graph.count - model.decomposition.forcedDeviceLayers.count - model.decomposition.forcedServerLayers.count
        #expect(decomposition.boundaries.count <= 2, "cells reading two cells back leave no boundary after the stem")
        #expect(decomposition.windowCount >= 12)
        #expect(decomposition.largestWindow * 3 < free)
        for candidate in 0..<decomposition.candidateCount where !decomposition.members(ofCandidate: candidate).isEmpty {
            #expect(model.envelopes[candidate] != nil, "\(name): window \(candidate) has no envelope")
        }
        let planner = SplitPlanner(model: model)
        var random = SplitMix64.property(seed: 3)
        for _ in 0..<200 {
            let conditions = PlanningConditions(
                batchSize: Int.random(in: 1...64, using: &random),
                deviceFLOPsPerSecond: RandomGraphs.pow10(
                    Double.random(
                        in: 9...14,
                        using: &random)),
                serverFLOPsPerSecond: RandomGraphs.pow10(Double.random(in: 11...14, using: &random)),
                uplinkBitsPerSecond: RandomGraphs.pow10(Double.random(in: 5...10, using: &random)),
                downlinkBitsPerSecond: RandomGraphs.pow10(Double.random(in: 5...10, using: &random)))
            let block = try planner.plan(.block, conditions: conditions)
            let dag = try SplitPlanner(model: model).plan(.dag, conditions: conditions)
            #expect(relativeDifference(block.delaySeconds, dag.delaySeconds) <= 1e-12, "\(name): block \(block.delaySeconds) dag \(dag.delaySeconds)")
        }
        #expect(planner.regionSolvers.allSatisfy { $0 == nil }, "no window needed a max-flow")
    }

    @Test("block equals dag on NASNet-A Mobile when device and server are equally fast, or the device is faster")
    func equalAndFasterDevice() throws {
        let model = try PreparedModel(graph: try SampleModels.graph("nasnet_a_mobile"))
        let planner = SplitPlanner(model: model)
        for device in [2e13, 5e13] {
            for uplink in [1e6, 1e8, 1e10] {
                let conditions = PlanningConditions(
                    batchSize: 32, deviceFLOPsPerSecond: device, serverFLOPsPerSecond: 2e13,
                    uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: uplink)
                let block = try planner.plan(.block, conditions: conditions)
                let dag = try planner.plan(.dag, conditions: conditions)
                #expect(relativeDifference(block.delaySeconds, dag.delaySeconds) <= 1e-12, "device \(device) uplink \(uplink)")
            }
        }
    }

    @Test("every valid split of 600 small NASNet-like graphs agrees with some candidate (windows cover all splits)")
    func windowsCoverEverySplit() throws {
        var checked = 0, split = 0, seed: UInt64 = 70_000
        while checked < 600 {
            seed += 1
            guard let graph = RandomGraphs.nasnetLike(seed: seed, cells: 1 + Int(seed % 3), combines: 1...2, branchLength: 2),
                let model = try Self.prepare(graph, allowRaw: seed % 2 == 0)
            else { continue }
            let decomposition = model.decomposition
            let free = decomposition.freeLayers.all.map { Int($0) }
            guard free.count <= 18 else { continue }
            // Depth-first over the free non-follower layers in topological order: a layer may join
            // the device part only if its free producers are there (forced ones are on the device).
            var onDevice = [Bool](repeating: false, count: graph.count)
            for layer in 0..<graph.count where model.rules.forcedDevice[layer] { onDevice[layer] = true }
            var splits = 0, uncovered = 0
            func visit(_ index: Int) {
                if index == free.count {
                    splits += 1
                    let covered = (0..<decomposition.candidateCount).contains { candidate in
                        let first = Int(decomposition.candidateFirst[candidate]), end = Int(decomposition.candidateEnd[candidate])
                        return free[..<first].allSatisfy { onDevice[$0] } && free[end...].allSatisfy { !onDevice[$0] }
                    }
                    if !covered { uncovered += 1 }
                    return
                }
                let layer = free[index]
                onDevice[layer] = false
                visit(index + 1)
                let ready = graph.predecessors(of: layer).allSatisfy {
                    onDevice[$0] || decomposition.isFollower[$0] && onDevice[graph.predecessors(of: $0).first ?? $0]
                }
                if ready {
                    onDevice[layer] = true
                    visit(index + 1)
                    onDevice[layer] = false
                }
            }
            visit(0)
            #expect(uncovered == 0, "seed \(seed): \(uncovered) of \(splits) valid splits agree with no candidate")
            if decomposition.windowCount > decomposition.nonEmptyRegionCount { split += 1 }
            checked += 1
        }
        #expect(split >= 300, "most graphs should have a region split into windows")
    }

    @Test("each window's envelope price equals its max-flow cut under random conditions, on 300 NASNet-like graphs")
    func envelopeMatchesMaxFlow() throws {
        var windows = 0
        for seed in UInt64(200_000)..<200_300 {
            guard let graph = RandomGraphs.nasnetLike(seed: seed, cells: 2 + Int(seed % 7)),
                let model = try Self.prepare(graph, allowRaw: seed % 2 == 0)
            else { continue }
            let planner = SplitPlanner(model: model)
            for variant in UInt64(0)..<3 {
                let coefficients = PreparedModel.Coefficients(RandomGraphs.conditions(seed: seed * 3 + variant))
                planner.costs.resize(graph.count)
                for candidate in 0..<model.decomposition.candidateCount {
                    guard let envelope = model.envelopes[candidate] else { continue }
                    let priced = envelope.cheapest(
                        deviceSecondsPerFLOP: coefficients.deviceSecondsPerFLOP,
                        serverSecondsPerFLOP: coefficients.serverSecondsPerFLOP,
                        secondsPerByte: coefficients.transferSecondsPerByte
                    ).seconds
                    let cut = planner.solveRegion(candidate, coefficients)
                    #expect(
                        relativeDifference(priced, cut) <= 1e-10,
                        "seed \(seed)/\(variant) window \(candidate): envelope \(priced) max-flow \(cut)")
                    windows += 1
                }
            }
        }
        #expect(windows >= 2_000)
    }
}
