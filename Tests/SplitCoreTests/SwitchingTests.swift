import Foundation
import SplitTestSupport
import Testing

@testable import SplitCore

/// A JSON number as Double, whether it was written as an integer or not.
private func number(_ value: Any?) -> Double? {
    switch value {
    case let value as Double: return value
    case let value as Int: return Double(value)
    case let value as NSNumber: return value.doubleValue
    default: return nil
    }
}

@Suite("Switching costs and the switching rule")
struct SwitchingTests {
    /// x → a → b → c → out with parameters on a, b, c (a reads x, so it is pinned to the device).
    static func chain() throws -> ModelGraph {
        try ModelGraph(
            name: "chain",
            layers: [
                Layer(name: "x", outputBytes: 100),
                Layer(name: "a", inputs: ["x"], forwardFLOPs: 1e9, outputBytes: 100, parameterBytes: 1_000),
                Layer(name: "b", inputs: ["a"], forwardFLOPs: 1e9, outputBytes: 100, parameterBytes: 20_000),
                Layer(name: "c", inputs: ["b"], forwardFLOPs: 1e9, outputBytes: 100, parameterBytes: 300_000),
                Layer(name: "out", inputs: ["c"], forwardFLOPs: 1e9, outputBytes: 10),
            ])
    }

    @Test("migration moves parameters times the optimizer's state factor, up for device→server and down for server→device")
    func migration() throws {
        let graph = try Self.chain()
        let deep = [true, true, true, true, false], shallow = [true, true, false, false, false]
        for (optimizer, factor) in [(Optimizer.sgd, 1.0), (.momentum, 2.0), (.adam, 3.0)] {
            let up = SplitMigration(from: deep, to: shallow, graph: graph, optimizer: optimizer)
            #expect(up == SplitMigration(uplinkBytes: 320_000 * factor, downlinkBytes: 0))
            let down = SplitMigration(from: shallow, to: deep, graph: graph, optimizer: optimizer)
            #expect(down == SplitMigration(uplinkBytes: 0, downlinkBytes: 320_000 * factor))
        }
        // b goes up while c comes down is impossible in a chain, but the function does not care.
        let crossed = SplitMigration(from: [true, true, true, false, false], to: [true, true, false, true, false], graph: graph, optimizer: .adam)
        #expect(crossed == SplitMigration(uplinkBytes: 60_000, downlinkBytes: 900_000))
        // 60 kB up at 1 Mbit/s = 0.48 s; 900 kB down at 8 Mbit/s = 0.9 s.
        #expect(abs(crossed.seconds(uplinkBitsPerSecond: 1e6, downlinkBitsPerSecond: 8e6) - 1.38) < 1e-12)
        #expect(SplitMigration(from: deep, to: deep, graph: graph, optimizer: .adam).isEmpty)
        #expect(SplitMigration(from: deep, to: deep, graph: graph, optimizer: .adam).seconds(uplinkBitsPerSecond: 1, downlinkBitsPerSecond: 1) == 0)
    }

