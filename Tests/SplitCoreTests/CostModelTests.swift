import Foundation
import Testing
@testable import SplitCore

@Suite("Cost model and placement rules")
struct CostModelTests {
    /// input x (1000 B) → a (1e9 FLOPs fwd, 2e9 bwd, 500 B) → b (4e9 + 4e9 FLOPs, output).
    static func threeLayers() throws -> ModelGraph {
        try ModelGraph(name: "three", layers: [
            Layer(name: "x", inputs: [], outputBytes: 1000),
            Layer(name: "a", inputs: ["x"], forwardFLOPs: 1e9, backwardFLOPs: 2e9, outputBytes: 500),
            Layer(name: "b", inputs: ["a"], forwardFLOPs: 4e9, backwardFLOPs: 4e9, outputBytes: 10),
        ])
    }

    @Test("the delay of a split is the formula worked out by hand")
    func handComputedDelay() throws {
        let model = try PreparedModel(graph: try Self.threeLayers())
        let conditions = PlanningConditions(batchSize: 4, deviceFLOPsPerSecond: 1e10, serverFLOPsPerSecond: 1e12,
                                            uplinkBitsPerSecond: 1e6, downlinkBitsPerSecond: 2e6, rttSeconds: 0.02)
        let plan = try SplitPlanner(model: model).plan(.dag, conditions: conditions)
        // Raw data stays on the device, so a (reads x) is on the device and b (output) on the server.
        // device: 4 × 3e9 / 1e10 = 1.2 s; server: 4 × 8e9 / 1e12 = 0.032 s;
        // a's output crosses: 8 × 4 × 500 = 16000 bit → 0.016 s up, 0.008 s down; rtt 0.02.
        #expect(plan.deviceLayers == [0, 1])
        #expect(plan.cutLayers == [1])
        #expect(abs(plan.breakdown.deviceComputeSeconds - 1.2) < 1e-12)
        #expect(abs(plan.breakdown.serverComputeSeconds - 0.032) < 1e-12)
        #expect(abs(plan.breakdown.uplinkSeconds - 0.016) < 1e-12)
        #expect(abs(plan.breakdown.downlinkSeconds - 0.008) < 1e-12)
        #expect(abs(plan.delaySeconds - 1.276) < 1e-12)
        #expect(plan.transferBytes == 2000)
    }

    @Test("allowing raw upload lets the optimum send the input instead")
    func rawUpload() throws {
        let model = try PreparedModel(graph: try Self.threeLayers(), allowRawUpload: true)
        let conditions = PlanningConditions(batchSize: 4, deviceFLOPsPerSecond: 1e10, serverFLOPsPerSecond: 1e12,
                                            uplinkBitsPerSecond: 1e6, downlinkBitsPerSecond: 2e6, rttSeconds: 0.02)
        let plan = try SplitPlanner(model: model).plan(.dag, conditions: conditions)
        // Sending x (32000 bit: 0.032 + 0.016 s) and computing a on the server (0.012 s) beats 1.2 s.
        #expect(plan.deviceLayers == [0])
        #expect(abs(plan.delaySeconds - (0.032 + 0.016 + 0.012 + 0.032 + 0.02)) < 1e-12)
    }

    @Test("a layer whose output feeds several server layers is transmitted once")
    func fanOutPaidOnce() throws {
        let graph = try ModelGraph(name: "fan", layers: [
            Layer(name: "x", outputBytes: 1),
            Layer(name: "a", inputs: ["x"], forwardFLOPs: 1, outputBytes: 100),
            Layer(name: "b", inputs: ["a"], forwardFLOPs: 1e9, outputBytes: 1),
            Layer(name: "c", inputs: ["a"], forwardFLOPs: 1e9, outputBytes: 1),
            Layer(name: "d", inputs: ["b", "c"], outputBytes: 1),
        ])
        let model = try PreparedModel(graph: graph)
        let conditions = PlanningConditions(batchSize: 1, deviceFLOPsPerSecond: 1e9, serverFLOPsPerSecond: 1e12,
                                            uplinkBitsPerSecond: 8e3, downlinkBitsPerSecond: 8e3)
        let plan = try SplitPlanner(model: model).plan(.dag, conditions: conditions)
        #expect(plan.cutLayers == [1])
        #expect(plan.transferBytes == 100)
        #expect(abs(plan.breakdown.uplinkSeconds - 0.1) < 1e-12)
    }

