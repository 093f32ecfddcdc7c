import Foundation

/// A minimal protobuf writer for building ONNX models in tests (the inverse of the reader).
package struct ProtobufWriter {
    package var data = Data()

    package init() {}

    package mutating func varint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            data.append(UInt8(value & 0x7f) | 0x80)
            value >>= 7
        }
        data.append(UInt8(value))
    }

    package mutating func key(_ field: Int, _ wireType: UInt64) { varint(UInt64(field) << 3 | wireType) }
    package mutating func int(_ field: Int, _ value: Int64) { key(field, 0); varint(UInt64(bitPattern: value)) }
    package mutating func bytes(_ field: Int, _ payload: Data) { key(field, 2); varint(UInt64(payload.count)); data.append(payload) }
    package mutating func string(_ field: Int, _ text: String) { bytes(field, Data(text.utf8)) }
    package mutating func message(_ field: Int, _ build: (inout ProtobufWriter) -> Void) {
        var child = ProtobufWriter()
        build(&child)
        bytes(field, child.data)
    }
    package mutating func float(_ field: Int, _ value: Float) {
        key(field, 5)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
    }
    package mutating func packedInts(_ field: Int, _ values: [Int64]) {
        var packed = ProtobufWriter()
        for value in values { packed.varint(UInt64(bitPattern: value)) }
        bytes(field, packed.data)
    }
}

