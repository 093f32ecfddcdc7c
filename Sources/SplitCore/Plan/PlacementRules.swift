/// Which layers a valid split must keep on the device or on the server.
///
/// Rules: input layers run on the device; unless raw upload is allowed, so does every layer that
/// reads an input directly; output layers run on the server; no data flows server to device, so
/// the device part is closed under predecessors and the server part under successors.
public struct PlacementRules: Sendable {
    /// Whether layers that read model inputs directly may run on the server.
    public let allowRawUpload: Bool
    /// Layers that must be on the device (pins and all their ancestors).
    public let forcedDevice: [Bool]
    /// Layers that must be on the server (outputs and all their descendants).
    public let forcedServer: [Bool]
    /// Layers pinned to the device directly (inputs and, by default, raw-input readers).
    public let pinnedDevice: [Bool]

    /// Derives the forced sets of `graph`; throws `PlanningError.conflictingConstraints` when a
    /// layer would have to be on both sides.
    public init(graph: ModelGraph, allowRawUpload: Bool) throws {
        let count = graph.count
        var pinned = [Bool](repeating: false, count: count)
        for input in graph.inputs {
            pinned[input] = true
            if !allowRawUpload {
                for reader in graph.successors(of: input) { pinned[reader] = true }
            }
        }
        // Ancestors of pinned layers, in reverse topological order.
        var device = pinned
        for layer in stride(from: count - 1, through: 0, by: -1) where device[layer] {
            for producer in graph.predecessors(of: layer) { device[producer] = true }
        }
        var server = graph.isOutput
        for layer in 0..<count where server[layer] {
            for consumer in graph.successors(of: layer) { server[consumer] = true }
        }
        if let clash = (0..<count).first(where: { device[$0] && server[$0] }) {
            let deviceReason = Self.deviceReason(of: clash, graph: graph, pinned: pinned, device: device)
            let serverReason = Self.serverReason(of: clash, graph: graph, server: server)
            throw PlanningError.conflictingConstraints(
                layer: graph.layers[clash].name, deviceReason: deviceReason, serverReason: serverReason)
        }
        self.allowRawUpload = allowRawUpload
        self.forcedDevice = device
        self.forcedServer = server
        self.pinnedDevice = pinned
    }

    /// Whether `layer` may be placed either way.
    @inline(__always)
    public func isFree(_ layer: Int) -> Bool { !forcedDevice[layer] && !forcedServer[layer] }

    private static func deviceReason(of layer: Int, graph: ModelGraph, pinned: [Bool], device: [Bool]) -> String {
        if graph.predecessors(of: layer).isEmpty { return "it is a model input" }
        if pinned[layer], let input = graph.predecessors(of: layer).first(where: { graph.predecessors(of: $0).isEmpty }) {
            return """
                it reads model input '\(graph.layers[input].name)' directly and raw data may not leave the device (use --allow-raw-upload to permit \
                it)
                """
        }
        // Follow successors that are forced onto the device until a pinned layer is reached.
        var current = layer
        while !pinned[current], let next = graph.successors(of: current).first(where: { device[$0] }) { current = next }
        return "it feeds '\(graph.layers[current].name)', which must run on the device"
    }

    private static func serverReason(of layer: Int, graph: ModelGraph, server: [Bool]) -> String {
        if graph.isOutput[layer] { return "it is a model output" }
        var current = layer
        while !graph.isOutput[current], let next = graph.predecessors(of: current).first(where: { server[$0] }) { current = next }
        return "it reads from output '\(graph.layers[current].name)', which must run on the server"
    }
}
