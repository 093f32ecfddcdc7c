import Foundation
import Testing

@testable import SplitCore

@Suite("SplitFingerprint: equal splits have equal keys")
struct SplitFingerprintTests {
    static func isHex32(_ key: String) -> Bool { key.count == 32 && key.allSatisfy { $0.isHexDigit && !$0.isUppercase } }

    @Test("32 lower-case hex digits; the same inputs give the same key")
    func shape() {
        let key = SplitFingerprint.of(modelName: "resnet50", modelVersion: 3, onDevice: [true, true, false])
        #expect(Self.isHex32(key))
        #expect(key == SplitFingerprint.of(modelName: "resnet50", modelVersion: 3, onDevice: [true, true, false]))
    }

    @Test("name, version, every layer's side and the layer count all change the key")
    func distinguishes() {
        let base = SplitFingerprint.of(modelName: "m", modelVersion: 1, onDevice: [true, false, false])
        #expect(base != SplitFingerprint.of(modelName: "n", modelVersion: 1, onDevice: [true, false, false]))
        #expect(base != SplitFingerprint.of(modelName: "m", modelVersion: 2, onDevice: [true, false, false]))
        #expect(base != SplitFingerprint.of(modelName: "m", modelVersion: 1, onDevice: [true, true, false]))
        // Trailing server layers: the same bits, packed, but a different graph.
        #expect(base != SplitFingerprint.of(modelName: "m", modelVersion: 1, onDevice: [true, false, false, false]))
        // Name and version are separated: "m1" v2 is not "m" v12.
        #expect(
            SplitFingerprint.of(modelName: "m1", modelVersion: 2, onDevice: [true])
                != SplitFingerprint.of(modelName: "m", modelVersion: 12, onDevice: [true]))
    }

    @Test("no collisions among every split of a 14-layer model (16,384 keys), across the 8-layer packing boundary")
    func noCollisions() {
        var keys = Set<String>()
        for bits in 0..<(1 << 14) {
            let onDevice = (0..<14).map { bits & (1 << $0) != 0 }
            keys.insert(SplitFingerprint.of(modelName: "model", modelVersion: 7, onDevice: onDevice))
        }
        #expect(keys.count == 1 << 14)
        #expect(keys.allSatisfy(Self.isHex32))
    }
}