    @Test("the rule: invalid or infinite current splits are always left; a bad horizon or gain is rejected naming it")
    func ruleEdges() {
        let rule = SwitchingRule(horizonIterations: 10)
        #expect(rule.shouldSwitch(currentSeconds: .infinity, candidateSeconds: 5, migrationSeconds: 1e12))
        #expect(rule.shouldSwitch(currentSeconds: .nan, candidateSeconds: 5, migrationSeconds: 0))
        #expect(!rule.shouldSwitch(currentSeconds: 5, candidateSeconds: .nan, migrationSeconds: 0))
        #expect(SwitchingRule().horizonIterations == SwitchingRule.defaultHorizonIterations)
        for (bad, name) in [
            (SwitchingRule(horizonIterations: -1), "switching horizon"), (SwitchingRule(minimumRelativeGain: 1), "minimum gain"),
            (SwitchingRule(minimumRelativeGain: -0.1), "minimum gain"),
        ] {
            do {
                try bad.validate()
                Issue.record("\(bad) accepted")
            } catch let error as PlanningError {
                #expect(error.description.hasPrefix(name))
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
    }

    /// The cases shared with the Python client.
    static func sharedCases() throws -> [String: Any] {
        let data = try Data(contentsOf: packageRoot.appendingPathComponent("python/tests/switching_cases.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test("hand-computed rule cases shared with the Python client")
    func sharedRuleCases() throws {
        let cases = try #require(try Self.sharedCases()["rule"] as? [[String: Any]])
        #expect(cases.count >= 10)
        for item in cases {
            let rule = SwitchingRule(
                horizonIterations: try #require(item["horizon_iterations"] as? Int),
                minimumRelativeGain: try #require(number(item["minimum_relative_gain"])))
            let decision = rule.shouldSwitch(
                currentSeconds: try #require(number(item["current_seconds"])), candidateSeconds: try #require(number(item["candidate_seconds"])),
                migrationSeconds: try #require(number(item["migration_seconds"])),
                currentInvalidated: try #require(item["current_invalidated"] as? Bool))
            #expect(decision == item["switch"] as? Bool, "\(item["why"] ?? "")")
        }
    }

    @Test("hand-computed lookups and a switching scenario shared with the Python client")
    func sharedTableCases() throws {
        let cases = try Self.sharedCases()
        let graphCase = try #require(cases["graph"] as? [String: Any])
        let names = try #require(graphCase["layers"] as? [String])
        let parameters = try #require(graphCase["parameter_bytes"] as? [String: Any])
        let layers = names.enumerated().map { index, name in
            Layer(
                name: name, inputs: index == 0 ? [] : [names[index - 1]], forwardFLOPs: 1, outputBytes: 1,
                parameterBytes: number(parameters[name]) ?? 0)
        }
        let graph = try ModelGraph(name: "chain", layers: layers)
        let tableJSON = try JSONSerialization.data(withJSONObject: try #require(cases["table"]))
        let report = try JSONDecoder().decode(PlanTableReport.self, from: tableJSON)
        let table = try report.table(graph: graph)
        #expect(table.segments.count == 3)
        // The report lists every layer that can move with its parameters: exactly the free ones.
        let model = try PreparedModel(graph: graph)
        #expect(PlanTableReport(table: table, model: model, algorithm: .block).parameterBytes == report.parameterBytes)

        for item in try #require(cases["lookup"] as? [[String: Any]]) {
            let segment = table.segmentIndex(
                forEffectiveBitsPerSecond: PlanTable.effectiveBitsPerSecond(
                    uplinkBitsPerSecond: try #require(number(item["uplink_bps"])), downlinkBitsPerSecond: try #require(number(item["downlink_bps"]))))
            #expect(segment == item["segment"] as? Int, "\(item["why"] ?? "")")
        }

        let scenario = try #require(cases["scenario"] as? [String: Any])
        let optimizerName = try #require(scenario["optimizer"] as? String)
        let optimizer = try #require(Optimizer(rawValue: optimizerName))
        let rule = SwitchingRule(
            horizonIterations: try #require(scenario["horizon_iterations"] as? Int),
            minimumRelativeGain: try #require(number(scenario["minimum_relative_gain"])))
        let migrations = table.migrations(graph: graph, optimizer: optimizer)
        var current = try #require(scenario["start_segment"] as? Int)
        for step in try #require(scenario["steps"] as? [[String: Any]]) {
            let uplink = try #require(number(step["uplink_bps"])), downlink = try #require(number(step["downlink_bps"]))
            let next = table.segmentToRun(current: current, uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: downlink, rule: rule) {
                migrations[$0][$1].seconds(uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: downlink)
            }
            let paid = next == current ? 0 : migrations[current][next].seconds(uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: downlink)
            #expect(next == step["segment"] as? Int, "\(step["why"] ?? "")")
            #expect(abs(paid - (number(step["migration_seconds"]) ?? -1)) <= 1e-12 * max(1, paid), "\(step["why"] ?? "")")
            current = next
        }
    }

    @Test("table JSON: the documented keys, null for the last maximum, and a round trip back to the same table")
    func reportShape() throws {
        let model = try PreparedModel(graph: try SampleModels.graph("resnet50"))
        let conditions = ComputeConditions(batchSize: 32, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 2e13, rttSeconds: 0.01)
        let table = try PlanTable.compute(model: model, conditions: conditions)
        let data = try PlanTableReport(table: table, model: model, algorithm: .block).jsonData()
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(object.keys) == ["model", "algorithm", "conditions", "segments", "parameter_bytes"])
        let segments = try #require(object["segments"] as? [[String: Any]])
        #expect(segments.count == table.segments.count)
        for segment in segments {
            #expect(
                Set(segment.keys) == ["min_effective_bps", "max_effective_bps", "device_layers", "cut_layers", "transfer_bytes", "fixed_seconds"])
        }
        #expect(segments.last?["max_effective_bps"] is NSNull)
        #expect(number(segments.first?["min_effective_bps"]) == 0)
        let back = try JSONDecoder().decode(PlanTableReport.self, from: data).table(graph: model.graph)
        #expect(back.segments == table.segments)
        #expect(back.conditions == conditions)

        var broken = try JSONDecoder().decode(PlanTableReport.self, from: data)
        broken.segments[0].deviceLayers.append("no_such_layer")
        #expect(throws: PlanningError.self) { try broken.table(graph: model.graph) }
        broken = try JSONDecoder().decode(PlanTableReport.self, from: data)
        broken.segments.swapAt(0, 1)
        #expect(throws: PlanningError.self) { try broken.table(graph: model.graph) }
    }
}
