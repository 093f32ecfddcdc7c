import Foundation
import SplitCore

/// One corrupted input and how it was made (for the failure message).
public struct FuzzCase: Sendable {
    /// What was done to the original, e.g. `truncated at 120` or `seed 7: flip at 40`.
    public let label: String
    /// The corrupted bytes.
    public let bytes: [UInt8]

    /// Creates a case.
    public init(_ label: String, _ bytes: [UInt8]) {
        self.label = label
        self.bytes = bytes
    }
}

/// Deterministic byte-level corruptions that any decoder of user input must survive.
public enum ByteMutations {
    /// Every prefix of `bytes` whose length is a multiple of `step` (plus the empty input).
    public static func truncations(of bytes: [UInt8], every step: Int) -> [FuzzCase] {
        stride(from: 0, to: bytes.count, by: max(step, 1)).map { FuzzCase("truncated at \($0)", Array(bytes[..<$0])) }
    }

    /// `count` cases, each flipping 1 to 4 random bits of `bytes` (seeded by `seed` and the case number).
    public static func bitFlips(of bytes: [UInt8], count: Int, seed: UInt64) -> [FuzzCase] {
        guard !bytes.isEmpty else { return [] }
        return (0..<count).map { number in
            var random = SplitMix64(seed: seed &* 1_000_003 &+ UInt64(number))
            var copy = bytes
            var positions: [Int] = []
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let position = Int.random(in: 0..<copy.count, using: &random)
                copy[position] ^= 1 << UInt8.random(in: 0...7, using: &random)
                positions.append(position)
            }
            return FuzzCase("seed \(seed) case \(number): bits flipped at \(positions)", copy)
        }
    }

    /// `count` cases, each corrupting `bytes` in one of several ways chosen by the seed: a random
    /// byte, a NUL written or inserted, a run of 0xFF, bytes deleted, or a slice duplicated.
    public static func corruptions(of bytes: [UInt8], count: Int, seed: UInt64) -> [FuzzCase] {
        guard !bytes.isEmpty else { return [] }
        return (0..<count).map { number in
            var random = SplitMix64(seed: seed &* 2_000_003 &+ UInt64(number))
            var copy = bytes
            let position = Int.random(in: 0..<copy.count, using: &random)
            let end = min(copy.count, position + Int.random(in: 1...16, using: &random))
            let kind: String
            switch Int.random(in: 0..<6, using: &random) {
            case 0:
                copy[position] = UInt8.random(in: 0...255, using: &random)
                kind = "random byte"
            case 1:
                copy[position] = 0
                kind = "NUL written"
            case 2:
                copy.insert(0, at: position)
                kind = "NUL inserted"
            case 3:
                copy.replaceSubrange(position..<end, with: repeatElement(0xFF, count: end - position))
                kind = "0xFF run"
            case 4:
                copy.removeSubrange(position..<end)
                kind = "bytes deleted"
            default:
                copy.insert(contentsOf: copy[position..<end], at: Int.random(in: 0...copy.count, using: &random))
                kind = "slice duplicated"
            }
            return FuzzCase("seed \(seed) case \(number): \(kind) at \(position)", copy)
        }
    }
}
