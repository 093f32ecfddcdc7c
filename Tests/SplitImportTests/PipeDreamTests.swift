import Foundation
import SplitCore
import Testing

@testable import SplitImport

@Suite("PipeDream graph.txt import")
struct PipeDreamTests {
    static func fixture() throws -> String { String(decoding: try Fixtures.data("pipedream-graph.txt"), as: UTF8.self) }

    @Test("nodes become layers with per-sample times, bytes and parameters; edges become inputs")
    func imports() throws {
        let output = try PipeDreamImporter.importGraph(text: try Self.fixture(), options: .init(batchSize: 32, profiledFLOPsPerSecond: 1e13))
        let graph = output.result.graph
        #expect(graph.count == 10)
        func layer(_ name: String) throws -> Layer { try #require(graph.index(of: name).map { graph.layers[$0] }) }
        let input = try layer("node1")
        #expect(input.op == "input" && input.forwardFLOPs == 0 && input.outputBytes == 393216.0 / 32)
        let conv = try layer("node5")
        #expect(conv.op == "Conv2d")
        #expect(abs(conv.forwardFLOPs - 1.905e-3 / 32 * 1e13) < 1e-3)
        #expect(abs(conv.backwardFLOPs - 3.872e-3 / 32 * 1e13) < 1e-3)
        #expect(conv.outputBytes == 2097152.0 / 32)  // "[a; b]" activations are summed
        #expect(conv.parameterBytes == 9280)
        #expect(try layer("node6").inputs.sorted() == ["node4", "node5"])
        #expect(try layer("node9").inputs.sorted() == ["node7", "node8"])
        #expect(graph.outputs.map { graph.layers[$0].name } == ["node10"])
        // The profile carries the measured milliseconds at the profiled batch, inputs excluded.
        #expect(output.profile.batchSize == 32 && output.profile.secondsPerSample["node1"] == nil)
        let perSample = try #require(output.profile.secondsPerSample["node5"])
        #expect(abs(perSample - (1.905 + 3.872) / 1000 / 32) < 1e-15)
        let reparsed = try LayerProfile(json: output.profileJSON)
        #expect(reparsed == output.profile)
    }

    @Test("the imported graph and profile plan together: measured times price the layers")
    func plansWithProfile() throws {
        let output = try PipeDreamImporter.importGraph(text: try Self.fixture(), options: .init(batchSize: 32))
        let model = try PreparedModel(graph: output.result.graph, deviceProfile: output.profile, serverProfile: output.profile)
        let conditions = PlanningConditions(
            batchSize: 32, deviceFLOPsPerSecond: 1e11, serverFLOPsPerSecond: 2e13,
            uplinkBitsPerSecond: 1e9, downlinkBitsPerSecond: 1e9, rttSeconds: 0)
        let plan = try SplitPlanner(model: model).plan(.dag, conditions: conditions)
        // With the same profile on both sides, compute costs the same anywhere: the measured total
        // plus the cheapest transfer.
        let measured = output.profile.secondsPerSample.values.reduce(0, +) * 32
        #expect(plan.delaySeconds >= measured)
        #expect(abs(plan.breakdown.deviceComputeSeconds + plan.breakdown.serverComputeSeconds - measured) < 1e-9)
    }

    @Test("bad lines, unknown nodes in edges, cycles and negative values name the line and field")
    func errors() throws {
        func error(_ text: String) -> ImportError? {
            do {
                _ = try PipeDreamImporter.importGraph(text: text, options: .init(batchSize: 8))
                return nil
            } catch let error as ImportError {
                return error
            } catch {
                Issue.record("untyped error \(error)")
                return nil
            }
        }
        let node = "node1 -- Input -- forward_compute_time=0.1, backward_compute_time=0.0, activation_size=4.0, parameter_size=0.0"
        let conv = "node2 -- Conv2d(3, 3) -- forward_compute_time=0.1, backward_compute_time=0.2, activation_size=4.0, parameter_size=8.0"
        #expect(error("")?.kind == .syntax)
        #expect(error("just some words")?.field == "line 1")
        #expect(error(node + "\n" + conv + "\nnode1 -- node3")?.field == "line 3")
        #expect(error(node + "\n" + conv.replacingOccurrences(of: "0.2", with: "-1"))?.field == "line 2, backward_compute_time")
        #expect(error(node + "\n" + node)?.kind == .syntax)
        #expect(error(node.replacingOccurrences(of: ", parameter_size=0.0", with: ""))?.field == "line 1, parameter_size")
        let cycle = [node, conv, conv.replacingOccurrences(of: "node2", with: "node3"), "node1 -- node2", "node2 -- node3", "node3 -- node2"]
        #expect(error(cycle.joined(separator: "\n"))?.kind == .cycle)
        #expect(throws: ImportError.self) { try PipeDreamImporter.importGraph(text: node, options: .init(batchSize: 0)) }
    }
}
