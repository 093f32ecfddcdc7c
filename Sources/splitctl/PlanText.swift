import Foundation
import SplitCore

/// The human view of a plan.
enum PlanText {
    static func render(plan: Plan, model: PreparedModel, conditions: PlanningConditions, algorithmLabel: String? = nil) -> String {
        let graph = model.graph
        let breakdown = plan.breakdown
        func share(_ seconds: Double) -> String {
            plan.delaySeconds > 0 ? String(format3Percent(seconds / plan.delaySeconds * 100)) : "-"
        }
        var out = ""
        out += "model      \(graph.name) (\(graph.count) layers)\n"
        out += "algorithm  \(algorithmLabel ?? plan.algorithm.rawValue)\n"
        out += "delay      \(formatSeconds(plan.delaySeconds)) per iteration (batch \(conditions.batchSize))\n"
        out += "split      \(plan.deviceLayers.count) layers on device, \(plan.serverLayers.count) on server\n"
        out += "transfer   \(formatBytes(plan.transferBytes)) up and down per iteration\n"
        var memory = "memory     \(ByteQuantity.short(plan.deviceMemoryBytes)) on the device (\(conditions.optimizer.rawValue)"
        if let limit = conditions.deviceMemoryLimitBytes {
            memory += ", limit \(ByteQuantity.short(limit))" + (plan.memoryBound ? "; the limit binds: the fastest split does not fit" : "")
        }
        out += memory + ")\n"
        if algorithmLabel == nil { out += "solved in  \(String(format: "%.1f", plan.solveMicroseconds)) µs\n" }
        out += "\n"
        out += "cut layers (device → server):\n"
        if plan.cutLayers.isEmpty { out += "  (none)\n" }
        for layer in plan.cutLayers {
            out += "  \(graph.layers[layer].name)  \(formatBytes(graph.layers[layer].outputBytes * Double(conditions.batchSize)))\n"
        }
        out += "\nbreakdown:\n"
        for (label, seconds) in [
            ("device compute", breakdown.deviceComputeSeconds), ("server compute", breakdown.serverComputeSeconds),
            ("uplink", breakdown.uplinkSeconds), ("downlink", breakdown.downlinkSeconds), ("rtt", breakdown.rttSeconds),
        ] {
            out +=
                "  "
                + label.padding(
                    toLength: 16, withPad: " ",
                    startingAt: 0) + formatSeconds(seconds).leftPadded(10) + "  " + share(seconds).leftPadded(6) + "\n"
        }
        return out
    }

    static func format3Percent(_ value: Double) -> String { String(format: "%.1f%%", value) }
}

/// `1.2 MB`, `650 kB`.
func formatBytes(_ bytes: Double) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"]
    var value = bytes, unit = 0
    while value >= 1000 && unit < units.count - 1 { value /= 1000; unit += 1 }
    return unit == 0 ? "\(Int(value)) B" : "\(String(format: "%.1f", value)) \(units[unit])"
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
