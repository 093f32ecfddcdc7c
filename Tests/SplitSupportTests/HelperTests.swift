import Foundation
import SplitSupport
import Testing

@Suite("shared helpers")
struct HelperTests {
    @Test("hex is lower case, two digits per byte, leading zeros kept")
    func hex() {
        #expect(Hex.encode([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
        #expect(Hex.encode([UInt8]()) == "")
    }

    @Test("constant-time comparison is equality of the bytes, lengths included")
    func constantTime() {
        #expect(ConstantTime.equal("sdt_abc", "sdt_abc"))
        #expect(!ConstantTime.equal("sdt_abc", "sdt_abd"))
        #expect(!ConstantTime.equal("sdt_abc", "sdt_ab"))
        #expect(!ConstantTime.equal([UInt8](), [0]))
    }

    @Test("tokens are unpadded base64url of the requested length, and differ")
    func tokens() {
        let token = SecureRandom.token(bytes: 32)
        #expect(token.count == 43)  // ceil(32 * 4 / 3) without padding
        #expect(token.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        #expect(token != SecureRandom.token(bytes: 32))
        // A bulk draw (message ids) is read from the kernel in one go: full length, and random.
        let draw = SecureRandom.bytes(12_000)
        #expect(draw.count == 12_000 && SecureRandom.bytes(3).count == 3)
        #expect(Set(draw).count > 200, "12,000 random bytes take nearly every value")
        #expect(draw != SecureRandom.bytes(12_000))
        #expect(Set(SecureRandom.tokens(1000, bytes: 12)).count == 1000)
        let secret = SecureRandom.webhookSecret()
        #expect(secret.hasPrefix("whsec_"))
        #expect(Data(base64Encoded: String(secret.dropFirst(6)))?.count == 32)
    }
}
