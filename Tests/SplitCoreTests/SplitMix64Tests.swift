import SplitCore
import Testing

/// The one seeded generator: the reference sequence, and draws within their ranges.
@Suite("SplitMix64")
struct SplitMix64Tests {
    @Test("seed 0 gives the reference SplitMix64 sequence; a seed always gives the same sequence")
    func referenceSequence() {
        var generator = SplitMix64(seed: 0)
        #expect([generator.next(), generator.next(), generator.next()] == [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F])
        var first = SplitMix64(seed: 42), second = SplitMix64(seed: 42)
        #expect((0..<100).map { _ in first.next() } == (0..<100).map { _ in second.next() })
    }

    @Test("unit, double, int and normal draws stay in their ranges")
    func ranges() {
        var generator = SplitMix64(seed: 7)
        for _ in 0..<10_000 {
            let unit = generator.unit(), double = generator.double(-1.5...0.5), int = generator.int(3...9)
            #expect(unit >= 0 && unit < 1)
            #expect(double >= -1.5 && double <= 0.5)
            #expect((3...9).contains(int))
            #expect(generator.normal().isFinite)
        }
        #expect(!(0..<100).contains { _ in generator.bool(0) } && (0..<100).allSatisfy { _ in generator.bool(1) })
    }
}
