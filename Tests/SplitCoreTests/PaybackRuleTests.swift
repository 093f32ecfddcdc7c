import Foundation
import Testing

@testable import SplitCore

@Suite("The payback switching rule and the switching policies")
struct PaybackRuleTests {
    static func cases() throws -> [String: Any] { try FixtureFiles.object("payback_cases.json") }

    @Test("accrual: hand-computed cases shared with the device client")
    func sharedAccrual() throws {
        let cases = try #require(try Self.cases()["accrue"] as? [[String: Any]])
        #expect(cases.count >= 4)
        for item in cases {
            let rule = PaybackRule(
                paybackFactor: try #require(FixtureFiles.number(item["payback_factor"])),
                minimumRelativeGain: try #require(FixtureFiles.number(item["minimum_relative_gain"])))
            var state = SwitchingState(accruedSavingSeconds: try FixtureFiles.numbers(item["accrued_saving_seconds"]))
            SwitchingPolicy.payback(rule).accrue(
                &state, elapsedSeconds: try #require(FixtureFiles.number(item["elapsed_seconds"])),
                currentSeconds: try #require(FixtureFiles.number(item["current_seconds"])),
                segmentSeconds: try FixtureFiles.numbers(item["segment_seconds"]))
            let expected = try FixtureFiles.numbers(item["expected"])
            #expect(zip(state.accruedSavingSeconds, expected).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, $1) }, "\(item["why"] ?? "")")
        }
    }

    @Test("decisions: hand-computed cases shared with the device client")
    func sharedDecisions() throws {
        let cases = try #require(try Self.cases()["decide"] as? [[String: Any]])
        #expect(cases.count >= 9)
        for item in cases {
            let why = item["why"] as? String ?? ""
            let policy = try JSONDecoder().decode(SwitchingPolicy.self, from: JSONSerialization.data(withJSONObject: try #require(item["rule"])))
            let decision = policy.decide(
                state: SwitchingState(accruedSavingSeconds: try FixtureFiles.numbers(item["accrued_saving_seconds"])),
                current: item["current"] as? Int,
                currentSeconds: FixtureFiles.number(item["current_seconds"]) ?? .infinity,
                segmentSeconds: try FixtureFiles.numbers(item["segment_seconds"]),
                migrationSeconds: try FixtureFiles.numbers(item["migration_seconds"]), best: try #require(item["best"] as? Int))
            let expected = try #require(item["expected"] as? [String: Any])
            #expect(decision.target == expected["target"] as? Int, "\(why)")
            #expect(decision.reason.rawValue == expected["reason"] as? String, "\(why): \(decision.reason)")
            if let revisit = FixtureFiles.number(expected["revisit_after_seconds"]) {
                #expect(abs((decision.revisitAfterSeconds ?? -1) - revisit) <= 1e-9 * revisit, "\(why)")
            } else {
                #expect(decision.revisitAfterSeconds == nil, "\(why)")
            }
            #expect(decision.isRefusal == (decision.target == nil && decision.reason != .best), "\(why)")
        }
    }

    @Test("a table device's scenario shared with the device client: accrue, then decide, step by step")
    func sharedScenario() throws {
        let scenario = try #require(try Self.cases()["scenario"] as? [String: Any])
        let graphCase = try #require(scenario["graph"] as? [String: Any])
        let names = try #require(graphCase["layers"] as? [String])
        let parameters = try #require(graphCase["parameter_bytes"] as? [String: Any])
        let graph = try ModelGraph(
            name: "chain",
            layers: names.enumerated().map { index, name in
                Layer(
                    name: name, inputs: index == 0 ? [] : [names[index - 1]], forwardFLOPs: 1, outputBytes: 1,
                    parameterBytes: FixtureFiles.number(parameters[name]) ?? 0)
            })
        let table = try JSONDecoder().decode(PlanTableReport.self, from: JSONSerialization.data(withJSONObject: try #require(scenario["table"])))
            .table(graph: graph)
        let optimizerName = try #require(scenario["optimizer"] as? String)
        let optimizer = try #require(Optimizer(rawValue: optimizerName))
        let migrations = table.migrations(graph: graph, optimizer: optimizer)
        let policy = SwitchingPolicy.payback(
            PaybackRule(
                paybackFactor: try #require(FixtureFiles.number(scenario["payback_factor"])),
                minimumRelativeGain: try #require(FixtureFiles.number(scenario["minimum_relative_gain"]))))
        var current = try #require(scenario["start_segment"] as? Int)
        var state = SwitchingState(segments: table.segments.count)
        let steps = try #require(scenario["steps"] as? [[String: Any]])
        #expect(steps.count >= 4)
        for step in steps {
            let why = step["why"] as? String ?? ""
            let up = try #require(FixtureFiles.number(step["uplink_bps"])), down = try #require(FixtureFiles.number(step["downlink_bps"]))
            table.accrue(
                &state, policy: policy, current: current, elapsedSeconds: try #require(FixtureFiles.number(step["elapsed_seconds"])),
                uplinkBitsPerSecond: up, downlinkBitsPerSecond: down)
            let accrued = try FixtureFiles.numbers(step["accrued_saving_seconds"])
            #expect(
                zip(state.accruedSavingSeconds, accrued).allSatisfy { abs($0 - $1) <= 1e-9 * max(1, $1) }, "\(why): \(state.accruedSavingSeconds)")
            let decision = table.decide(current: current, uplinkBitsPerSecond: up, downlinkBitsPerSecond: down, policy: policy, state: state) {
                migrations[$0][$1].seconds(uplinkBitsPerSecond: up, downlinkBitsPerSecond: down)
            }
            #expect((decision.target ?? current) == step["segment"] as? Int, "\(why)")
            #expect(decision.reason.rawValue == step["reason"] as? String, "\(why)")
            let migration = try #require(FixtureFiles.number(step["migration_seconds"]))
            #expect(abs(decision.migrationSeconds - migration) <= 1e-9 * max(1, migration), "\(why)")
            if let target = decision.target {
                current = target
                state.reset(segments: table.segments.count)
            }
        }
    }

    @Test("the horizon policy decides exactly as SwitchingRule.shouldSwitch, on random cases")
    func horizonMatchesRule() {
        var random = SplitMix64.property(seed: 17)
        for _ in 0..<5_000 {
            let rule = SwitchingRule(
                horizonIterations: Int.random(in: 0...20, using: &random), minimumRelativeGain: Double.random(in: 0..<0.5, using: &random))
            let count = Int.random(in: 2...5, using: &random)
            let seconds = (0..<count).map { _ in Double.random(in: 0.1...10, using: &random) }
            let migrations = (0..<count).map { _ in Double.random(in: 0...50, using: &random) }
            let current = Int.random(in: 0..<count, using: &random)
            let best = seconds.indices.min { seconds[$0] < seconds[$1] }!
            let decision = SwitchingPolicy.horizon(rule).decide(
                state: SwitchingState(segments: count), current: current, currentSeconds: seconds[current], segmentSeconds: seconds,
                migrationSeconds: migrations.enumerated().map { $0.offset == current ? 0 : $0.element }, best: best)
            let expected =
                best != current
                && rule.shouldSwitch(currentSeconds: seconds[current], candidateSeconds: seconds[best], migrationSeconds: migrations[best])
            #expect(decision.moves == expected)
            if decision.moves { #expect(decision.target == best && decision.reason == .paidFor) }
        }
    }

    @Test("a move is never into a split slower now, and never before its savings reach θ × migration, on random cases")
    func paybackInvariants() {
        var random = SplitMix64.property(seed: 23)
        for _ in 0..<5_000 {
            let rule = PaybackRule(
                paybackFactor: Double.random(in: 0...3, using: &random), minimumRelativeGain: Double.random(in: 0..<0.3, using: &random))
            let count = Int.random(in: 2...5, using: &random)
            let seconds = (0..<count).map { _ in Double.random(in: 0.1...10, using: &random) }
            let migrations = (0..<count).map { _ in Double.random(in: 0...50, using: &random) }
            let accrued = (0..<count).map { _ in Double.random(in: 0...60, using: &random) }
            let current = Int.random(in: 0..<count, using: &random)
            let best = seconds.indices.min { seconds[$0] < seconds[$1] }!
            let decision = SwitchingPolicy.payback(rule).decide(
                state: SwitchingState(accruedSavingSeconds: accrued), current: current, currentSeconds: seconds[current], segmentSeconds: seconds,
                migrationSeconds: migrations, best: best)
            if let target = decision.target {
                #expect(target != current)
                #expect(seconds[target] < (1 - rule.minimumRelativeGain) * seconds[current])
                #expect(accrued[target] >= rule.paybackFactor * migrations[target])
                // No faster split was also paid for.
                for other in seconds.indices where other != current && other != target && seconds[other] < seconds[target] {
                    #expect(
                        !(accrued[other] >= rule.paybackFactor * migrations[other]
                            && seconds[other] < (1 - rule.minimumRelativeGain) * seconds[current]))
                }
            } else if decision.reason == .notYetPaidFor {
                // Training the revisit time at these rates accrues exactly what is missing.
                let rate = rule.savingRate(currentSeconds: seconds[current], candidateSeconds: seconds[best])
                #expect(
                    abs(accrued[best] + rate * decision.revisitAfterSeconds! - rule.paybackFactor * migrations[best]) <= 1e-9
                        * max(1, migrations[best] * 3))
            }
        }
    }

    @Test("bad factors and gains are refused naming them; JSON round trips keep the rule")
    func validationAndJSON() throws {
        for (bad, name) in [
            (SwitchingPolicy.payback(PaybackRule(paybackFactor: -1)), "payback factor"),
            (.payback(PaybackRule(paybackFactor: .nan)), "payback factor"),
            (.payback(PaybackRule(minimumRelativeGain: 1)), "minimum gain"), (.horizon(SwitchingRule(horizonIterations: -2)), "switching horizon"),
        ] {
            do {
                try bad.validate()
                Issue.record("\(bad) accepted")
            } catch let error as PlanningError {
                #expect(error.description.hasPrefix(name), "\(error)")
            }
        }
        for policy in [
            SwitchingPolicy.default, .payback(PaybackRule(paybackFactor: 2.5, minimumRelativeGain: 0.05)),
            .horizon(SwitchingRule(horizonIterations: 7)),
        ] {
            let data = try JSONEncoder().encode(policy)
            #expect(try JSONDecoder().decode(SwitchingPolicy.self, from: data) == policy)
        }
        #expect(SwitchingPolicy.default == .payback(PaybackRule(paybackFactor: 1, minimumRelativeGain: 0)))
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(SwitchingPolicy.self, from: Data(#"{"rule": "psychic"}"#.utf8)) }
    }
}
