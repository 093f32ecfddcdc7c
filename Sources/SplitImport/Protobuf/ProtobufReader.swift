import Foundation

/// A bounds-checked reader of the protobuf wire format over a byte buffer.
///
/// Reads only what ONNX needs: varints, 32/64-bit fixed values, length-delimited fields and
/// packed repeated scalars. Every read checks the remaining length first and throws
/// `ProtobufError` instead of trapping, so hostile or truncated bytes can only produce an error.
/// A reader never copies the buffer: sub-messages are readers over a slice of the same storage.
struct ProtobufReader {
    /// Wire types of protobuf encoding (3 and 4, groups, are deprecated and rejected).
    enum WireType: UInt8 {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
        case fixed32 = 5
    }

    /// The most nested messages the ONNX decoder will follow (graphs inside attributes inside graphs).
    static let maximumDepth = 64

    private let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int
    private let end: Int
    /// Nesting depth of this reader (0 for the file itself).
    let depth: Int

    /// A reader over `bytes`, which must outlive it (see `withReader`).
    private init(bytes: UnsafeRawBufferPointer, offset: Int, end: Int, depth: Int) {
        self.bytes = bytes
        self.offset = offset
        self.end = end
        self.depth = depth
    }

    /// Runs `body` with a reader over `data`.
    static func withReader<Result>(_ data: Data, _ body: (inout ProtobufReader) throws -> Result) throws -> Result {
        try data.withUnsafeBytes { buffer in
            var reader = ProtobufReader(bytes: buffer, offset: 0, end: buffer.count, depth: 0)
            return try body(&reader)
        }
    }

    /// Whether every byte has been consumed.
    var isAtEnd: Bool { offset >= end }

    /// Bytes left in this reader.
    var remainingCount: Int { end - offset }

    /// Reads every remaining byte.
    mutating func readRemainingBytes() -> Data {
        let data = Data(bytes[offset..<end])
        offset = end
        return data
    }

    /// Reads the next field key: its number and wire type.
    mutating func readKey() throws -> (field: Int, wireType: WireType) {
        let key = try readVarint()
        let rawType = UInt8(truncatingIfNeeded: key & 7)
        guard let wireType = WireType(rawValue: rawType) else {
            throw ProtobufError(offset: offset, "unsupported wire type \(rawType)")
        }
        let field = key >> 3
        guard field >= 1, field <= 536_870_911 else {
            throw ProtobufError(offset: offset, "invalid field number \(field)")
        }
        return (Int(field), wireType)
    }

    /// Reads a base-128 varint (at most 10 bytes).
    mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < end else { throw ProtobufError(offset: offset, "truncated varint") }
            let byte = bytes[offset]
            offset += 1
            if shift == 63 && byte > 1 { throw ProtobufError(offset: offset, "varint overflows 64 bits") }
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            guard shift <= 63 else { throw ProtobufError(offset: offset, "varint longer than 10 bytes") }
        }
    }

    /// Reads a varint as a signed 64-bit integer (two's complement, as `int64`/`int32` encode).
    mutating func readInt64() throws -> Int64 { Int64(bitPattern: try readVarint()) }

    /// Reads four little-endian bytes.
    mutating func readFixed32() throws -> UInt32 {
        guard end - offset >= 4 else { throw ProtobufError(offset: offset, "truncated fixed32") }
        var value: UInt32 = 0
        for index in 0..<4 { value |= UInt32(bytes[offset + index]) << (8 * UInt32(index)) }
        offset += 4
        return value
    }

    /// Reads eight little-endian bytes.
    mutating func readFixed64() throws -> UInt64 {
        guard end - offset >= 8 else { throw ProtobufError(offset: offset, "truncated fixed64") }
        var value: UInt64 = 0
        for index in 0..<8 { value |= UInt64(bytes[offset + index]) << (8 * UInt64(index)) }
        offset += 8
        return value
    }

    /// Reads a length prefix and checks that many bytes remain.
    private mutating func readLength() throws -> Int {
        let length = try readVarint()
        guard length <= UInt64(end - offset) else {
            throw ProtobufError(offset: offset, "length \(length) runs past the end of the message (\(end - offset) bytes left)")
        }
        return Int(length)
    }

    /// Reads a length-delimited field as a nested message reader and skips past it.
    mutating func readMessage() throws -> ProtobufReader {
        guard depth < Self.maximumDepth else {
            throw ProtobufError(offset: offset, "messages nested deeper than \(Self.maximumDepth) levels")
        }
        let length = try readLength()
        let child = ProtobufReader(bytes: bytes, offset: offset, end: offset + length, depth: depth + 1)
        offset += length
        return child
    }

    /// Reads a length-delimited field as bytes.
    mutating func readBytes() throws -> Data {
        let length = try readLength()
        let data = Data(bytes[offset..<(offset + length)])
        offset += length
        return data
    }

    /// Reads a length-delimited field as UTF-8 text (invalid sequences are replaced, not fatal).
    mutating func readString() throws -> String {
        let length = try readLength()
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)]), as: UTF8.self)
        offset += length
        return text
    }

    /// Skips a field of `wireType` whose key was just read.
    mutating func skip(_ wireType: WireType) throws {
        switch wireType {
        case .varint: _ = try readVarint()
        case .fixed64: _ = try readFixed64()
        case .fixed32: _ = try readFixed32()
        case .lengthDelimited: offset += try readLength()
        }
    }

    /// Appends a repeated varint field, packed (one length-delimited run) or not (one value).
    mutating func readRepeatedInt64(_ wireType: WireType, into values: inout [Int64]) throws {
        switch wireType {
        case .varint:
            values.append(try readInt64())
        case .lengthDelimited:
            var packed = try readMessage()
            while !packed.isAtEnd { values.append(try packed.readInt64()) }
        default:
            throw ProtobufError(offset: offset, "expected varints, got wire type \(wireType.rawValue)")
        }
    }

    /// Appends a repeated 32-bit float field, packed or not.
    mutating func readRepeatedFloat(_ wireType: WireType, into values: inout [Double]) throws {
        switch wireType {
        case .fixed32:
            values.append(Double(Float(bitPattern: try readFixed32())))
        case .lengthDelimited:
            var packed = try readMessage()
            guard (packed.end - packed.offset) % 4 == 0 else {
                throw ProtobufError(offset: offset, "packed floats are not a multiple of 4 bytes")
            }
            while !packed.isAtEnd { values.append(Double(Float(bitPattern: try packed.readFixed32()))) }
        default:
            throw ProtobufError(offset: offset, "expected 32-bit floats, got wire type \(wireType.rawValue)")
        }
    }

    /// Appends a repeated 64-bit double field, packed or not.
    mutating func readRepeatedDouble(_ wireType: WireType, into values: inout [Double]) throws {
        switch wireType {
        case .fixed64:
            values.append(Double(bitPattern: try readFixed64()))
        case .lengthDelimited:
            var packed = try readMessage()
            guard (packed.end - packed.offset) % 8 == 0 else {
                throw ProtobufError(offset: offset, "packed doubles are not a multiple of 8 bytes")
            }
            while !packed.isAtEnd { values.append(Double(bitPattern: try packed.readFixed64())) }
        default:
            throw ProtobufError(offset: offset, "expected 64-bit doubles, got wire type \(wireType.rawValue)")
        }
    }
}

/// Malformed protobuf bytes: where in the buffer and what was wrong.
struct ProtobufError: Error, Equatable {
    /// Byte offset at which the problem was found.
    let offset: Int
    /// What was wrong.
    let reason: String

    init(offset: Int, _ reason: String) {
        self.offset = offset
        self.reason = reason
    }
}
