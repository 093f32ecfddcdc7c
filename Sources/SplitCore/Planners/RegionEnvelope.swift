/// A window's min cut for every planning condition, computed once per model.
///
/// ## Why one parameter is enough (exactness)
/// Without measured profiles a layer costs `a·F` on the device and `b·F` on the server (F its
/// training FLOPs, a and b the seconds per FLOP, both scaled by the batch) and its transfer costs
/// `c·B` (B its output bytes). A cut of the window that keeps the set C on the device therefore
/// costs `b·F(R) + (a − b)·F(C) + c·B(C)`, where F(R) is the window's FLOPs and B(C) the bytes the
/// cut sends (members of C read after C, and external producers read by the rest). When a ≥ b the
/// best C minimises `F(C) + t·B(C)` with t = c / (a − b) ∈ [0, ∞] (t = ∞ when a = b); when a < b it
/// minimises `F(R∖C) + t·B(C)` with t = c / (b − a). Each minimum, g(t), is the lower envelope of
/// the lines `F(C) + t·B(C)` over all valid C: concave and piecewise linear in the single number t.
/// Its pieces are found exactly by the Eisner–Severance search: cut at t = 0 and t = ∞; for two
/// known cuts L and R, cut at the t where their lines cross; a cheaper cut there is a new piece
/// (search both sides), otherwise no cut is below both lines between them, because g is concave
/// and touches both lines at their own t. The stored cuts thus contain an optimal cut for every
/// t, and for any conditions the window's exact min cut is the cheapest stored cut of its family
/// evaluated at (a, b, c): no max-flow per plan. Windows with measured layers, or whose search
/// would be long, keep the per-plan max-flow.
final class RegionEnvelope: Sendable {
    /// Stored cuts per family: the first `fasterServerCuts` serve a ≥ b, the rest a < b.
    let fasterServerCuts: Int
    /// Per stored cut: FLOPs kept on the device, and bytes sent.
    let deviceFLOPs: FlatBuffer<Double>
    let bytes: FlatBuffer<Double>
    /// Per stored cut, per member (cut-major): whether the member is on the device.
    let sides: FlatBuffer<Bool>
    /// FLOPs of all members.
    let totalFLOPs: Double
    /// Number of members.
    let memberCount: Int

    /// The most max-flows one window's search may take before the window keeps per-plan cuts.
    static let solveLimit = 160
    /// Windows larger than this keep per-plan cuts (the search would cost too much to prepare).
    static let memberLimit = 4096
    /// Members × max-flows one model's searches may spend in all (about a second of preparation;
    /// NASNet-A Large takes 61,390); windows past it keep per-plan cuts.
    static let modelBudget = 1 << 21

    /// The window's exact min-cut time under these rates and the stored cut that achieves it.
    @inline(never)
    func cheapest(deviceSecondsPerFLOP a: Double, serverSecondsPerFLOP b: Double, secondsPerByte c: Double) -> (seconds: Double, cut: Int) {
        let range = a >= b ? 0..<fasterServerCuts : fasterServerCuts..<deviceFLOPs.count
        var best = Double.infinity, bestCut = range.lowerBound
        let slope = a - b
        for cut in range {
            let seconds = slope * deviceFLOPs[cut] + c * bytes[cut]
            if seconds < best {
                best = seconds
                bestCut = cut
            }
        }
        return (b * totalFLOPs + best, bestCut)
    }

    private init(cuts: [Search.Cut], fasterServerCuts: Int, totalFLOPs: Double, memberCount: Int) {
        self.fasterServerCuts = fasterServerCuts
        deviceFLOPs = FlatBuffer(cuts.map(\.deviceFLOPs))
        bytes = FlatBuffer(cuts.map(\.bytes))
        sides = FlatBuffer(cuts.flatMap(\.sides))
        self.totalFLOPs = totalFLOPs
        self.memberCount = memberCount
    }

    /// Buffers over all layers that the searches of one model share.
    struct Workspace {
        var costs = LayerCosts()
        var onDevice: [Bool]

        /// Buffers for a graph of `layerCount` layers.
        init(layerCount: Int) {
            costs.resize(layerCount)
            onDevice = [Bool](repeating: false, count: layerCount)
        }
    }

    /// Searches both families for candidate `candidate`, spending from `budget` (members × solves);
    /// nil when a member is measured, the window is empty or too large, or the search exceeds
    /// `solveLimit` or the budget.
    static func build(
        instance: CutInstance, candidate: Int, decomposition: BlockDecomposition, graph: ModelGraph,
        rules: PlacementRules, isMeasured: [Bool], workspace: inout Workspace, budget: inout Int
    ) -> RegionEnvelope? {
        let members = instance.members
        guard !members.isEmpty, members.count <= memberLimit, !members.contains(where: { isMeasured[Int($0)] }) else { return nil }
        var search = Search(instance: instance, candidate: candidate, decomposition: decomposition, graph: graph, rules: rules)
        swap(&search.workspace, &workspace)
        defer { swap(&search.workspace, &workspace) }
        let solveLimit = min(Self.solveLimit, budget / members.count)
        let faster = search.envelope(serverFamily: false, solveLimit: solveLimit)
        let slower = faster == nil ? nil : search.envelope(serverFamily: true, solveLimit: solveLimit)
        budget -= search.solves * members.count
        guard let faster, let slower else { return nil }
        return RegionEnvelope(
            cuts: faster + slower, fasterServerCuts: faster.count,
            totalFLOPs: search.totalFLOPs, memberCount: members.count)
    }

