import Foundation

/// Decodes the ONNX messages the importer needs from protobuf bytes, skipping every other field.
///
/// Limits keep hostile files from exhausting memory: at most `maximumNodes` nodes, `maximumValues`
/// initializers or value infos, `maximumRank` dimensions per tensor, and payloads above
/// `ONNXTensor.maximumKeptBytes` are skipped rather than copied.
enum ONNXDecoder {
    static let maximumNodes = 1_000_000
    static let maximumValues = 4_000_000
    static let maximumRank = 64

    /// Decodes a `ModelProto`.
    static func model(from data: Data) throws -> ONNXModel {
        guard !data.isEmpty else { throw ImportError(.malformed, "the file is empty, not an ONNX model") }
        do {
            return try ProtobufReader.withReader(data) { reader in
                var model = ONNXModel()
                while !reader.isAtEnd {
                    let (field, wireType) = try reader.readKey()
                    switch (field, wireType) {
                    case (1, .varint): model.irVersion = try reader.readInt64()
                    case (2, .lengthDelimited): model.producerName = try reader.readString()
                    case (3, .lengthDelimited): model.producerVersion = try reader.readString()
                    case (7, .lengthDelimited):
                        var child = try reader.readMessage()
                        model.graph = try graph(&child)
                        model.hasGraph = true
                    case (8, .lengthDelimited):
                        var child = try reader.readMessage()
                        var domain = ""
                        var version: Int64 = 0
                        while !child.isAtEnd {
                            let (entryField, entryType) = try child.readKey()
                            switch (entryField, entryType) {
                            case (1, .lengthDelimited): domain = try child.readString()
                            case (2, .varint): version = try child.readInt64()
                            default: try child.skip(entryType)
                            }
                        }
                        model.opsetVersions[domain == "ai.onnx" ? "" : domain] = version
                    default:
                        try reader.skip(wireType)
                    }
                }
                return model
            }
        } catch let error as ProtobufError {
            throw ImportError(.malformed, field: "byte \(error.offset)", "not a valid ONNX protobuf: \(error.reason)")
        }
    }

