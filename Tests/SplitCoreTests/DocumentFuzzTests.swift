import Foundation
import SplitFuzzSupport
import SplitTestSupport
import Testing

@testable import SplitCore

/// Seeded corruptions of splitgraph/1 and splitprofile/1 documents: every case must decode to a
/// valid value or throw the decoder's typed error naming where the problem is; never trap.
@Suite("Fuzzing the graph and profile decoders")
struct DocumentFuzzTests {
    /// A small graph using every field: blocks, declared outputs, parameters, a fan-in.
    static let graph = Array(
        """
        {"format":"splitgraph/1","name":"tiny","outputs":["head"],"layers":[
         {"name":"x","op":"input","inputs":[],"forward_flops":0,"backward_flops":0,"output_bytes":600},
         {"name":"a","op":"conv","inputs":["x"],"forward_flops":1e6,"backward_flops":2e6,"output_bytes":3200,"param_bytes":40,"block":"b1"},
         {"name":"b","op":"relu","inputs":["a"],"forward_flops":800,"backward_flops":800,"output_bytes":3200,"block":"b1"},
         {"name":"c","op":"add","inputs":["a","b"],"forward_flops":800,"backward_flops":0,"output_bytes":3200,"block":"b1"},
         {"name":"head","op":"linear","inputs":["c"],"forward_flops":2e4,"backward_flops":4e4,"output_bytes":40,"param_bytes":1e4}]}
        """.utf8)

    /// A small profile with every field.
    static let profile = Array(
        """
        {"format":"splitprofile/1","batch_size":8,"hardware":"test","model":"tiny","layers":{
         "a":{"forward_ms":1.5,"backward_ms":3,"memory_bytes":1e6},"b":{"forward_ms":0.1,"backward_ms":0.2},
         "head":{"forward_ms":0.4,"backward_ms":0.9}}}
        """.utf8)

    static func cases(
        _ document: [UInt8], seed: UInt64, truncateEvery step: Int, flips: Int, corruptions: Int,
        structural: Int, insertions: Int
    ) throws -> [FuzzCase] {
        let parsed = try JSONValue.parse(document)
        return ByteMutations.truncations(of: document, every: step)
            + ByteMutations.bitFlips(of: document, count: flips, seed: seed)
            + ByteMutations.corruptions(of: document, count: corruptions, seed: seed)
            + JSONMutations.cases(of: parsed, count: structural, seed: seed)
            + JSONMutations.insertions(into: document, count: insertions, seed: seed)
    }