    /// The Eisner–Severance search over one window (see type documentation).
    private struct Search {
        struct Cut {
            var deviceFLOPs: Double
            var bytes: Double
            var sides: [Bool]
        }

        let instance: CutInstance
        let candidate: Int
        let decomposition: BlockDecomposition
        let graph: ModelGraph
        let rules: PlacementRules
        let solver: MaxFlowSolver
        let totalFLOPs: Double
        /// Borrowed from the model's shared workspace for the duration of the search.
        var workspace = Workspace(layerCount: 0)
        var solves = 0

        init(instance: CutInstance, candidate: Int, decomposition: BlockDecomposition, graph: ModelGraph, rules: PlacementRules) {
            self.instance = instance
            self.candidate = candidate
            self.decomposition = decomposition
            self.graph = graph
            self.rules = rules
            solver = MaxFlowSolver(topology: instance.topology)
            totalFLOPs = instance.members.reduce(0) { $0 + graph.layers[Int($1)].trainingFLOPs }
        }

        /// The weight the family minimises besides transfers: FLOPs on the device (a ≥ b) or on
        /// the server (a < b).
        func weight(_ cut: Cut, serverFamily: Bool) -> Double { serverFamily ? totalFLOPs - cut.deviceFLOPs : cut.deviceFLOPs }

        /// The stored cuts of one family, or nil once the search has taken `solveLimit` max-flows.
        mutating func envelope(serverFamily: Bool, solveLimit: Int) -> [Cut]? {
            guard let left = solve(t: 0, serverFamily: serverFamily, solveLimit: solveLimit),
                let right = solve(t: .infinity, serverFamily: serverFamily, solveLimit: solveLimit)
            else { return nil }
            var cuts = [left, right]
            var pending = [(left, right)]
            while let (low, high) = pending.popLast() {
                let slopeGap = low.bytes - high.bytes
                let crossing = (weight(high, serverFamily: serverFamily) - weight(low, serverFamily: serverFamily)) / slopeGap
                guard slopeGap > 0, crossing.isFinite, crossing > 0 else { continue }
                guard let middle = solve(t: crossing, serverFamily: serverFamily, solveLimit: solveLimit) else { return nil }
                let line = weight(low, serverFamily: serverFamily) + crossing * low.bytes
                let found = weight(middle, serverFamily: serverFamily) + crossing * middle.bytes
                // Max-flow on costs rounded to 2^60 units finds the minimum to ~1e-16; a cut
                // cheaper by less than this tolerance adds nothing the planner could see.
                guard found < line - 1e-13 * abs(line) else { continue }
                cuts.append(middle)
                pending.append((low, middle))
                pending.append((middle, high))
            }
            return cuts
        }

        /// The min cut with compute weights of the family and transfers scaled by t (compute
        /// ignored at t = ∞), with its exact FLOPs and bytes.
        mutating func solve(t: Double, serverFamily: Bool, solveLimit: Int) -> Cut? {
            guard solves < solveLimit else { return nil }
            solves += 1
            let members = instance.members, externals = instance.externalLayers
            let scale = t.isInfinite ? 1 : t
            for member in members {
                let layer = Int(member)
                let flops = t.isInfinite ? 0 : graph.layers[layer].trainingFLOPs
                workspace.costs.deviceSeconds[layer] = serverFamily ? 0 : flops
                workspace.costs.serverSeconds[layer] = serverFamily ? flops : 0
                workspace.costs.transferSeconds[layer] = graph.layers[layer].outputBytes * scale
            }
            for external in externals { workspace.costs.transferSeconds[Int(external)] = graph.layers[Int(external)].outputBytes * scale }
            _ = members.withUnsafeBufferPointer { members in
                externals.withUnsafeBufferPointer { externals in workspace.costs.quantize(members: members, transferOnly: externals) }
            }
            _ = instance.solve(with: solver, costs: workspace.costs, onDevice: &workspace.onDevice)
            var deviceFLOPs = 0.0, bytes = 0.0
            for member in members where workspace.onDevice[Int(member)] {
                let layer = Int(member)
                deviceFLOPs += graph.layers[layer].trainingFLOPs
                if graph.successors(of: layer).contains(where: { readsOnServer($0) }) { bytes += graph.layers[layer].outputBytes }
            }
            for external in externals where graph.successors(of: Int(external)).contains(where: { readsOnServer($0) }) {
                bytes += graph.layers[Int(external)].outputBytes
            }
            return Cut(deviceFLOPs: deviceFLOPs, bytes: bytes, sides: members.map { workspace.onDevice[Int($0)] })
        }

        /// Whether `consumer` runs on the server in the latest solve (members as solved, layers
        /// after the window on the server, followers with their producer).
        func readsOnServer(_ consumer: Int) -> Bool {
            switch decomposition.membership(of: consumer, candidate: candidate, rules: rules) {
            case .member: return !workspace.onDevice[consumer]
            case .serverSide: return true
            case .deviceSide, .ignored: return false
            }
        }
    }
}
