/// The restructured min-cut network over a set of "member" layers (the whole graph for `dag`,
/// one region for `block`), built once and re-weighted for every solve.
///
/// Nodes: one per member (member i is node i) and one auxiliary node v' per member that feeds
/// two or more consumers, plus one per external producer; the source (device side) and sink
/// (server side) are implicit terminals of the solver. Arcs:
/// - source → v: server time of v (cut iff v runs on the server); v → sink: device time of v;
/// - v → v': transfer time of v's output; v' → u (infinite) for each consumer u, and v' → sink
///   (infinite) when v also feeds a layer fixed on the server: the transfer is paid once however
///   many consumers are on the server;
/// - u → v (infinite) for each member edge v → u: no data flows from the server to the device;
/// - pins: infinite terminal capacity for members forced onto one side;
/// - external producers e (fixed on the device, outside the members, whose transfer depends only
///   on this instance): source → e' with e's transfer time, e' → u infinite.
/// A member with exactly one consumer needs no auxiliary node: the arc v → u carries the transfer
/// time and its residual twin u → v is the infinite reverse arc (if the one consumer is fixed on
/// the server, the transfer simply adds to v → sink). Every finite cut then costs exactly the
/// instance's part of T(D), with D = the source side.
final class CutInstance: Sendable {
    /// Where a layer sits relative to the instance.
    enum Membership: Equatable {
        case member(Int)
        case deviceSide
        case serverSide
        case ignored
    }

    /// Global indices of member layers; member i is node i.
    let members: [Int32]
    let topology: FlowTopology
    /// Per member: how its transfer enters the network.
    let transferKind: [TransferKind]
    /// Per member: the logical arc carrying its transfer (direct or to its aux), or -1.
    let transferArc: [Int32]
    /// Members pinned to the device / server side.
    let pinnedDevice: [Bool]
    let pinnedServer: [Bool]
    /// Auxiliary nodes tied to the sink (their producer feeds a layer fixed on the server).
    let auxToSink: [Int32]
    /// External producers and their auxiliary nodes (fed from the source).
    let externalLayers: [Int32]
    let externalNodes: [Int32]
    /// Arcs with infinite capacity (aux → consumer, consumer → producer), reverse zero.
    let infiniteArcs: [Int32]
    /// Per member i: its member consumers (local indices) are
    /// `consumerList[consumerStart[i]..<consumerStart[i+1]]`; `feedsServerSide[i]` tells whether
    /// it also feeds a layer fixed on the server. Used to price a partition of the members.
    let consumerStart: [Int32]
    let consumerList: [Int32]
    let feedsServerSide: [Bool]
    /// Per external producer j: its member consumers, in the same layout.
    let externalConsumerStart: [Int32]
    let externalConsumerList: [Int32]

    enum TransferKind: UInt8, Sendable {
        /// No consumer in or beyond the instance.
        case none
        /// Only a consumer fixed on the server: the transfer adds to the member's sink arc.
        case toSink
        /// One member consumer: arc v → u with the transfer, reverse infinite.
        case direct
        /// Several consumers: arc v → v' with the transfer.
        case auxiliary
    }

