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

    /// Creates a layer; values are validated when the layer becomes part of a `ModelGraph`.
    public init(
        name: String, op: String = "", inputs: [String] = [],
        forwardFLOPs: Double = 0, backwardFLOPs: Double = 0,
        outputBytes: Double = 0, parameterBytes: Double = 0, block: String? = nil
    ) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.forwardFLOPs = forwardFLOPs
        self.backwardFLOPs = backwardFLOPs
        self.outputBytes = outputBytes
        self.parameterBytes = parameterBytes
        self.block = block
    }

    /// Forward plus backward FLOPs per sample: the compute one training step spends on this layer.
    public var trainingFLOPs: Double { forwardFLOPs + backwardFLOPs }
}
