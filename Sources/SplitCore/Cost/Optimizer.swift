/// The optimizer a device trains with: how many extra values it keeps per trainable weight.
///
/// One rule serves two costs: the training memory of a device part (weights, their gradients and
/// the optimizer's state per weight) and the bytes that move when a split changes (a layer that
/// changes sides takes its weights and its optimizer state with it).
public enum Optimizer: String, Sendable, CaseIterable, Codable, Hashable {
    /// Plain SGD: no state beyond the weights.
    case sgd
    /// SGD with momentum: one velocity per weight.
    case momentum
    /// Adam (and AdamW): first and second moments per weight.
    case adam

    /// Optimizer state values kept per weight (`s`): 0 for SGD, 1 with momentum, 2 for Adam.
    public var stateCopiesPerWeight: Int {
        switch self {
        case .sgd: return 0
        case .momentum: return 1
        case .adam: return 2
        }
    }

    /// Bytes that move with a layer when it changes sides, per byte of its parameters: the
    /// weights plus the optimizer state (1 for SGD, 2 with momentum, 3 for Adam). Gradients are
    /// not moved: they are recomputed by the next iteration.
    public var migrationBytesPerParameterByte: Double { Double(1 + stateCopiesPerWeight) }

    /// Bytes a trained layer holds during training, per byte of its parameters: weights,
    /// gradients and the optimizer state (2 + s).
    public var trainingBytesPerParameterByte: Double { Double(2 + stateCopiesPerWeight) }
}