/// Builds small ONNX models (field numbers from onnx.proto) for tests.
package struct ONNXTestBuilder {
    package struct Node {
        package var op: String
        package var name: String
        package var inputs: [String]
        package var outputs: [String]
        package var ints: [String: [Int64]] = [:]
        package var int: [String: Int64] = [:]
        package var strings: [String: String] = [:]
        package var tensor: (name: String, dims: [Int64], values: [Int64])? = nil
        package var domain = ""

        package init(
            op: String, name: String, inputs: [String], outputs: [String], ints: [String: [Int64]] = [:], int: [String: Int64] = [:]
        ) {
            self.op = op
            self.name = name
            self.inputs = inputs
            self.outputs = outputs
            self.ints = ints
            self.int = int
        }
    }

    package var nodes: [Node] = []
    /// Initializers: name, dims, dtype, inline int64 values (nil = external and absent).
    package var initializers: [(name: String, dims: [Int64], dataType: Int32, values: [Int64]?)] = []
    package var inputs: [(name: String, dims: [String], elementType: Int32)] = []
    package var outputs: [String] = []
    package var valueInfo: [(name: String, dims: [Int64])] = []
    package var opset: Int64 = 17

    package mutating func node(
        _ op: String, _ name: String, inputs: [String], outputs: [String]? = nil,
        ints: [String: [Int64]] = [:], int: [String: Int64] = [:]
    ) {
        nodes.append(Node(op: op, name: name, inputs: inputs, outputs: outputs ?? ["\(name)_out"], ints: ints, int: int))
    }

    package init() {}

    package func encoded() -> Data {
        var model = ProtobufWriter()
        model.int(1, 8)
        model.string(2, "test")
        model.message(8) {
            $0.string(1, ""); $0.int(2, opset)
        }
        model.message(7) { graph in
            graph.string(2, "synthetic")
            for node in nodes {
                graph.message(1) { proto in
                    for input in node.inputs { proto.string(1, input) }
                    for output in node.outputs { proto.string(2, output) }
                    proto.string(3, node.name)
                    proto.string(4, node.op)
                    if !node.domain.isEmpty { proto.string(7, node.domain) }
                    for (name, values) in node.ints.sorted(by: { $0.key < $1.key }) {
                        proto.message(5) {
                            $0.string(1, name); $0.packedInts(8, values); $0.int(20, 7)
                        }
                    }
                    for (name, value) in node.int.sorted(by: { $0.key < $1.key }) {
                        proto.message(5) {
                            $0.string(1, name); $0.int(3, value); $0.int(20, 2)
                        }
                    }
                    for (name, value) in node.strings.sorted(by: { $0.key < $1.key }) {
                        proto.message(5) {
                            $0.string(1, name); $0.string(4, value); $0.int(20, 3)
                        }
                    }
                    if let tensor = node.tensor {
                        proto.message(5) { attribute in
                            attribute.string(1, tensor.name)
                            attribute.message(5) {
                                $0.packedInts(1, tensor.dims); $0.int(2, 7); $0.packedInts(7, tensor.values)
                            }
                            attribute.int(20, 4)
                        }
                    }
                }
            }
            for initializer in initializers {
                graph.message(5) { tensor in
                    tensor.packedInts(1, initializer.dims)
                    tensor.int(2, Int64(initializer.dataType))
                    tensor.string(8, initializer.name)
                    if let values = initializer.values {
                        tensor.packedInts(7, values)
                    } else {
                        tensor.message(13) {
                            $0.string(1, "location"); $0.string(2, "absent.weights")
                        }
                        tensor.int(14, 1)
                    }
                }
            }
            for input in inputs {
                graph.message(11) { info in
                    info.string(1, input.name)
                    info.message(2) { type in
                        type.message(1) { tensorType in
                            tensorType.int(1, Int64(input.elementType))
                            tensorType.message(2) { shape in
                                for dim in input.dims {
                                    shape.message(1) { if let value = Int64(dim) { $0.int(1, value) } else { $0.string(2, dim) } }
                                }
                            }
                        }
                    }
                }
            }
            for output in outputs { graph.message(12) { $0.string(1, output) } }
            for info in valueInfo {
                graph.message(13) { proto in
                    proto.string(1, info.name)
                    proto.message(2) { type in
                        type.message(1) { tensorType in
                            tensorType.int(1, 1)
                            tensorType.message(2) { shape in for dim in info.dims { shape.message(1) { $0.int(1, dim) } } }
                        }
                    }
                }
            }
        }
        return model.data
    }

    /// A small CNN: conv → relu → conv(+residual add) → global pool → flatten → gemm, weights external.
    package static func smallCNN() -> ONNXTestBuilder {
        var builder = ONNXTestBuilder()
        builder.inputs = [("x", ["N", "3", "32", "32"], 1)]
        builder.initializers = [
            ("w1", [16, 3, 3, 3], 1, nil), ("b1", [16], 1, nil),
            ("w2", [16, 16, 3, 3], 1, nil), ("fc.w", [10, 16], 1, nil), ("fc.b", [10], 1, nil),
        ]
        builder.node(
            "Conv", "/stem/conv/Conv", inputs: ["x", "w1", "b1"], ints: ["kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [1, 1]])
        builder.node("Relu", "/stem/relu/Relu", inputs: ["/stem/conv/Conv_out"])
        builder.node(
            "Conv", "/blocks/blocks.0/conv/Conv", inputs: ["/stem/relu/Relu_out", "w2"],
            ints: [
                "kernel_shape": [3, 3],
                "pads": [
                    1, 1, 1,
                    1,
                ],
            ])
        builder.node("Add", "/blocks/blocks.0/Add", inputs: ["/blocks/blocks.0/conv/Conv_out", "/stem/relu/Relu_out"])
        builder.node("Relu", "/blocks/blocks.1/relu/Relu", inputs: ["/blocks/blocks.0/Add_out"])
        builder.node("Relu", "/blocks/blocks.1/relu_1/Relu", inputs: ["/blocks/blocks.1/relu/Relu_out"])
        builder.node("GlobalAveragePool", "/pool/GlobalAveragePool", inputs: ["/blocks/blocks.1/relu_1/Relu_out"])
        builder.node("Flatten", "/Flatten", inputs: ["/pool/GlobalAveragePool_out"])
        builder.node("Gemm", "/fc/Gemm", inputs: ["/Flatten_out", "fc.w", "fc.b"], int: ["transB": 1])
        builder.outputs = ["/fc/Gemm_out"]
        return builder
    }

    /// A constant bomb: an input through one Relu, beside `nodes` static `ConstantOfShape([65536])`
    /// nodes (2,000 of them are 57 KB of file that asked the importer for ~1 GB before its folding budget).
    package static func constantBomb(nodes: Int) -> ONNXTestBuilder {
        var builder = ONNXTestBuilder()
        builder.inputs = [("x", ["1", "16"], 1)]
        builder.initializers = [("shape", [1], 7, [65_536])]
        for index in 0..<nodes {
            builder.node("ConstantOfShape", "/bomb/c\(index)", inputs: ["shape"], outputs: ["c\(index)"])
        }
        builder.node("Relu", "/relu", inputs: ["x"], outputs: ["y"])
        builder.outputs = ["y"]
        return builder
    }
}
