import Foundation
import SplitFuzzSupport
import Testing

@testable import SplitImport

@Suite("Protobuf wire reader")
struct ProtobufReaderTests {
    @Test("varints decode at every length, including the 10-byte maximum and negative int64")
    func varints() throws {
        let samples: [UInt64] = [0, 1, 127, 128, 300, 16_383, 16_384, 1 << 35, UInt64.max >> 1, UInt64.max]
        for value in samples {
            var writer = ProtobufWriter()
            writer.varint(value)
            let decoded = try ProtobufReader.withReader(writer.data) { reader in try reader.readVarint() }
            #expect(decoded == value)
        }
        var writer = ProtobufWriter()
        writer.varint(UInt64(bitPattern: -5))
        #expect(writer.data.count == 10)
        #expect(try ProtobufReader.withReader(writer.data) { try $0.readInt64() } == -5)
    }

    @Test("overlong and truncated varints are errors, not traps")
    func badVarints() {
        let overlong = Data(repeating: 0xff, count: 11)
        #expect(throws: ProtobufError.self) { try ProtobufReader.withReader(overlong) { try $0.readVarint() } }
        let overflowing = Data(repeating: 0xff, count: 9) + Data([0x02])
        #expect(throws: ProtobufError.self) { try ProtobufReader.withReader(overflowing) { try $0.readVarint() } }
        #expect(throws: ProtobufError.self) { try ProtobufReader.withReader(Data([0x80, 0x80])) { try $0.readVarint() } }
    }

    @Test("packed and unpacked repeated ints read the same values")
    func packedAndUnpacked() throws {
        var packed = ProtobufWriter()
        packed.packedInts(1, [1, -2, 300])
        var unpacked = ProtobufWriter()
        for value: Int64 in [1, -2, 300] { unpacked.int(1, value) }
        for data in [packed.data, unpacked.data] {
            let values = try ProtobufReader.withReader(data) { reader -> [Int64] in
                var values: [Int64] = []
                while !reader.isAtEnd {
                    let (field, wireType) = try reader.readKey()
                    #expect(field == 1)
                    try reader.readRepeatedInt64(wireType, into: &values)
                }
                return values
            }
            #expect(values == [1, -2, 300])
        }
    }

    @Test("a length running past the end, a bad wire type and field 0 are rejected")
    func malformedFields() {
        // Field 1, length-delimited, claims 100 bytes with 2 present.
        #expect(throws: ProtobufError.self) {
            try ProtobufReader.withReader(Data([0x0a, 100, 1, 2])) { reader in
                _ = try reader.readKey()
                _ = try reader.readBytes()
            }
        }
        // Wire type 3 (start group) is not supported.
        #expect(throws: ProtobufError.self) { try ProtobufReader.withReader(Data([0x0b])) { _ = try $0.readKey() } }
        // Field number 0.
        #expect(throws: ProtobufError.self) { try ProtobufReader.withReader(Data([0x00])) { _ = try $0.readKey() } }
        // Truncated fixed32 / fixed64.
        #expect(throws: ProtobufError.self) { try ProtobufReader.withReader(Data([1, 2, 3])) { _ = try $0.readFixed32() } }
        #expect(throws: ProtobufError.self) { try ProtobufReader.withReader(Data([1, 2, 3, 4, 5])) { _ = try $0.readFixed64() } }
    }

    @Test("nesting deeper than the limit is an error")
    func depthLimit() {
        var data = Data()
        for _ in 0..<(ProtobufReader.maximumDepth + 5) {
            var writer = ProtobufWriter()
            writer.bytes(1, data)
            data = writer.data
        }
        #expect(throws: ProtobufError.self) {
            try ProtobufReader.withReader(data) { reader in
                func descend(_ reader: inout ProtobufReader) throws {
                    while !reader.isAtEnd {
                        _ = try reader.readKey()
                        var child = try reader.readMessage()
                        try descend(&child)
                    }
                }
                try descend(&reader)
            }
        }
    }

    @Test("fixed-width values are little-endian")
    func fixedWidth() throws {
        var writer = ProtobufWriter()
        writer.float(2, 1.5)
        let value = try ProtobufReader.withReader(writer.data) { reader -> Double in
            var values: [Double] = []
            let (field, wireType) = try reader.readKey()
            #expect(field == 2)
            try reader.readRepeatedFloat(wireType, into: &values)
            return values[0]
        }
        #expect(value == 1.5)
    }
}