    /// Builds the network for `members` (in topological order).
    init(
        graph: ModelGraph, members: [Int], externals: [Int],
        membership: (Int) -> Membership, pinnedDevice: (Int) -> Bool = { _ in false },
        pinnedServer: (Int) -> Bool = { _ in false }
    ) {
        var kinds: [TransferKind] = []
        var memberConsumers: [[Int]] = []
        var feedsServer: [Bool] = []
        var auxCount = 0
        for layer in members {
            var consumers: [Int] = []
            var toServer = false
            for consumer in graph.successors(of: layer) {
                switch membership(consumer) {
                case .member(let local): consumers.append(local)
                case .serverSide: toServer = true
                case .deviceSide, .ignored: break
                }
            }
            let kind: TransferKind
            switch (consumers.count, toServer) {
            case (0, false): kind = .none
            case (0, true): kind = .toSink
            case (1, false): kind = .direct
            default: kind = .auxiliary
            }
            if kind == .auxiliary { auxCount += 1 }
            kinds.append(kind)
            memberConsumers.append(consumers)
            feedsServer.append(toServer)
        }
        var builder = FlowTopology.Builder(nodeCount: members.count + auxCount + externals.count)
        var transferArc: [Int32] = [], infinite: [Int32] = [], auxToSink: [Int32] = []
        var nextAux = members.count
        for (local, kind) in kinds.enumerated() {
            switch kind {
            case .none, .toSink:
                transferArc.append(-1)
            case .direct:
                transferArc.append(Int32(builder.addArc(from: local, to: memberConsumers[local][0])))
            case .auxiliary:
                let aux = nextAux
                nextAux += 1
                transferArc.append(Int32(builder.addArc(from: local, to: aux)))
                for consumer in memberConsumers[local] {
                    infinite.append(Int32(builder.addArc(from: aux, to: consumer)))
                    infinite.append(Int32(builder.addArc(from: consumer, to: local)))
                }
                if feedsServer[local] { auxToSink.append(Int32(aux)) }
            }
        }
        var externalNodes: [Int32] = []
        var externalConsumerStart: [Int32] = [0], externalConsumerList: [Int32] = []
        for producer in externals {
            let aux = nextAux
            nextAux += 1
            externalNodes.append(Int32(aux))
            for consumer in graph.successors(of: producer) {
                if case .member(let local) = membership(consumer) {
                    infinite.append(Int32(builder.addArc(from: aux, to: local)))
                    externalConsumerList.append(Int32(local))
                }
            }
            externalConsumerStart.append(Int32(externalConsumerList.count))
        }
        var consumerStart: [Int32] = [0]
        for consumers in memberConsumers { consumerStart.append(consumerStart.last! + Int32(consumers.count)) }
        self.consumerStart = consumerStart
        self.consumerList = memberConsumers.flatMap { $0.map { Int32($0) } }
        self.feedsServerSide = feedsServer
        self.externalConsumerStart = externalConsumerStart
        self.externalConsumerList = externalConsumerList
        self.members = members.map { Int32($0) }
        self.topology = builder.build()
        self.transferKind = kinds
        self.transferArc = transferArc
        self.pinnedDevice = members.map(pinnedDevice)
        self.pinnedServer = members.map(pinnedServer)
        self.auxToSink = auxToSink
        self.externalLayers = externals.map { Int32($0) }
        self.externalNodes = externalNodes
        self.infiniteArcs = infinite
    }

    /// Loads this solve's capacities into `solver`.
    func loadCapacities(into solver: MaxFlowSolver, costs: LayerCosts) {
        solver.clear()
        let infinity = MaxFlowSolver.infinity
        costs.deviceUnits.withUnsafeBufferPointer { device in
            costs.serverUnits.withUnsafeBufferPointer { server in
                costs.transferUnits.withUnsafeBufferPointer { transfer in
                    members.withUnsafeBufferPointer { members in
                        transferKind.withUnsafeBufferPointer { kinds in
                            transferArc.withUnsafeBufferPointer { arcs in
                                for local in 0..<members.count {
                                    let layer = Int(members[local])
                                    var toSink = pinnedServer[local] ? infinity : device[layer]
                                    switch kinds[local] {
                                    case .none: break
                                    case .toSink: if toSink < infinity { toSink += transfer[layer] }
                                    case .direct: solver.setCapacity(Int(arcs[local]), transfer[layer], reverse: infinity)
                                    case .auxiliary: solver.setCapacity(Int(arcs[local]), transfer[layer])
                                    }
                                    solver.addTerminal(local, fromSource: pinnedDevice[local] ? infinity : server[layer], toSink: toSink)
                                }
                                for index in 0..<externalLayers.count {
                                    solver.addTerminal(Int(externalNodes[index]), fromSource: transfer[Int(externalLayers[index])], toSink: 0)
                                }
                            }
                        }
                    }
                }
            }
        }
        for node in auxToSink { solver.addTerminal(Int(node), fromSource: 0, toSink: infinity) }
        for arc in infiniteArcs { solver.setCapacity(Int(arc), infinity) }
    }

    /// Solves the instance: returns the min-cut value and marks members on the device side.
    func solve(with solver: MaxFlowSolver, costs: LayerCosts, onDevice: inout [Bool]) -> Int64 {
        loadCapacities(into: solver, costs: costs)
        let cut = solver.maximumFlow()
        onDevice.withUnsafeMutableBufferPointer { onDevice in
            for local in 0..<members.count { onDevice[Int(members[local])] = solver.isSourceSide(local) }
        }
        return cut
    }
}
