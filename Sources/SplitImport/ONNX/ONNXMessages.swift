import Foundation

/// The parts of an ONNX `ModelProto` the importer reads (field numbers from onnx/onnx.proto).
struct ONNXModel {
    /// `ir_version` (1).
    var irVersion: Int64 = 0
    /// `opset_import` (8): version by domain ("" is the default ONNX domain).
    var opsetVersions: [String: Int64] = [:]
    /// `producer_name` (2).
    var producerName = ""
    /// `producer_version` (3).
    var producerVersion = ""
    /// `graph` (7).
    var graph = ONNXGraph()
    /// Whether a `graph` field was present at all.
    var hasGraph = false
}

/// `GraphProto`: nodes, initializers and the declared inputs, outputs and intermediate types.
struct ONNXGraph {
    /// `name` (2).
    var name = ""
    /// `node` (1), in file order.
    var nodes: [ONNXNode] = []
    /// `initializer` (5).
    var initializers: [ONNXTensor] = []
    /// `input` (11); before IR 4 this also lists the initializers.
    var inputs: [ONNXValueInfo] = []
    /// `output` (12).
    var outputs: [ONNXValueInfo] = []
    /// `value_info` (13): types of intermediate values (dynamo exports fill it, TorchScript ones do not).
    var valueInfo: [ONNXValueInfo] = []
}

/// `NodeProto`: one operator application.
struct ONNXNode {
    /// `name` (3); may be empty.
    var name = ""
    /// `op_type` (4).
    var opType = ""
    /// `domain` (7); "" and "ai.onnx" are the default operator set.
    var domain = ""
    /// `input` (1); an empty string is an absent optional input.
    var inputs: [String] = []
    /// `output` (2).
    var outputs: [String] = []
    /// `attribute` (5).
    var attributes: [ONNXAttribute] = []
    /// `metadata_props` (9) entries the importer uses: `namespace`, `pkg.torch.onnx.name_scopes`.
    var scopeMetadata: [String: String] = [:]

    /// The attribute called `name`, if present.
    func attribute(_ name: String) -> ONNXAttribute? { attributes.first { $0.name == name } }
    /// An integer attribute, or `fallback`.
    func int(_ name: String, _ fallback: Int64) -> Int64 { attribute(name)?.int ?? fallback }
    /// An integer-list attribute, or nil when absent.
    func ints(_ name: String) -> [Int64]? { attribute(name).flatMap { $0.hasInts ? $0.ints : nil } }
    /// A float attribute, or `fallback`.
    func float(_ name: String, _ fallback: Double) -> Double { attribute(name)?.float ?? fallback }
    /// A string attribute, or `fallback`.
    func string(_ name: String, _ fallback: String) -> String { attribute(name)?.string ?? fallback }
}

/// `AttributeProto`: one named attribute value.
struct ONNXAttribute {
    /// `name` (1).
    var name = ""
    /// `f` (2).
    var float: Double?
    /// `i` (3).
    var int: Int64?
    /// `s` (4), decoded as UTF-8.
    var string: String?
    /// `t` (5).
    var tensor: ONNXTensor?
    /// `floats` (7).
    var floats: [Double] = []
    /// `ints` (8).
    var ints: [Int64] = []
    /// Whether `ints` was present (an empty list and an absent one mean different things).
    var hasInts = false
    /// Whether a subgraph (`g`, 6, or `graphs`, 11) was present; subgraphs are not imported.
    var hasGraph = false
}

/// `TensorProto`: an initializer or a constant. Only small payloads are kept (`maximumKeptBytes`).
struct ONNXTensor {
    /// Payloads larger than this are not kept: the importer needs values only for shape plumbing.
    static let maximumKeptBytes = 1 << 20

    /// `name` (8).
    var name = ""
    /// `dims` (1).
    var dims: [Int64] = []
    /// `data_type` (2), a `TensorProto.DataType` code.
    var dataType: Int32 = 0
    /// `data_location` (14): 1 = EXTERNAL (the data is in another file, possibly absent).
    var dataLocation: Int64 = 0
    /// `raw_data` (9), when small enough to keep.
    var rawData: Data?
    /// `float_data` (4), `int32_data` (5), `int64_data` (7), `double_data` (10), `uint64_data` (11) as doubles.
    var typedValues: [Double] = []
    /// Whether the payload was present but too large to keep.
    var payloadDropped = false
}

/// `ValueInfoProto` with a tensor type: a name, an element type and a (possibly symbolic) shape.
struct ONNXValueInfo {
    /// `name` (1).
    var name = ""
    /// `type.tensor_type.elem_type`, when the value is a tensor.
    var elementType: Int32?
    /// `type.tensor_type.shape.dim`, or nil when the shape is absent (unknown rank).
    var dims: [ONNXDimension]?
}

/// One dimension of a `TensorShapeProto`.
enum ONNXDimension: Equatable {
    /// `dim_value` (1).
    case value(Int64)
    /// `dim_param` (2): a symbolic size such as `batch`.
    case symbol(String)
    /// Neither set.
    case unknown
}
