import Foundation
import SplitTestSupport
import Testing

@testable import SplitCore

@Suite("Sample models")
struct SampleModelTests {
    static let bandwidths: [Double] = [1e6, 5e6, 2e7, 1e8, 5e8, 2e9, 1e10]
    static let deviceSpeeds: [Double] = [3e10, 1e11, 1e12]

    @Test("every sample graph loads with its documented shape", arguments: SampleModels.names)
    func loads(name: String) throws {
        let graph = try SampleModels.graph(name)
        #expect(graph.count > 40)
        #expect(graph.name == name)
        #expect(!graph.inputs.isEmpty && !graph.outputs.isEmpty)
    }

    @Test("all planners agree on every sample model over a sweep of bandwidths and device speeds", arguments: SampleModels.names)
    func plannersAgree(name: String) throws {
        let graph = try SampleModels.graph(name)
        for allowRaw in [false, true] {
            let model = try PreparedModel(graph: graph, allowRawUpload: allowRaw)
            let planner = SplitPlanner(model: model)
            for device in Self.deviceSpeeds {
                for uplink in Self.bandwidths {
                    let conditions = PlanningConditions(
                        batchSize: 32, deviceFLOPsPerSecond: device, serverFLOPsPerSecond: 2e13,
                        uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: uplink * 2, rttSeconds: 0.01)
                    var delays: [PlanningAlgorithm: Double] = [:]
                    for algorithm in [PlanningAlgorithm.dag, .block, .chain, .boundary, .serverOnly] {
                        let plan = try planner.plan(algorithm, conditions: conditions)
                        #expect(model.violation(of: plan.onDevice) == nil, "\(name) \(algorithm): \(model.violation(of: plan.onDevice) ?? "")")
                        delays[algorithm] = plan.delaySeconds
                    }
                    let optimum = delays[.dag]!
                    #expect(
                        relativeDifference(delays[.block]!, optimum) <= 1e-12,
                        "\(name) device \(device) uplink \(uplink): block \(delays[.block]!) dag \(optimum)")
                    for baseline in [PlanningAlgorithm.chain, .boundary, .serverOnly] {
                        #expect(delays[baseline]! >= optimum * (1 - 1e-9), "\(name): \(baseline) below the optimum")
                    }
                }
            }
        }
    }

    @Test("exactly the models in SampleModels.profiledNames ship a measured H200 profile")
    func profiledModels() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: packageRoot.appendingPathComponent("ops/profiles").path)
        let profiled = files.filter { $0.hasSuffix(".h200.json") }.map { String($0.dropLast(".h200.json".count)) }
        #expect(Set(profiled) == Set(SampleModels.profiledNames))
        #expect(Set(SampleModels.profiledNames).isSubset(of: SampleModels.names))
    }

    @Test("measured H200 server profiles load, cover the graphs, and block equals dag with them", arguments: SampleModels.profiledNames)
    func serverProfiles(name: String) throws {
        let profile = try #require(try SampleModels.profile("\(name).h200.json"))
        let graph = try SampleModels.graph(name)
        #expect(profile.batchSize == 32)
        #expect(profile.unknownLayers(in: graph).isEmpty)
        let device = try SampleModels.profile("\(name).cpu2.json")
        let model = try PreparedModel(graph: graph, deviceProfile: device, serverProfile: profile)
        let planner = SplitPlanner(model: model)
        for uplink in Self.bandwidths {
            let conditions = PlanningConditions(
                batchSize: 16, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 2e13,
                uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: uplink)
            let dag = try planner.plan(.dag, conditions: conditions)
            let block = try planner.plan(.block, conditions: conditions)
            #expect(relativeDifference(block.delaySeconds, dag.delaySeconds) <= 1e-12)
            #expect(model.violation(of: block.onDevice) == nil)
        }
    }

    @Test("the block decomposition finds repeated blocks in ResNet-50 and every transformer layer of GPT-2")
    func decompositionStructure() throws {
        let resnet = try PreparedModel(graph: try SampleModels.graph("resnet50"))
        // Every bottleneck output is a boundary: 16 blocks.
        let boundaryNames = Set(resnet.decomposition.boundaries.map { resnet.graph.layers[$0].name })
        for stage in [(1, 3), (2, 4), (3, 6), (4, 3)] {
            for block in 0..<stage.1 { #expect(boundaryNames.contains("layer\(stage.0)_\(block)_relu_2")) }
        }
        let gpt2 = try PreparedModel(graph: try SampleModels.graph("gpt2"))
        let gptBoundaries = gpt2.decomposition.boundaries.map { gpt2.graph.layers[$0] }
        // The residual add that closes each transformer layer is a boundary.
        for layer in 0..<12 {
            #expect(gptBoundaries.contains { $0.block == "transformer.h.\(layer)" && $0.op == "add.tensor" })
        }
        #expect(gpt2.decomposition.nonEmptyRegionCount >= 12)
    }
}
