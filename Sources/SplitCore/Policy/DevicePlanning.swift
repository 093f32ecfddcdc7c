import Foundation

/// The daemon's per-device planning decisions as pure functions, so the daemon (`splitd`), the
/// simulator's `daemon` policy and the tests run the same pipeline:
///
/// 1. `ingest`: every telemetry sample is folded into the device's estimate (`LinkEstimator`) and
///    compared with what the device was last evaluated for (`ReplanThresholds`) and with its
///    revisit time: the answer is whether (and why) the device needs planning now;
/// 2. `evaluate`: planning looks the estimate up in the device's plan table, folds the training
///    done since the last evaluation into the switching state, and applies the switching rule
///    (`SwitchingPolicy`): move, or stay and why (`SwitchDecision`, the record of a refusal);
/// 3. `PlanDelivery.decide`: whether the plan is stored and pushed, by the device's push mode.
///
/// A device holding its table (`PushMode.table`) makes step 2 itself at every iteration
/// (`decideOnDevice`), with its own measurements; the daemon then only pushes new tables.
public struct DevicePlanningSettings: Sendable, Equatable, Hashable {
    /// How telemetry becomes the estimate planned for.
    public var estimator: LinkEstimator
    /// When the estimate has moved enough to plan again.
    public var thresholds: ReplanThresholds
    /// When a better split is worth its migration.
    public var switching: SwitchingPolicy
    /// What the device is pushed: its table (it switches itself) or every change of split.
    public var pushMode: PushMode

    /// The recommended settings (measured on real traces; docs/evaluation.md): the recommended
    /// estimator, the default thresholds, the payback rule with θ = 1, tables pushed.
    public static let recommended = DevicePlanningSettings(
        estimator: .recommended, thresholds: ReplanThresholds(), switching: .default, pushMode: .table)

    /// Creates settings.
    public init(estimator: LinkEstimator, thresholds: ReplanThresholds, switching: SwitchingPolicy, pushMode: PushMode) {
        self.estimator = estimator
        self.thresholds = thresholds
        self.switching = switching
        self.pushMode = pushMode
    }

    /// Throws `PlanningError.invalidParameter` naming the first bad value.
    public func validate() throws {
        try estimator.validate()
        try switching.validate()
    }
}

/// What the daemon keeps per device between samples and evaluations: a few numbers, persisted
/// with the device (`link_estimates` holds `estimate`; `planning_state` the evaluated link and
/// time, the switching state and the revisit time).
public struct DevicePlanningState: Sendable, Equatable {
    /// The device's link estimate (nil before its first sample).
    public var estimate: LinkEstimate?
    /// The estimate the device was last evaluated for (nil before its first evaluation).
    public var evaluated: LinkEstimate?
    /// When it was last evaluated.
    public var evaluatedAt: Date?
    /// The switching rule's accrued savings, by segment of the device's table.
    public var switching: SwitchingState
    /// When to evaluate again although the link has not moved: set when a better split is refused
    /// for now (`SwitchDecision.revisitAfterSeconds`), cleared by the next evaluation.
    public var revisitAt: Date?

    /// The state of a device the daemon knows nothing about yet.
    public init(
        estimate: LinkEstimate? = nil, evaluated: LinkEstimate? = nil, evaluatedAt: Date? = nil,
        switching: SwitchingState = SwitchingState(segments: 0), revisitAt: Date? = nil
    ) {
        self.estimate = estimate
        self.evaluated = evaluated
        self.evaluatedAt = evaluatedAt
        self.switching = switching
        self.revisitAt = revisitAt
    }
}

/// Why ingest asks for a device to be planned.
public enum ReplanTrigger: String, Sendable, CaseIterable {
    /// The device's first link estimate: it has never been evaluated.
    case firstLink = "first link"
    /// The estimate moved beyond the thresholds (`PlanReason.telemetryChange`).
    case linkMoved = "link moved"
    /// The memory the device reports moved beyond its threshold (`PlanReason.memoryChange`).
    case memoryMoved = "memory moved"
    /// A refused better split's savings are due to pay for its migration (the revisit time passed).
    case revisit
}

