/// One direction of a link as the bits it can carry over time: a piecewise-constant capacity with
/// prefix sums, so the end of a transfer is found in O(log n).
///
/// `carried(until: t)` is C(t), the bits the link can carry from the trace's start to t; a transfer
/// of b bits starting at t ends at the first time T with C(T) = C(t) + b: it takes what capacity
/// comes, waits through outages (capacity 0) and speeds up when the link does. Beyond the trace's
/// end the link repeats from its start (period = the trace's length), so every transfer ends; the
/// simulator only uses this to finish the iteration in progress when the trace ends.
///
/// Invariants: `times` strictly increasing, `times[0] == start`, all < `end`; `rates[i] ≥ 0` holds
/// on `[times[i], times[i+1])` (the last until `end`); `cumulative[i]` = C(times[i]),
/// `cumulative[n]` = C(end) = `periodBits` > 0.
public struct LinkCapacity: Sendable, Equatable {
    let times: [Double]
    let rates: [Double]
    let cumulative: [Double]
    /// When the trace starts and ends, seconds.
    public let start: Double
    public let end: Double

    /// Builds the capacity from breakpoints and rates (equal neighbours merged); nil when the
    /// link carries nothing over `[times[0], end)`.
    public init?(times: [Double], rates: [Double], end: Double) {
        precondition(times.count == rates.count && !times.isEmpty && end > times[0])
        var mergedTimes: [Double] = [], mergedRates: [Double] = []
        mergedTimes.reserveCapacity(times.count)
        mergedRates.reserveCapacity(times.count)
        for (time, rate) in zip(times, rates) where time < end {
            if let last = mergedRates.last, last == rate { continue }
            mergedTimes.append(time)
            mergedRates.append(rate)
        }
        var cumulative = [0.0]
        cumulative.reserveCapacity(mergedTimes.count + 1)
        for index in mergedTimes.indices {
            let next = index + 1 < mergedTimes.count ? mergedTimes[index + 1] : end
            cumulative.append(cumulative[index] + mergedRates[index] * (next - mergedTimes[index]))
        }
        guard cumulative.last! > 0 else { return nil }
        self.times = mergedTimes
        self.rates = mergedRates
        self.cumulative = cumulative
        self.start = mergedTimes[0]
        self.end = end
    }

    /// Bits carried over one period of the trace.
    public var periodBits: Double { cumulative[cumulative.count - 1] }
    /// Length of the trace, seconds.
    public var periodSeconds: Double { end - start }
    /// Mean capacity over the whole trace, bit/s.
    public var meanBitsPerSecond: Double { periodBits / periodSeconds }

    /// Index of the piece holding `local` (a time within `[start, end)`).
    @inline(__always)
    func piece(_ local: Double) -> Int {
        var low = 0, high = times.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if times[middle] <= local { low = middle } else { high = middle - 1 }
        }
        return low
    }

    /// The capacity at `time`, bit/s (the trace repeating beyond its end).
    public func rate(at time: Double) -> Double {
        let (_, local) = wrap(time)
        return rates[piece(local)]
    }

    /// Splits `time` into whole periods after the start and a time within `[start, end)`.
    @inline(__always)
    func wrap(_ time: Double) -> (periods: Double, local: Double) {
        guard time >= end else { return (0, max(time, start)) }
        var periods = ((time - start) / periodSeconds).rounded(.down)
        var local = time - periods * periodSeconds
        if local >= end {
            periods += 1
            local -= periodSeconds
        }
        return (periods, max(local, start))
    }

    /// C(time): bits the link can carry from the trace's start to `time` (0 before the start).
    public func carried(until time: Double) -> Double {
        let (periods, local) = wrap(time)
        let index = piece(local)
        return periods * periodBits + cumulative[index] + rates[index] * (local - times[index])
    }

    /// The time a transfer of `bits` that starts at `time` ends: the first T ≥ `time` with
    /// C(T) ≥ C(time) + bits. A transfer of nothing ends when it starts.
    public func finish(bits: Double, from time: Double) -> Double {
        guard bits > 0 else { return time }
        let target = carried(until: max(time, start)) + bits
        var periods = (target / periodBits).rounded(.up) - 1
        var remaining = target - periods * periodBits
        if remaining <= 0 {
            periods -= 1
            remaining += periodBits
        }
        if remaining > periodBits { remaining = periodBits }
        // The first breakpoint by which `remaining` bits have been carried; its piece carries > 0.
        var low = 1, high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] >= remaining { high = middle } else { low = middle + 1 }
        }
        let index = low - 1
        let pieceEnd = index + 1 < times.count ? times[index + 1] : end
        let local = min(times[index] + (remaining - cumulative[index]) / rates[index], pieceEnd)
        return max(time, start + periods * periodSeconds + (local - start))
    }

    /// Mean capacity over `[from, to]`, bit/s (the rate at `from` when the window is empty).
    public func meanRate(from: Double, to: Double) -> Double {
        guard to > from else { return rate(at: from) }
        return (carried(until: to) - carried(until: from)) / (to - from)
    }

    /// Seconds within `[from, to]` (inside the trace) with zero capacity.
    public func outageSeconds(from: Double, to: Double) -> Double {
        var total = 0.0
        for (index, time) in times.enumerated() where rates[index] == 0 {
            let pieceEnd = index + 1 < times.count ? times[index + 1] : end
            total += max(0, min(pieceEnd, to) - max(time, from))
        }
        return total
    }
}