    private static func graph(_ reader: inout ProtobufReader) throws -> ONNXGraph {
        var graph = ONNXGraph()
        var valueCount = 0
        func countValue(_ what: String) throws {
            valueCount += 1
            guard valueCount <= maximumValues else {
                throw ImportError(.unsupportedModel, field: what, "more than \(maximumValues) values in the graph")
            }
        }
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readKey()
            switch (field, wireType) {
            case (1, .lengthDelimited):
                guard graph.nodes.count < maximumNodes else {
                    throw ImportError(.unsupportedModel, field: "graph.node", "more than \(maximumNodes) nodes")
                }
                var child = try reader.readMessage()
                graph.nodes.append(try node(&child))
            case (2, .lengthDelimited): graph.name = try reader.readString()
            case (5, .lengthDelimited):
                try countValue("graph.initializer")
                var child = try reader.readMessage()
                graph.initializers.append(try tensor(&child))
            case (11, .lengthDelimited), (12, .lengthDelimited), (13, .lengthDelimited):
                try countValue("graph.value_info")
                var child = try reader.readMessage()
                let info = try valueInfo(&child)
                if field == 11 { graph.inputs.append(info) } else if field == 12 { graph.outputs.append(info) } else { graph.valueInfo.append(info) }
            default:
                try reader.skip(wireType)
            }
        }
        return graph
    }

    private static func node(_ reader: inout ProtobufReader) throws -> ONNXNode {
        var node = ONNXNode()
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readKey()
            switch (field, wireType) {
            case (1, .lengthDelimited): node.inputs.append(try reader.readString())
            case (2, .lengthDelimited): node.outputs.append(try reader.readString())
            case (3, .lengthDelimited): node.name = try reader.readString()
            case (4, .lengthDelimited): node.opType = try reader.readString()
            case (7, .lengthDelimited): node.domain = try reader.readString()
            case (5, .lengthDelimited):
                var child = try reader.readMessage()
                node.attributes.append(try attribute(&child))
            case (9, .lengthDelimited):
                var child = try reader.readMessage()
                let (key, value) = try stringEntry(&child)
                if key == "namespace" || key == "pkg.torch.onnx.name_scopes" { node.scopeMetadata[key] = value }
            default:
                try reader.skip(wireType)
            }
        }
        return node
    }

    private static func attribute(_ reader: inout ProtobufReader) throws -> ONNXAttribute {
        var attribute = ONNXAttribute()
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readKey()
            switch (field, wireType) {
            case (1, .lengthDelimited): attribute.name = try reader.readString()
            case (2, .fixed32): attribute.float = Double(Float(bitPattern: try reader.readFixed32()))
            case (3, .varint): attribute.int = try reader.readInt64()
            case (4, .lengthDelimited): attribute.string = try reader.readString()
            case (5, .lengthDelimited):
                var child = try reader.readMessage()
                attribute.tensor = try tensor(&child)
            case (6, .lengthDelimited), (11, .lengthDelimited):
                attribute.hasGraph = true
                try reader.skip(wireType)
            case (7, .fixed32), (7, .lengthDelimited): try reader.readRepeatedFloat(wireType, into: &attribute.floats)
            case (8, .varint), (8, .lengthDelimited):
                attribute.hasInts = true
                try reader.readRepeatedInt64(wireType, into: &attribute.ints)
                guard attribute.ints.count <= maximumValues else {
                    throw ImportError(.unsupportedModel, field: "attribute '\(attribute.name)'", "more than \(maximumValues) integers")
                }
            default:
                try reader.skip(wireType)
            }
        }
        return attribute
    }

    private static func tensor(_ reader: inout ProtobufReader) throws -> ONNXTensor {
        var tensor = ONNXTensor()
        var dims: [Int64] = []
        var integers: [Int64] = []
        var reals: [Double] = []
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readKey()
            switch (field, wireType) {
            case (1, .varint), (1, .lengthDelimited):
                try reader.readRepeatedInt64(wireType, into: &dims)
                guard dims.count <= maximumRank else {
                    throw ImportError(.unsupportedModel, field: "tensor '\(tensor.name)' dims", "more than \(maximumRank) dimensions")
                }
            case (2, .varint): tensor.dataType = Int32(truncatingIfNeeded: try reader.readInt64())
            case (8, .lengthDelimited): tensor.name = try reader.readString()
            case (14, .varint): tensor.dataLocation = try reader.readInt64()
            case (9, .lengthDelimited):
                var child = try reader.readMessage()
                let payload = child.remainingCount
                if payload <= ONNXTensor.maximumKeptBytes { tensor.rawData = child.readRemainingBytes() } else { tensor.payloadDropped = true }
            case (4, _), (10, _):
                guard reals.count <= ONNXTensor.maximumKeptBytes / 4 else { tensor.payloadDropped = true; try reader.skip(wireType); continue }
                if field == 4 { try reader.readRepeatedFloat(wireType, into: &reals) } else { try reader.readRepeatedDouble(wireType, into: &reals) }
            case (5, _), (7, _), (11, _):
                guard integers.count <= ONNXTensor.maximumKeptBytes / 8 else { tensor.payloadDropped = true; try reader.skip(wireType); continue }
                let start = integers.count
                try reader.readRepeatedInt64(wireType, into: &integers)
                if field == 5 {
                    // int32_data also carries int8/16, uint8/16, bool and float16 payloads, as int32.
                    for index in start..<integers.count { integers[index] = Int64(Int32(truncatingIfNeeded: integers[index])) }
                } else if field == 11 {
                    for index in start..<integers.count where integers[index] < 0 { integers[index] = Int64.max }
                }
            default:
                try reader.skip(wireType)
            }
        }
        tensor.dims = dims
        tensor.typedValues = reals.isEmpty ? integers.map(Double.init) : reals
        return tensor
    }

    private static func valueInfo(_ reader: inout ProtobufReader) throws -> ONNXValueInfo {
        var info = ONNXValueInfo()
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readKey()
            switch (field, wireType) {
            case (1, .lengthDelimited): info.name = try reader.readString()
            case (2, .lengthDelimited):
                var type = try reader.readMessage()
                while !type.isAtEnd {
                    let (typeField, typeWire) = try type.readKey()
                    guard typeField == 1, typeWire == .lengthDelimited else { try type.skip(typeWire); continue }
                    var tensorType = try type.readMessage()
                    try tensorTypeFields(&tensorType, into: &info)
                }
            default:
                try reader.skip(wireType)
            }
        }
        return info
    }

    private static func tensorTypeFields(_ reader: inout ProtobufReader, into info: inout ONNXValueInfo) throws {
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readKey()
            switch (field, wireType) {
            case (1, .varint): info.elementType = Int32(truncatingIfNeeded: try reader.readInt64())
            case (2, .lengthDelimited):
                var shape = try reader.readMessage()
                var dims: [ONNXDimension] = []
                while !shape.isAtEnd {
                    let (shapeField, shapeWire) = try shape.readKey()
                    guard shapeField == 1, shapeWire == .lengthDelimited else { try shape.skip(shapeWire); continue }
                    guard dims.count < maximumRank else {
                        throw ImportError(.unsupportedModel, field: "value '\(info.name)' shape", "more than \(maximumRank) dimensions")
                    }
                    var dimension = try shape.readMessage()
                    var parsed = ONNXDimension.unknown
                    while !dimension.isAtEnd {
                        let (dimField, dimWire) = try dimension.readKey()
                        switch (dimField, dimWire) {
                        case (1, .varint): parsed = .value(try dimension.readInt64())
                        case (2, .lengthDelimited): parsed = .symbol(try dimension.readString())
                        default: try dimension.skip(dimWire)
                        }
                    }
                    dims.append(parsed)
                }
                info.dims = dims
            default:
                try reader.skip(wireType)
            }
        }
    }

    private static func stringEntry(_ reader: inout ProtobufReader) throws -> (String, String) {
        var key = ""
        var value = ""
        while !reader.isAtEnd {
            let (field, wireType) = try reader.readKey()
            switch (field, wireType) {
            case (1, .lengthDelimited): key = try reader.readString()
            case (2, .lengthDelimited): value = try reader.readString()
            default: try reader.skip(wireType)
            }
        }
        return (key, value)
    }
}
