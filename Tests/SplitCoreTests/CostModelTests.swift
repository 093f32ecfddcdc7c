import Foundation
import Testing

@testable import SplitCore

@Suite("Cost model and placement rules")
struct CostModelTests {
    /// input x (1000 B) → a (1e9 FLOPs fwd, 2e9 bwd, 500 B) → b (4e9 + 4e9 FLOPs, output).
    static func threeLayers() throws -> ModelGraph {
        try ModelGraph(
            name: "three",
            layers: [
                Layer(name: "x", inputs: [], outputBytes: 1000),
                Layer(name: "a", inputs: ["x"], forwardFLOPs: 1e9, backwardFLOPs: 2e9, outputBytes: 500),
                Layer(name: "b", inputs: ["a"], forwardFLOPs: 4e9, backwardFLOPs: 4e9, outputBytes: 10),
            ])
    }

    @Test("the delay of a split is the formula worked out by hand")
    func handComputedDelay() throws {
        let model = try PreparedModel(graph: try Self.threeLayers())
        let conditions = PlanningConditions(
            batchSize: 4, deviceFLOPsPerSecond: 1e10, serverFLOPsPerSecond: 1e12,
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
        let conditions = PlanningConditions(
            batchSize: 4, deviceFLOPsPerSecond: 1e10, serverFLOPsPerSecond: 1e12,
            uplinkBitsPerSecond: 1e6, downlinkBitsPerSecond: 2e6, rttSeconds: 0.02)
        let plan = try SplitPlanner(model: model).plan(.dag, conditions: conditions)
        // Sending x (32000 bit: 0.032 + 0.016 s) and computing a on the server (0.012 s) beats 1.2 s.
        #expect(plan.deviceLayers == [0])
        #expect(abs(plan.delaySeconds - (0.032 + 0.016 + 0.012 + 0.032 + 0.02)) < 1e-12)
    }

    @Test("a layer whose output feeds several server layers is transmitted once")
    func fanOutPaidOnce() throws {
        let graph = try ModelGraph(
            name: "fan",
            layers: [
                Layer(name: "x", outputBytes: 1),
                Layer(name: "a", inputs: ["x"], forwardFLOPs: 1, outputBytes: 100),
                Layer(name: "b", inputs: ["a"], forwardFLOPs: 1e9, outputBytes: 1),
                Layer(name: "c", inputs: ["a"], forwardFLOPs: 1e9, outputBytes: 1),
                Layer(name: "d", inputs: ["b", "c"], outputBytes: 1),
            ])
        let model = try PreparedModel(graph: graph)
        let conditions = PlanningConditions(
            batchSize: 1, deviceFLOPsPerSecond: 1e9, serverFLOPsPerSecond: 1e12,
            uplinkBitsPerSecond: 8e3, downlinkBitsPerSecond: 8e3)
        let plan = try SplitPlanner(model: model).plan(.dag, conditions: conditions)
        #expect(plan.cutLayers == [1])
        #expect(plan.transferBytes == 100)
        #expect(abs(plan.breakdown.uplinkSeconds - 0.1) < 1e-12)
    }

    @Test("conflicting constraints are reported clearly")
    func conflictingConstraints() throws {
        let graph = try ModelGraph(
            name: "direct",
            layers: [
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

    static func conditions(
        batch: Int = 1, device: Double = 1e11, server: Double = 2e13, uplink: Double = 1e8, downlink: Double = 1e8,
        rtt: Double = 0
    ) -> PlanningConditions {
        PlanningConditions(
            batchSize: batch, deviceFLOPsPerSecond: device, serverFLOPsPerSecond: server, uplinkBitsPerSecond: uplink,
            downlinkBitsPerSecond: downlink, rttSeconds: rtt)
    }

    @Test(
        "conditions outside the physical limits are rejected naming the parameter neutrally",
        arguments: [
            (PlanningParameter.batchSize, conditions(batch: 0)), (.batchSize, conditions(batch: 2_000_000)),
            (.deviceFLOPs, conditions(device: .nan)), (.deviceFLOPs, conditions(device: 1e-300)), (.serverFLOPs, conditions(server: 1e300)),
            (.uplink, conditions(uplink: -5)), (.uplink, conditions(uplink: .leastNonzeroMagnitude)), (.downlink, conditions(downlink: .infinity)),
            (.rtt, conditions(rtt: .infinity)), (.rtt, conditions(rtt: -1)), (.rtt, conditions(rtt: 1e-300)),
        ])
    func invalidConditions(parameter: PlanningParameter, conditions: PlanningConditions) {
        do {
            try conditions.validate()
            Issue.record("accepted \(conditions)")
        } catch PlanningError.invalidParameter(let named, let reason) {
            #expect(named == parameter)
            #expect(reason.hasPrefix("must be"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("the extremes of every accepted range plan without trapping and give finite delays")
    func extremesPlan() throws {
        let most = Limits.layerFLOPs.bounds.upperBound, biggest = Limits.layerBytes.bounds.upperBound
        let graph = try ModelGraph(
            name: "extreme",
            layers: [
                Layer(name: "x", outputBytes: biggest),
                Layer(name: "a", inputs: ["x"], forwardFLOPs: most, backwardFLOPs: most, outputBytes: biggest, parameterBytes: biggest),
                Layer(name: "b", inputs: ["a"], forwardFLOPs: most, backwardFLOPs: 0, outputBytes: 0),
                Layer(name: "c", inputs: ["b", "a"], forwardFLOPs: 0, backwardFLOPs: most, outputBytes: biggest),
            ])
        let model = try PreparedModel(graph: graph)
        let planner = SplitPlanner(model: model)
        for device in [Limits.computeThroughput.bounds.lowerBound, Limits.computeThroughput.bounds.upperBound] {
            for rate in [Limits.linkRate.bounds.lowerBound, Limits.linkRate.bounds.upperBound] {
                for batch in [1, 1_000_000] {
                    let conditions = Self.conditions(batch: batch, device: device, server: 1e3, uplink: rate, downlink: rate, rtt: 60)
                    for algorithm in [PlanningAlgorithm.dag, .block, .chain, .boundary, .serverOnly, .brute] {
                        let plan = try planner.plan(algorithm, conditions: conditions)
                        #expect(plan.delaySeconds.isFinite && plan.delaySeconds > 0)
                    }
                }
            }
        }
    }

    @Test("profiles override FLOP estimates and scale linearly with the batch")
    func profileScaling() throws {
        let profile = try LayerProfile(batchSize: 8, milliseconds: ["b": (forward: 10, backward: 30)])
        let model = try PreparedModel(graph: try Self.threeLayers(), serverProfile: profile)
        var costs = LayerCosts()
        let conditions = PlanningConditions(
            batchSize: 4, deviceFLOPsPerSecond: 1e10, serverFLOPsPerSecond: 1e12,
            uplinkBitsPerSecond: 1e6, downlinkBitsPerSecond: 1e6)
        model.computeCosts(conditions, into: &costs)
        #expect(abs(costs.serverSeconds[2] - 0.020) < 1e-15)  // 40 ms at batch 8 → 20 ms at 4
        #expect(abs(costs.serverSeconds[1] - 4 * 3e9 / 1e12) < 1e-15)  // not profiled: FLOPs
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