    /// Decodes one case: a graph must be valid and survive a round trip; an error must be a
    /// `GraphError` naming the JSON position, or the field (and layer, when it has one).
    /// Returns whether it decoded.
    static func checkGraph(_ fuzz: FuzzCase) -> Bool {
        do {
            let graph = try ModelGraph(json: fuzz.bytes)
            #expect(graph.count >= 1 && Set(graph.layerNames).count == graph.count, "\(fuzz.label)")
            for index in 0..<graph.count {
                #expect(graph.predecessors(of: index).allSatisfy { $0 < index }, "\(fuzz.label): not topological")
                let layer = graph.layers[index]
                #expect([layer.forwardFLOPs, layer.backwardFLOPs].allSatisfy { Limits.layerFLOPs.violation($0) == nil }, "\(fuzz.label)")
                #expect([layer.outputBytes, layer.parameterBytes].allSatisfy { Limits.layerBytes.violation($0) == nil }, "\(fuzz.label)")
            }
            let again = try ModelGraph(json: graph.jsonData())
            #expect(again.layerNames == graph.layerNames && again.outputs == graph.outputs, "\(fuzz.label): round trip")
            return true
        } catch let error as GraphError {
            switch error.kind {
            case .invalidJSON:
                #expect(
                    error.reason.contains("line ") && error.reason.contains("column ") || error.reason.contains("JSON object"),
                    "\(fuzz.label): \(error)")
            case .noInput, .tooManyLayers:
                #expect(!error.reason.isEmpty, "\(fuzz.label)")
            default:
                #expect(error.field != nil, "\(fuzz.label): \(error) names no field")
            }
            if let layer = error.layer, layer.hasPrefix("#"), let position = Int(layer.dropFirst()) {
                #expect(position >= 0 && position < max(fuzz.bytes.count, 1), "\(fuzz.label): \(error)")
            }
            return false
        } catch {
            Issue.record("\(fuzz.label): untyped error \(type(of: error)): \(error)")
            return false
        }
    }

    /// Decodes one case: a profile's values must be within their limits; an error must be a
    /// `ProfileError` naming the layer or field, or the JSON position.
    static func checkProfile(_ fuzz: FuzzCase) -> Bool {
        do {
            let profile = try LayerProfile(json: fuzz.bytes)
            #expect(profile.batchSize >= 1 && Limits.batchSize.violation(Double(profile.batchSize)) == nil, "\(fuzz.label)")
            for (name, seconds) in profile.secondsPerSample {
                #expect(!name.isEmpty && !name.utf8.contains(0) && seconds.isFinite && seconds >= 0, "\(fuzz.label): layer \(name)")
            }
            #expect(profile.memoryBytesPerSample.values.allSatisfy { $0.isFinite && $0 >= 0 }, "\(fuzz.label)")
            return true
        } catch let error as ProfileError {
            #expect(
                error.layer != nil || error.field != nil || error.reason.contains("line ") && error.reason.contains("column "),
                "\(fuzz.label): \(error) says not where")
            return false
        } catch {
            Issue.record("\(fuzz.label): untyped error \(type(of: error)): \(error)")
            return false
        }
    }

    @Test("2,800 corruptions of a small graph and 300 of resnet18: a valid graph or a GraphError naming where")
    func graphs() throws {
        let small = try Self.cases(Self.graph, seed: 1, truncateEvery: 2, flips: 600, corruptions: 600, structural: 900, insertions: 300)
        let resnet = try Data(contentsOf: packageRoot.appendingPathComponent("ops/models/resnet18.json"))
        let large = try Self.cases(Array(resnet), seed: 2, truncateEvery: 1_000, flips: 60, corruptions: 60, structural: 120, insertions: 40)
        let decoded = (small + large).filter(Self.checkGraph).count
        #expect(small.count + large.count >= 3_000)
        // Flips inside numbers or names often leave a valid graph; most corruptions must not.
        #expect(decoded > 50 && decoded < (small.count + large.count) / 2, "\(decoded) decoded")
    }

    @Test("2,400 corruptions of a small profile and 200 of a measured one: a valid profile or a ProfileError naming where")
    func profiles() throws {
        let small = try Self.cases(Self.profile, seed: 3, truncateEvery: 1, flips: 500, corruptions: 500, structural: 800, insertions: 300)
        let measured = try Data(contentsOf: packageRoot.appendingPathComponent("ops/profiles/resnet18.cpu2.json"))
        let large = try Self.cases(Array(measured), seed: 4, truncateEvery: 500, flips: 40, corruptions: 40, structural: 80, insertions: 30)
        let decoded = (small + large).filter(Self.checkProfile).count
        #expect(small.count + large.count >= 2_500)
        #expect(decoded > 50 && decoded < (small.count + large.count) / 2, "\(decoded) decoded")
    }

    @Test("regressions: deep nesting, huge numbers and NUL are refused naming the position or field")
    func regressions() throws {
        let deep = Array((String(repeating: "[", count: 100_000)).utf8)
        #expect(throws: GraphError.self) { try ModelGraph(json: deep) }
        let huge = String(decoding: Self.graph, as: UTF8.self).replacingOccurrences(of: "\"output_bytes\":40", with: "\"output_bytes\":1e999")
        let hugeError = try #require(throws: GraphError.self) { try ModelGraph(json: Array(huge.utf8)) }
        #expect(hugeError.layer == "head" && hugeError.field == "output_bytes")
        let nul = String(decoding: Self.profile, as: UTF8.self).replacingOccurrences(of: "\"b\":", with: "\"b\\u0000\":")
        let nulError = try #require(throws: ProfileError.self) { try LayerProfile(json: Array(nul.utf8)) }
        #expect(nulError.field == "layers" && nulError.reason.contains("NUL"))
    }
}