    @Test("conflicting constraints are reported clearly")
    func conflictingConstraints() throws {
        let graph = try ModelGraph(name: "direct", layers: [
            Layer(name: "x", outputBytes: 1),
            Layer(name: "y", inputs: ["x"], outputBytes: 1),
        ])
        do {
            _ = try PreparedModel(graph: graph)
            Issue.record("expected a conflict")
        } catch let error as PlanningError {
            let message = error.description
            #expect(message.contains("'y'"))
            #expect(message.contains("reads model input 'x'"))
            #expect(message.contains("model output"))
            #expect(message.contains("--allow-raw-upload"))
        }
        // With raw upload allowed the same graph is plannable.
        let model = try PreparedModel(graph: graph, allowRawUpload: true)
        #expect(model.rules.forcedServer[1])
    }

    @Test("an input that is also an output cannot be split")
    func inputOutput() throws {
        let graph = try ModelGraph(name: "single", layers: [Layer(name: "x", outputBytes: 1)])
        #expect(throws: PlanningError.self) { try PreparedModel(graph: graph, allowRawUpload: true) }
    }

    @Test("conditions out of range are rejected naming the parameter", arguments: [
        ("batch", PlanningConditions(batchSize: 0, deviceFLOPsPerSecond: 1, serverFLOPsPerSecond: 1, uplinkBitsPerSecond: 1, downlinkBitsPerSecond: 1)),
        ("device-flops", PlanningConditions(batchSize: 1, deviceFLOPsPerSecond: .nan, serverFLOPsPerSecond: 1, uplinkBitsPerSecond: 1, downlinkBitsPerSecond: 1)),
        ("uplink", PlanningConditions(batchSize: 1, deviceFLOPsPerSecond: 1, serverFLOPsPerSecond: 1, uplinkBitsPerSecond: -5, downlinkBitsPerSecond: 1)),
        ("rtt", PlanningConditions(batchSize: 1, deviceFLOPsPerSecond: 1, serverFLOPsPerSecond: 1, uplinkBitsPerSecond: 1, downlinkBitsPerSecond: 1, rttSeconds: .infinity)),
    ])
    func invalidConditions(name: String, conditions: PlanningConditions) {
        #expect(throws: PlanningError.self) { try conditions.validate() }
        do { try conditions.validate() } catch { #expect("\(error)".hasPrefix(name)) }
    }

    @Test("profiles override FLOP estimates and scale linearly with the batch")
    func profileScaling() throws {
        let profile = try LayerProfile(batchSize: 8, milliseconds: ["b": (forward: 10, backward: 30)])
        let model = try PreparedModel(graph: try Self.threeLayers(), serverProfile: profile)
        var costs = LayerCosts()
        let conditions = PlanningConditions(batchSize: 4, deviceFLOPsPerSecond: 1e10, serverFLOPsPerSecond: 1e12,
                                            uplinkBitsPerSecond: 1e6, downlinkBitsPerSecond: 1e6)
        model.computeCosts(conditions, into: &costs)
        #expect(abs(costs.serverSeconds[2] - 0.020) < 1e-15)          // 40 ms at batch 8 → 20 ms at 4
        #expect(abs(costs.serverSeconds[1] - 4 * 3e9 / 1e12) < 1e-15) // not profiled: FLOPs
    }

    @Test("profile documents are validated")
    func profileValidation() {
        let bad = [
            ("{\"format\": \"splitprofile/2\", \"batch_size\": 1, \"layers\": {}}", "format"),
            ("{\"format\": \"splitprofile/1\", \"batch_size\": 0, \"layers\": {}}", "batch_size"),
            ("{\"format\": \"splitprofile/1\", \"batch_size\": 2, \"layers\": {\"a\": {\"forward_ms\": -1, \"backward_ms\": 1}}}", "forward_ms"),
            ("{\"format\": \"splitprofile/1\", \"batch_size\": 2, \"layers\": {\"a\": {\"forward_ms\": 1}}}", "backward_ms"),
            ("not json", "JSON"),
        ]
        for (document, culprit) in bad {
            do {
                _ = try LayerProfile(json: Data(document.utf8))
                Issue.record("accepted \(document)")
            } catch {
                #expect("\(error)".contains(culprit), "\(error)")
            }
        }
    }
}
