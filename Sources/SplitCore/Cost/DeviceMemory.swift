/// Training memory of a device part: the one formula every planner, report and test uses.
///
/// For device layers D at batch b with an optimizer keeping s state values per weight
/// (`Optimizer.stateCopiesPerWeight`: 0 SGD, 1 momentum, 2 Adam):
///
///     M(D) = Σ_{v∈D} r_v + Σ_{v∈C(D)} g_v
///     r_v  = ⌈p_v·(2+s) + b·k_v⌉    (resident: weights, their gradients, optimizer state,
///                                     activations kept for the backward pass)
///     g_v  = ⌈b·a_v⌉                (the gradient received for a cut layer's output)
///
/// where p_v is `param_bytes`, a_v `output_bytes` per sample, C(D) the cut layers (device layers
/// with a consumer on the server, each counted once however many consumers), and k_v the bytes
/// per sample v keeps for backward: a_v; 0 when no model output is reachable from v (assertions,
/// guards, shape queries of traced graphs: the backward pass never visits them, so nothing of
/// theirs is kept); and in either case the measured value when the device profile gives
/// `memory_bytes` for v (activation memory at the profile's `batch_size` p, then
/// k_v = memory_bytes/p, scaled linearly like measured times). The measurement replaces only the
/// activation estimate b·k_v; weights and optimizer state follow from `param_bytes` exactly, and
/// the received gradient has exactly the cut layer's output size. Each term is rounded up to whole bytes, so M(D) is an integer sum and
/// every planner (prefix sums, min cuts, layer-by-layer evaluation) gets the same value bit for
/// bit. The cut term g has the shape of the transfer term of the delay: a device layer pays it
/// once when some consumer is on the server, which is what lets the planners price memory on the
/// same restructured network as time (see `BudgetedCutSearch`).
///
/// The weights of server layers, and the optimizer, never cost device memory. What this model
/// leaves out, on purpose: framework overhead and workspace buffers (constant per device, so
/// subtract them from the limit), and in-place or aliasing operators (a traced graph does not say
/// which they are; a measured `memory_bytes` of 0 expresses it).
public struct DeviceMemoryTerms: Sendable, Equatable {
    /// The most bytes a model's memory terms may add up to: sums stay exact integers in Double too.
    public static let maximumTotalBytes: Int64 = 1 << 53

    /// Batch size the terms are computed for.
    public let batchSize: Int
    /// Optimizer the terms are computed for.
    public let optimizer: Optimizer
    /// r_v per layer: bytes held on the device while v trains there.
    public let residentBytes: [Int64]
    /// g_v per layer: bytes of the gradient received when v is a cut layer.
    public let gradientBytes: [Int64]

    /// M(D) for the device part `onDevice` of `graph` (the graph the terms were computed for);
    /// saturated terms (see `PreparedModel.memoryTerms(saturating:)`) give at most `maximumTotalBytes`.
    public func bytes(onDevice: [Bool], graph: ModelGraph) -> Int64 {
        var total: Int64 = 0
        for layer in 0..<graph.count where onDevice[layer] {
            total = min(total + residentBytes[layer], Self.maximumTotalBytes)
            if graph.successors(of: layer).contains(where: { !onDevice[$0] }) { total = min(total + gradientBytes[layer], Self.maximumTotalBytes) }
        }
        return total
    }
}

extension PreparedModel {
    /// The memory terms of every layer at `batchSize` with `optimizer`.
    ///
    /// - Throws: `PlanningError.invalidParameter` (name `memory`) when the terms add up to more
    ///   than `DeviceMemoryTerms.maximumTotalBytes` (9 PB): sizes that large are not a model.
    ///
    ///   With `saturating` (plans without a limit, whose memory is only reported), it does not
    ///   throw: terms beyond that are capped, so a reported M(D) of 2^53 reads "at least 9 PB".
    public func memoryTerms(batchSize: Int, optimizer: Optimizer, saturating: Bool = false) throws -> DeviceMemoryTerms {
        let batch = Double(batchSize)
        let weightFactor = optimizer.trainingBytesPerParameterByte
        let limit = Double(DeviceMemoryTerms.maximumTotalBytes)
        var resident = [Int64](repeating: 0, count: graph.count)
        var gradient = [Int64](repeating: 0, count: graph.count)
        var total = 0.0
        for layer in 0..<graph.count {
            let residentValue = (parameterBytes[layer] * weightFactor + batch * keptBytesPerSample[layer]).rounded(.up)
            let gradientValue = (batch * outputBytes[layer]).rounded(.up)
            total += residentValue + gradientValue
            if saturating {
                resident[layer] = Int64(min(residentValue, limit))
                gradient[layer] = Int64(min(gradientValue, limit))
                continue
            }
            guard total <= limit else {
                throw PlanningError.invalidParameter(
                    .deviceMemory,
                    reason: """
                        the training memory of '\(graph.name)' at batch \(batchSize) adds up to more than \(DeviceMemoryTerms.maximumTotalBytes) \
                        bytes (9 PB) by layer '\(graph.layers[layer].name)'; check its param_bytes and output_bytes
                        """)
            }
            resident[layer] = Int64(residentValue)
            gradient[layer] = Int64(gradientValue)
        }
        return DeviceMemoryTerms(batchSize: batchSize, optimizer: optimizer, residentBytes: resident, gradientBytes: gradient)
    }

    /// M(D) of the device part `onDevice` at `batchSize` with `optimizer` (see `DeviceMemoryTerms`).
    public func deviceMemoryBytes(onDevice: [Bool], batchSize: Int, optimizer: Optimizer) throws -> Int64 {
        try memoryTerms(batchSize: batchSize, optimizer: optimizer).bytes(onDevice: onDevice, graph: graph)
    }
}
