/// How one training iteration's delay splits into its parts.
public struct DelayBreakdown: Sendable, Equatable, Codable {
    /// Forward+backward time of the device part.
    public var deviceComputeSeconds: Double
    /// Forward+backward time of the server part.
    public var serverComputeSeconds: Double
    /// Time to send the cut layers' activations up.
    public var uplinkSeconds: Double
    /// Time to receive the cut layers' gradients.
    public var downlinkSeconds: Double
    /// Round trip added once per iteration.
    public var rttSeconds: Double

    /// Creates a breakdown.
    public init(
        deviceComputeSeconds: Double, serverComputeSeconds: Double, uplinkSeconds: Double,
        downlinkSeconds: Double, rttSeconds: Double
    ) {
        self.deviceComputeSeconds = deviceComputeSeconds
        self.serverComputeSeconds = serverComputeSeconds
        self.uplinkSeconds = uplinkSeconds
        self.downlinkSeconds = downlinkSeconds
        self.rttSeconds = rttSeconds
    }

    /// The training delay: the sum of all parts.
    public var totalSeconds: Double {
        deviceComputeSeconds + serverComputeSeconds + uplinkSeconds + downlinkSeconds + rttSeconds
    }

    enum CodingKeys: String, CodingKey {
        case deviceComputeSeconds = "device_compute_seconds"
        case serverComputeSeconds = "server_compute_seconds"
        case uplinkSeconds = "uplink_seconds"
        case downlinkSeconds = "downlink_seconds"
        case rttSeconds = "rtt_seconds"
    }
}

/// A split of a model between device and server, with its predicted training delay.
public struct Plan: Sendable, Equatable {
    /// The planner that produced it.
    public var algorithm: PlanningAlgorithm
    /// `onDevice[v]` is true when layer v runs on the device.
    public var onDevice: [Bool]
    /// Predicted delay of one training iteration, seconds (evaluated in Double on the partition).
    public var delaySeconds: Double
    /// The delay's parts.
    public var breakdown: DelayBreakdown
    /// Device layers whose output is sent to the server (each once), in topological order.
    public var cutLayers: [Int]
    /// Bytes sent per iteration in one direction (activations up; gradients down are the same).
    public var transferBytes: Double
    /// Wall time the planner took, microseconds.
    public var solveMicroseconds: Double
    /// Training memory M(D) of the device part under the plan's batch size and optimizer, bytes
    /// (`DeviceMemoryTerms`).
    public var deviceMemoryBytes: Int64
    /// Whether the device memory limit cost delay: the fastest split without the limit does not
    /// fit, so this plan is slower than it (by more than 1e-9 relative).
    public var memoryBound: Bool

    /// Indices of device layers in topological order.
    public var deviceLayers: [Int] { onDevice.indices.filter { onDevice[$0] } }
    /// Indices of server layers in topological order.
    public var serverLayers: [Int] { onDevice.indices.filter { !onDevice[$0] } }
}

extension PreparedModel {
    /// Evaluates the cost model on a partition: the delay reported for every plan.
    public func evaluate(
        onDevice: [Bool], costs: LayerCosts,
        conditions: PlanningConditions
    ) -> (breakdown: DelayBreakdown, cutLayers: [Int], transferBytes: Double) {
        var device = 0.0, server = 0.0, cutBytes = 0.0
        var cutLayers: [Int] = []
        for layer in 0..<graph.count {
            if onDevice[layer] {
                device += costs.deviceSeconds[layer]
                if graph.successors(of: layer).contains(where: { !onDevice[$0] }) {
                    cutLayers.append(layer)
                    cutBytes += graph.layers[layer].outputBytes
                }
            } else {
                server += costs.serverSeconds[layer]
            }
        }
        let cost = SplitCost(computeSeconds: device + server, transferBytes: Double(conditions.batchSize) * cutBytes)
        let breakdown = DelayBreakdown(
            deviceComputeSeconds: device, serverComputeSeconds: server,
            uplinkSeconds: cost.uplinkSeconds(uplinkBitsPerSecond: conditions.uplinkBitsPerSecond),
            downlinkSeconds: cost.downlinkSeconds(downlinkBitsPerSecond: conditions.downlinkBitsPerSecond),
            rttSeconds: conditions.rttSeconds)
        return (breakdown, cutLayers, cost.transferBytes)
    }

    /// Whether `onDevice` is a valid split under this model's placement rules; returns the first
    /// broken rule, or nil.
    public func violation(of onDevice: [Bool]) -> String? {
        guard onDevice.count == graph.count else { return "partition has \(onDevice.count) entries for \(graph.count) layers" }
        for layer in 0..<graph.count {
            let name = graph.layers[layer].name
            if rules.forcedDevice[layer] && !onDevice[layer] { return "layer '\(name)' must be on the device" }
            if rules.forcedServer[layer] && onDevice[layer] { return "layer '\(name)' must be on the server" }
            if !onDevice[layer], let consumer = graph.successors(of: layer).first(where: { onDevice[$0] }) {
                return "server layer '\(name)' feeds device layer '\(graph.layers[consumer].name)'"
            }
        }
        return nil
    }
}

extension Plan {
    /// The same split under other link rates and RTT: only the link terms of the delay change
    /// (compute, transfer bytes, cut and memory depend on the compute side alone). Gives what
    /// `PreparedModel.plan(forSplit:conditions:)` gives for conditions that differ from this plan's
    /// only in `uplinkBitsPerSecond`, `downlinkBitsPerSecond` and `rttSeconds`.
    public func repriced(uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double, rttSeconds: Double) -> Plan {
        var plan = self
        let cost = SplitCost(self)
        plan.breakdown.uplinkSeconds = cost.uplinkSeconds(uplinkBitsPerSecond: uplinkBitsPerSecond)
        plan.breakdown.downlinkSeconds = cost.downlinkSeconds(downlinkBitsPerSecond: downlinkBitsPerSecond)
        plan.breakdown.rttSeconds = rttSeconds
        plan.delaySeconds = plan.breakdown.totalSeconds
        return plan
    }
}

extension PreparedModel {
    /// The plan for a split chosen elsewhere (`onDevice[v]` for every layer): its delay,
    /// breakdown and device memory under `conditions`. Throws `PlanningError.invalidSplit` if it
    /// breaks a rule, `.splitExceedsDeviceMemory` if it needs more than the conditions' limit.
    public func plan(forSplit onDevice: [Bool], conditions: PlanningConditions, algorithm: PlanningAlgorithm = .dag) throws -> Plan {
        try conditions.validate()
        if let violation = violation(of: onDevice) { throw PlanningError.invalidSplit(violation) }
        let memory = try memoryTerms(
            batchSize: conditions.batchSize, optimizer: conditions.optimizer,
            saturating: conditions.deviceMemoryLimitBytes == nil
        ).bytes(onDevice: onDevice, graph: graph)
        if let limit = conditions.deviceMemoryLimitBytes, memory > limit {
            throw PlanningError.splitExceedsDeviceMemory(neededBytes: memory, limitBytes: limit)
        }
        var costs = LayerCosts()
        computeCosts(conditions, into: &costs)
        let evaluation = evaluate(onDevice: onDevice, costs: costs, conditions: conditions)
        return Plan(
            algorithm: algorithm, onDevice: onDevice, delaySeconds: evaluation.breakdown.totalSeconds,
            breakdown: evaluation.breakdown, cutLayers: evaluation.cutLayers,
            transferBytes: evaluation.transferBytes, solveMicroseconds: 0,
            deviceMemoryBytes: memory, memoryBound: false)
    }
}
