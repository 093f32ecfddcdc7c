/// Per-layer times of one training iteration under given conditions, in seconds and as integers.
///
/// `deviceSeconds[v]` is the forward+backward time of layer v on the device for the whole batch,
/// `serverSeconds[v]` the same on the server, and `transferSeconds[v]` the time to send v's
/// activations up and receive their gradients down. The integer copies are the same values in
/// units of `1 / unitsPerSecond` seconds, rounded: the max-flow planners cut on these, which makes
/// the cut exact for the rounded costs. The scale is chosen so that the sum of every capacity stays
/// below 2^60, so no sum overflows and rounding error is at most one unit per term.
public struct LayerCosts: Sendable {
    /// Device compute time per layer, seconds.
    public internal(set) var deviceSeconds: [Double] = []
    /// Server compute time per layer, seconds.
    public internal(set) var serverSeconds: [Double] = []
    /// Uplink plus downlink time of each layer's output, seconds.
    public internal(set) var transferSeconds: [Double] = []
    /// Integer device times.
    public internal(set) var deviceUnits: [Int64] = []
    /// Integer server times.
    public internal(set) var serverUnits: [Int64] = []
    /// Integer transfer times.
    public internal(set) var transferUnits: [Int64] = []
    /// Integer units per second used for this iteration's costs.
    public internal(set) var unitsPerSecond: Double = 1

    /// The budget for the sum of all finite capacities.
    static let unitBudget = Double(Int64(1) << 60)

    /// `seconds · scale` rounded half up, saturating at the budget instead of trapping. Inputs
    /// within `Limits` keep every total finite, so saturation never happens for accepted values;
    /// it is what keeps a value that slipped past validation from crashing the process.
    @inline(__always)
    static func units(_ seconds: Double, scale: Double) -> Int64 {
        let scaled = seconds * scale + 0.5
        guard scaled < unitBudget else { return Int64(1) << 60 }  // also NaN
        return scaled > 0 ? Int64(scaled) : 0
    }

    /// Units per second that fit `total` seconds into the budget (1 when there is nothing to fit).
    @inline(__always)
    static func scale(total: Double) -> Double {
        total > 0 && total.isFinite ? unitBudget / total : 1
    }

    /// Creates empty buffers; `PreparedModel.computeCosts` fills them.
    public init() {}

    /// Resizes the buffers for `count` layers, reusing their storage.
    mutating func resize(_ count: Int) {
        guard deviceSeconds.count != count else { return }
        deviceSeconds = [Double](repeating: 0, count: count)
        serverSeconds = deviceSeconds
        transferSeconds = deviceSeconds
        deviceUnits = [Int64](repeating: 0, count: count)
        serverUnits = deviceUnits
        transferUnits = deviceUnits
    }

    /// Quantizes the second-valued costs into integer units (round half up; costs are >= 0).
    mutating func quantize() {
        let count = deviceSeconds.count
        var total = 0.0
        deviceSeconds.withUnsafeBufferPointer { device in
            serverSeconds.withUnsafeBufferPointer { server in
                transferSeconds.withUnsafeBufferPointer { transfer in
                    for layer in 0..<count { total += device[layer] + server[layer] + transfer[layer] }
                }
            }
        }
        unitsPerSecond = Self.scale(total: total)
        let scale = unitsPerSecond
        func convert(_ seconds: [Double], _ units: inout [Int64]) {
            seconds.withUnsafeBufferPointer { seconds in
                units.withUnsafeMutableBufferPointer { units in
                    for layer in 0..<count { units[layer] = Self.units(seconds[layer], scale: scale) }
                }
            }
        }
        convert(deviceSeconds, &deviceUnits)
        convert(serverSeconds, &serverUnits)
        convert(transferSeconds, &transferUnits)
    }
}

extension LayerCosts {
    /// Quantizes only `layers` and `transferOnly`, with a scale fitted to their own total, and
    /// returns the scale (units per second). Used for one region's min cut.
    mutating func quantize(members: UnsafeBufferPointer<Int32>, transferOnly: UnsafeBufferPointer<Int32>) -> Double {
        var total = 0.0
        for layer in members { total += deviceSeconds[Int(layer)] + serverSeconds[Int(layer)] + transferSeconds[Int(layer)] }
        for layer in transferOnly { total += transferSeconds[Int(layer)] }
        let scale = Self.scale(total: total)
        for layer in members {
            deviceUnits[Int(layer)] = Self.units(deviceSeconds[Int(layer)], scale: scale)
            serverUnits[Int(layer)] = Self.units(serverSeconds[Int(layer)], scale: scale)
            transferUnits[Int(layer)] = Self.units(transferSeconds[Int(layer)], scale: scale)
        }
        for layer in transferOnly { transferUnits[Int(layer)] = Self.units(transferSeconds[Int(layer)], scale: scale) }
        return scale
    }
}