/// The split a device runs when it is evaluated.
public enum CurrentSplit: Sendable, Equatable {
    /// None yet: its first plan.
    case none
    /// Segment `index` of the table it is evaluated against.
    case segment(Int)
    /// A split that is none of the table's segments (planned under an older table), priced by its cost.
    case other(SplitCost)
    /// A split that can no longer run here (a layer gone, a placement rule broken, more memory than the limit).
    case invalidated

    /// Its predicted delay per iteration at these rates and rtt (∞ when it cannot run).
    func seconds(in table: PlanTable, uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double, rttSeconds: Double) -> Double {
        switch self {
        case .none, .invalidated: return .infinity
        case .segment(let index):
            return table.segments[index].cost.delaySeconds(
                uplinkBitsPerSecond: uplinkBitsPerSecond, downlinkBitsPerSecond: downlinkBitsPerSecond, rttSeconds: rttSeconds)
        case .other(let cost):
            return cost.delaySeconds(uplinkBitsPerSecond: uplinkBitsPerSecond, downlinkBitsPerSecond: downlinkBitsPerSecond, rttSeconds: rttSeconds)
        }
    }
}

extension DevicePlanningSettings {
    /// Folds `sample` into the device's estimate and says whether it needs planning now and why
    /// (nil: not yet). Memory is checked before the link, as ingest names a memory change first.
    public func ingest(_ sample: TelemetrySample, state: inout DevicePlanningState, registeredFLOPs: Double) -> ReplanTrigger? {
        let estimate = estimator.fold(sample, into: state.estimate)
        state.estimate = estimate
        return trigger(for: estimate, state: state, registeredFLOPs: registeredFLOPs)
    }

    /// Whether a device whose estimate is now `estimate` needs planning, and why (nil: not yet):
    /// the rule `ingest` applies after folding a sample (the daemon's ingest folds a batch's
    /// samples first and asks this once per batch and device).
    public func trigger(for estimate: LinkEstimate, state: DevicePlanningState, registeredFLOPs: Double) -> ReplanTrigger? {
        guard let evaluated = state.evaluated else { return .firstLink }
        if thresholds.memoryMoved(from: evaluated, to: estimate) { return .memoryMoved }
        if thresholds.moved(from: evaluated, to: estimate, registeredFLOPs: registeredFLOPs) { return .linkMoved }
        if let revisit = state.revisitAt, estimate.measuredAt >= revisit { return .revisit }
        return nil
    }

    /// Evaluates a device against its plan table at `now`, for its current estimate:
    /// 1. the training done since the last evaluation (`now − evaluatedAt` seconds with `current`,
    ///    at the rates last evaluated for, which held within the thresholds since) is folded
    ///    into the switching state;
    /// 2. the switching rule decides between `current` and the table's segment for the estimate,
    ///    every delay priced at the estimate's planning rates and rtt (`LinkEstimator.planningRates`)
    ///    and every move by `migrationSeconds(to, uplink, downlink)`;
    /// 3. the state records the evaluation: a move restarts the switching state, a refusal sets
    ///    the revisit time.
    ///
    /// Without an estimate the device cannot be planned: the caller must not evaluate it (the
    /// daemon queues only devices with a known link); the estimate is then taken as 1 bit/s.
    public func evaluate(
        table: PlanTable, current: CurrentSplit, now: Date, state: inout DevicePlanningState,
        migrationSeconds: (_ to: Int, _ uplinkBitsPerSecond: Double, _ downlinkBitsPerSecond: Double) -> Double
    ) -> SwitchDecision {
        let segments = table.segments.count
        if state.switching.accruedSavingSeconds.count != segments { state.switching.reset(segments: segments) }
        if let evaluated = state.evaluated, let evaluatedAt = state.evaluatedAt, now > evaluatedAt {
            let (up, down) = LinkEstimator.planningRates(evaluated)
            let seconds = table.segments.map {
                $0.cost.delaySeconds(uplinkBitsPerSecond: up, downlinkBitsPerSecond: down, rttSeconds: evaluated.rttSeconds)
            }
            switching.accrue(
                &state.switching, elapsedSeconds: now.timeIntervalSince(evaluatedAt),
                currentSeconds: current.seconds(in: table, uplinkBitsPerSecond: up, downlinkBitsPerSecond: down, rttSeconds: evaluated.rttSeconds),
                segmentSeconds: seconds)
        }
        let estimate =
            state.estimate
            ?? LinkEstimate(
                deviceID: "", uplinkBitsPerSecond: LinkEstimator.minimumBitsPerSecond, downlinkBitsPerSecond: LinkEstimator.minimumBitsPerSecond,
                rttSeconds: 0, computeFLOPs: nil, samples: 0, measuredAt: now)
        let (up, down) = LinkEstimator.planningRates(estimate)
        let seconds = table.segments.map {
            $0.cost.delaySeconds(uplinkBitsPerSecond: up, downlinkBitsPerSecond: down, rttSeconds: estimate.rttSeconds)
        }
        let best = table.segmentIndex(
            forEffectiveBitsPerSecond: PlanTable.effectiveBitsPerSecond(uplinkBitsPerSecond: up, downlinkBitsPerSecond: down))
        let currentSegment: Int?
        if case .segment(let index) = current { currentSegment = index } else { currentSegment = nil }
        var decision = switching.decide(
            state: state.switching, current: currentSegment,
            currentSeconds: current.seconds(in: table, uplinkBitsPerSecond: up, downlinkBitsPerSecond: down, rttSeconds: estimate.rttSeconds),
            segmentSeconds: seconds,
            migrationSeconds: table.segments.indices.map { $0 == currentSegment || current == .none ? 0 : migrationSeconds($0, up, down) }, best: best
        )
        if current == .none { decision.reason = .firstPlan }
        state.evaluated = estimate
        state.evaluatedAt = now
        if decision.moves {
            state.switching.reset(segments: segments)
            state.revisitAt = nil
        } else {
            state.revisitAt = decision.revisitAfterSeconds.map { now.addingTimeInterval($0) }
        }
        return decision
    }

