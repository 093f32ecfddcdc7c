/// What a change of split moves over the network: the trained weights and optimizer state of
/// every layer that changes sides (`parameterBytes` × `Optimizer.migrationBytesPerParameterByte`).
///
/// Layers moving from the device to the server go up the uplink, layers moving back come down
/// the downlink, each at the rates in effect when the split changes. Layers without parameters
/// move for free (activations are recomputed by the next iteration).
public struct SplitMigration: Sendable, Equatable {
    /// Bytes sent device → server.
    public var uplinkBytes: Double
    /// Bytes sent server → device.
    public var downlinkBytes: Double

    /// Creates a migration of the given sizes.
    public init(uplinkBytes: Double, downlinkBytes: Double) {
        self.uplinkBytes = uplinkBytes
        self.downlinkBytes = downlinkBytes
    }

    /// The migration from split `old` to split `new` (`onDevice[v]` per layer of `graph`; a
    /// split shorter than the graph treats the missing layers as on the server).
    public init(from old: [Bool], to new: [Bool], graph: ModelGraph, optimizer: Optimizer) {
        let factor = optimizer.migrationBytesPerParameterByte
        var up = 0.0, down = 0.0
        for layer in 0..<graph.count {
            let wasOnDevice = layer < old.count && old[layer]
            let isOnDevice = layer < new.count && new[layer]
            guard wasOnDevice != isOnDevice else { continue }
            let bytes = graph.layers[layer].parameterBytes * factor
            if wasOnDevice { up += bytes } else { down += bytes }
        }
        self.init(uplinkBytes: up, downlinkBytes: down)
    }

    /// Whether nothing moves.
    public var isEmpty: Bool { uplinkBytes == 0 && downlinkBytes == 0 }

    /// Time the move takes at the given rates, seconds: `8·up/uplink + 8·down/downlink` (the two
    /// directions one after the other, as the cost model charges an iteration's transfers).
    public func seconds(uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double) -> Double {
        (uplinkBytes > 0 ? SplitCost.linkSeconds(bytes: uplinkBytes, bitsPerSecond: uplinkBitsPerSecond) : 0)
            + (downlinkBytes > 0 ? SplitCost.linkSeconds(bytes: downlinkBytes, bitsPerSecond: downlinkBitsPerSecond) : 0)
    }
}
