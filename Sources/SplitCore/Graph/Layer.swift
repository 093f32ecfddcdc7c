/// One layer of a model: its per-sample compute, the size of what it produces, and what it reads.
public struct Layer: Sendable, Hashable {
    /// Unique name of the layer within its graph.
    public var name: String
    /// Operator kind as traced (`conv2d`, `addmm.default`, ...); informational only.
    public var op: String
    /// Names of the layers whose outputs this layer reads, as written in the graph file.
    public var inputs: [String]
    /// Forward-pass floating point operations per sample.
    public var forwardFLOPs: Double
    /// Backward-pass floating point operations per sample.
    public var backwardFLOPs: Double
    /// Bytes of this layer's output per sample (what crosses the network when it is a cut layer).
    public var outputBytes: Double
    /// Bytes of this layer's parameters.
    public var parameterBytes: Double
    /// Optional label of the repeating block this layer belongs to (`layer1.0`, `transformer.h.5`).
    public var block: String?
    /// Optional dotted path of the torch module the layer came from (`features.4.0.block.3.0`),
    /// from the exporter's scopes; empty path components are not written. Lets a plan's layers be
    /// found in the torch model (`splitd.torch.partition`).
    public var module: String?
    /// Optional name of the `torch.fx` node the layer is (graphs from `ops/export-torch`).
    public var fxNode: String?

    /// Creates a layer; values are validated when the layer becomes part of a `ModelGraph`.
    public init(
        name: String, op: String = "", inputs: [String] = [],
        forwardFLOPs: Double = 0, backwardFLOPs: Double = 0,
        outputBytes: Double = 0, parameterBytes: Double = 0, block: String? = nil, module: String? = nil, fxNode: String? = nil
    ) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.forwardFLOPs = forwardFLOPs
        self.backwardFLOPs = backwardFLOPs
        self.outputBytes = outputBytes
        self.parameterBytes = parameterBytes
        self.block = block
        self.module = module
        self.fxNode = fxNode
    }

    /// Forward plus backward FLOPs per sample: the compute one training step spends on this layer.
    public var trainingFLOPs: Double { forwardFLOPs + backwardFLOPs }
}
