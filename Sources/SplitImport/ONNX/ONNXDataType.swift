import Foundation

/// ONNX `TensorProto.DataType` codes: element sizes, names, and decoding of small payloads.
enum ONNXDataType {
    static let float: Int32 = 1
    static let int32: Int32 = 6
    static let int64: Int32 = 7
    static let bool: Int32 = 9
    static let double: Int32 = 11

    /// Bytes per element, or nil for strings and unknown codes (4-bit and 2-bit types are fractional).
    static func byteSize(_ code: Int32) -> Double? {
        switch code {
        case 1, 6, 12: return 4  // float, int32, uint32
        case 2, 3, 9: return 1  // uint8, int8, bool
        case 4, 5, 10, 16: return 2  // uint16, int16, float16, bfloat16
        case 7, 11, 13, 14: return 8  // int64, double, uint64, complex64
        case 15: return 16  // complex128
        case 17, 18, 19, 20, 24: return 1  // float8 variants
        case 21, 22, 23: return 0.5  // uint4, int4, float4e2m1
        case 25, 26: return 0.25  // uint2, int2
        case 27, 28: return 0.75  // float6 variants
        default: return nil
        }
    }

    /// Whether values of this type are floating point (the types parameters have).
    static func isFloatingPoint(_ code: Int32) -> Bool {
        [1, 10, 11, 14, 15, 16, 17, 18, 19, 20, 23, 24, 27, 28].contains(code)
    }

    /// The contents of a tensor as doubles, when present inline and of a numeric type this
    /// decoder reads (floats, doubles, signed and unsigned integers, bool); nil otherwise.
    static func values(of tensor: ONNXTensor, elementCount: Int) -> [Double]? {
        guard tensor.dataLocation != 1, !tensor.payloadDropped else { return nil }
        guard let raw = tensor.rawData else {
            return tensor.typedValues.count == elementCount ? tensor.typedValues : nil
        }
        let code = tensor.dataType
        guard let size = byteSize(code), size >= 1, raw.count == Int(size) * elementCount else { return nil }
        var values: [Double] = []
        values.reserveCapacity(elementCount)
        let width = Int(size)
        raw.withUnsafeBytes { buffer in
            for index in 0..<elementCount {
                var bits: UInt64 = 0
                for byte in 0..<width { bits |= UInt64(buffer[index * width + byte]) << (8 * UInt64(byte)) }
                switch code {
                case 1: values.append(Double(Float(bitPattern: UInt32(truncatingIfNeeded: bits))))
                case 11: values.append(Double(bitPattern: bits))
                case 3: values.append(Double(Int8(truncatingIfNeeded: bits)))
                case 5: values.append(Double(Int16(truncatingIfNeeded: bits)))
                case 6: values.append(Double(Int32(truncatingIfNeeded: bits)))
                case 7: values.append(Double(Int64(bitPattern: bits)))
                case 2, 4, 9, 12, 13: values.append(Double(bits))
                default: values.append(.nan)
                }
            }
        }
        return values.contains { $0.isNaN } && !(code == 1 || code == 11) ? nil : values
    }
}