    /// What a device holding its table does at the end of each iteration: fold the
    /// `elapsedSeconds` it trained with segment `current` (at the rates of its estimate) into its
    /// switching state, then decide at the same rates; a move restarts the state. The migration
    /// from `current` to segment `to` is priced by `migrationSeconds(to, uplink, downlink)`.
    public func decideOnDevice(
        table: PlanTable, current: Int, elapsedSeconds: Double, estimate: LinkEstimate, state: inout SwitchingState,
        migrationSeconds: (_ to: Int, _ uplinkBitsPerSecond: Double, _ downlinkBitsPerSecond: Double) -> Double
    ) -> SwitchDecision {
        let (up, down) = LinkEstimator.planningRates(estimate)
        let seconds = table.segments.map {
            $0.cost.delaySeconds(uplinkBitsPerSecond: up, downlinkBitsPerSecond: down, rttSeconds: estimate.rttSeconds)
        }
        switching.accrue(&state, elapsedSeconds: elapsedSeconds, currentSeconds: seconds[current], segmentSeconds: seconds)
        let best = table.segmentIndex(
            forEffectiveBitsPerSecond: PlanTable.effectiveBitsPerSecond(uplinkBitsPerSecond: up, downlinkBitsPerSecond: down))
        let decision = switching.decide(
            state: state, current: current, currentSeconds: seconds[current], segmentSeconds: seconds,
            migrationSeconds: seconds.indices.map { $0 == current ? 0 : migrationSeconds($0, up, down) }, best: best)
        if decision.moves { state.reset(segments: table.segments.count) }
        return decision
    }
}

/// Whether a plan is stored and pushed (`FleetPlanner`): a plan is stored when the device's split
/// changes or, for a device that takes tables, when its table changes; it is pushed when the
/// device would not know otherwise: a new table for `table` devices, a new split for `split` ones.
public struct PlanDelivery: Sendable, Equatable {
    /// Whether a new plan is stored.
    public var store: Bool
    /// Whether it is pushed to the device's webhook.
    public var push: Bool

    /// Creates a delivery decision.
    public init(store: Bool, push: Bool) {
        self.store = store
        self.push = push
    }

    /// The decision for a device in `pushMode` whose split `switched` and whose table `tableChanged`.
    public static func decide(pushMode: PushMode, switched: Bool, tableChanged: Bool) -> PlanDelivery {
        let store = switched || (pushMode == .table && tableChanged)
        return PlanDelivery(store: store, push: store && (pushMode == .split ? switched : tableChanged))
    }
}
