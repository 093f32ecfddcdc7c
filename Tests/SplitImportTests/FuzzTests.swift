import Foundation
import SplitCore
import SplitFuzzSupport
import Testing

@testable import SplitImport

@Suite("Fuzzing the ONNX reader and importer")
struct FuzzTests {
    /// One random corruption of `data`: flipped bytes, truncation, inserted or duplicated bytes,
    /// a run of 0xff (overlong varints, huge lengths) or a zeroed run.
    static func mutate(_ data: Data, _ generator: inout SplitMix64) -> Data {
        var bytes = [UInt8](data)
        guard !bytes.isEmpty else { return data }
        let position = Int.random(in: 0..<bytes.count, using: &generator)
        switch Int.random(in: 0..<6, using: &generator) {
        case 0:
            for _ in 0..<Int.random(in: 1...8, using: &generator) {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator)
            }
        case 1:
            bytes.removeSubrange(position...)
        case 2:
            bytes.insert(
                contentsOf: (0..<Int.random(in: 1...16, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) },
                at: position)
        case 3:
            let end = min(bytes.count, position + Int.random(in: 1...10, using: &generator))
            bytes.replaceSubrange(position..<end, with: repeatElement(0xff, count: end - position))
        case 4:
            let end = min(bytes.count, position + Int.random(in: 1...64, using: &generator))
            bytes.insert(contentsOf: bytes[position..<end], at: Int.random(in: 0...bytes.count, using: &generator))
        default:
            let end = min(bytes.count, position + Int.random(in: 1...32, using: &generator))
            bytes.replaceSubrange(position..<end, with: repeatElement(0, count: end - position))
        }
        return Data(bytes)
    }

    /// Imports `data`; anything but success or an `ImportError` is a failure. An error must say
    /// where: malformed bytes name an offset within the file, anything else a node, value or
    /// field. An imported graph must survive its own splitgraph/1 round trip.
    static func check(_ data: Data, _ label: String) -> Bool {
        do {
            let result = try ONNXImporter.importGraph(data: data, options: ImportOptions(unknownOperators: .zero))
            let again = try? ModelGraph(json: result.graph.jsonData())
            #expect(again?.layerNames == result.graph.layerNames, "\(label): imported graph does not round-trip")
            return true
        } catch let error as ImportError {
            if error.kind == .malformed, !data.isEmpty {
                let offset = error.field.flatMap { $0.hasPrefix("byte ") ? Int($0.dropFirst(5)) : nil }
                #expect(offset.map { $0 >= 0 && $0 <= data.count } == true, "\(label): \(error) names no offset in the file")
            } else if !data.isEmpty {
                #expect(error.location != nil, "\(label): \(error) says not where")
            }
            return false
        } catch {
            Issue.record("\(label): untyped error \(error)")
            return false
        }
    }

    @Test("4,000 mutations of the small fixtures: no crash, only typed errors")
    func mutatedSmallFixtures() throws {
        var generator = SplitMix64(seed: 12)
        let files = ["resnet18.ts.onnx", "vgg16.ts.onnx", "resnet50.ts.onnx", "googlenet.ts.onnx", "mobilenet_v2.ts.onnx"]
        let originals = try files.map(Fixtures.data)
        var rejected = 0
        for iteration in 0..<4_000 {
            let index = iteration % originals.count
            var data = Self.mutate(originals[index], &generator)
            if iteration % 3 == 0 { data = Self.mutate(data, &generator) }
            if !Self.check(data, "\(files[index]) mutation \(iteration)") { rejected += 1 }
        }
        // Most corruptions must be caught; some (inside names or unused payloads) are harmless.
        #expect(rejected > 1_000)
    }

    @Test("300 mutations of the transformer fixtures and 1,000 random buffers: no crash, only typed errors")
    func mutatedLargeFixturesAndGarbage() throws {
        var generator = SplitMix64(seed: 99)
        let originals = try ["vit_b_16.ts.onnx", "gpt2.dynamo.onnx", "mobilenet_v2.dynamo.onnx"].map(Fixtures.data)
        for iteration in 0..<300 {
            _ = Self.check(Self.mutate(originals[iteration % originals.count], &generator), "large mutation \(iteration)")
        }
        var accepted = 0
        for iteration in 0..<1_000 {
            let length = Int.random(in: 0...512, using: &generator)
            let data = Data((0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
            if Self.check(data, "garbage \(iteration)") { accepted += 1 }
        }
        #expect(accepted == 0)
    }

    @Test("vgg16 and resnet18 truncated every 7 bytes, and 1,200 bit flips: a graph, or an ImportError naming the offset or node")
    func truncationsAndBitFlips() throws {
        var cases: [FuzzCase] = []
        for (file, seed) in [("vgg16.ts.onnx", UInt64(8)), ("resnet18.ts.onnx", UInt64(9))] {
            let bytes = [UInt8](try Fixtures.data(file))
            cases += ByteMutations.truncations(of: bytes, every: 7).map { FuzzCase("\(file) \($0.label)", $0.bytes) }
            cases += ByteMutations.bitFlips(of: bytes, count: 600, seed: seed).map { FuzzCase("\(file) \($0.label)", $0.bytes) }
        }
        let imported = cases.filter { Self.check(Data($0.bytes), $0.label) }.count
        #expect(cases.count >= 4_000)
        // A truncation never imports (the graph is one field: cutting it anywhere breaks it, and
        // the few cuts at a field boundary lose nodes or outputs); flips in names often survive.
        #expect(imported > 0 && imported < cases.count / 2, "\(imported) imported")
    }
}
