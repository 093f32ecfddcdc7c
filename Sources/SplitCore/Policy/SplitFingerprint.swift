/// A short key for a split of one model version: equal splits have equal keys.
///
/// 128 bits from two independent 64-bit hashes (FNV-1a and a multiply-xorshift mix) over the
/// model name, version and the device side packed as bits. Keys are compared only between splits
/// the planner produced for the same model version (a handful per version in practice), so a
/// collision, which would make the daemon treat two splits as the same, has probability about
/// n²/2¹²⁹ for n distinct splits: nil in practice. Not a cryptographic digest; nothing trusts it
/// for security.
public enum SplitFingerprint {
    /// The key of the split `onDevice` of `modelName` version `modelVersion`, as 32 hex digits.
    public static func of(modelName: String, modelVersion: Int, onDevice: [Bool]) -> String {
        var first = FNV1a()
        var second = MixHash()
        func feed(_ byte: UInt8) {
            first.add(byte)
            second.add(byte)
        }
        for byte in modelName.utf8 { feed(byte) }
        feed(0)
        for byte in String(modelVersion).utf8 { feed(byte) }
        feed(0)
        var packed: UInt8 = 0
        for (index, device) in onDevice.enumerated() {
            if device { packed |= 1 << UInt8(index % 8) }
            if index % 8 == 7 { feed(packed); packed = 0 }
        }
        feed(packed)
        for byte in String(onDevice.count).utf8 { feed(byte) }
        return hex(first.value) + hex(second.finish())
    }

    private static func hex(_ value: UInt64) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }

    private struct FNV1a {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        mutating func add(_ byte: UInt8) {
            value ^= UInt64(byte)
            value = value &* 0x0000_0100_0000_01b3
        }
    }

    private struct MixHash {
        var state: UInt64 = 0x9e37_79b9_7f4a_7c15
        mutating func add(_ byte: UInt8) {
            state = (state ^ UInt64(byte)) &* 0xbf58_476d_1ce4_e5b9
            state ^= state >> 29
        }
        func finish() -> UInt64 {
            var z = state &+ 0x9e37_79b9_7f4a_7c15
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
    }
}
