import Foundation
import SplitSupport
import Testing

@Suite("shared helpers")
struct HelperTests {
    @Test("RFC 3339: real calendar dates and offsets only; leap days by the Gregorian rule")
    func timestamps() throws {
        let valid = [
            ("2024-02-29T12:00:00Z", 1_709_208_000.0), ("2000-02-29T00:00:00Z", 951_782_400.0), ("2026-12-07T10:00:00+23:59", 1_796_551_260.0),
            ("2026-12-07T10:00:00.5-01:30", 1_796_643_000.5),
        ]
        for (text, epoch) in valid {
            #expect(Timestamp.parse(text)?.timeIntervalSince1970 == epoch, "\(text)")
        }
        let invalid = [
            "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2026-11-31T00:00:00Z", "2026-04-31T00:00:00Z", "2026-12-07T10:00:00+99:99",
            "2026-12-07T10:00:00+24:00", "2026-12-07T10:00:00-00:60", "2026-12-07T10:00:00+0a:00", "2026-1a-07T10:00:00Z",
            "2026-12-00T10:00:00Z", "2026-12-07T24:00:00Z",
        ]
        for text in invalid { #expect(Timestamp.parse(text) == nil, "\(text)") }
    }

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
