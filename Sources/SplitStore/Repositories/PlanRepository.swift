import Crypto
import Foundation
import SplitCore
import SplitSupport

/// A device that needs planning, with everything the planner needs, claimed by one replica.
package struct PlanningCandidate: Sendable {
    package var deviceID: String
    package var modelName: String
    /// The version to plan for (pinned, else the latest).
    package var modelVersion: Int
    package var edgeServerID: String
    package var serverFLOPs: Double
    package var batchSize: Int
    /// Registered device throughput, or the measured one when telemetry reports it.
    package var deviceFLOPs: Double
    package var allowRawUpload: Bool
    /// Whether plans for it are pushed (callback URL set and webhooks enabled).
    package var deliverable: Bool
    /// What it wants pushed, and the optimizer it trains with.
    package var pushMode: PushMode
    package var optimizer: Optimizer
    /// Its device memory limit: the registered `memory_bytes`, or the memory it reported
    /// available, whichever is smaller (nil: no limit).
    package var memoryLimitBytes: Int64?
    package var link: LinkEstimate
    /// Why the device was asked to be planned, if it was.
    package var requestedReason: PlanReason?
    /// When its device / server profile last changed (nil: none), to key parsed-profile caches.
    package var deviceProfileVersion: Date?
    package var serverProfileVersion: Date?
    /// The current plan, if any.
    package var current: CurrentPlan?
    /// The planning request as it was before the claim cleared it (put back if planning fails).
    package var claim: Claim
    /// Whether it was evaluated before this claim (a device never evaluated has no plan).
    package var evaluatedBefore: Bool
    /// Its previous evaluation (nil if none): the link and time, and the switching rule's state.
    package var previous: Evaluation?
    /// Its own switching rule (nil: the daemon's).
    package var switching: SwitchingPolicy?

    /// A previous evaluation, as the claim found it before recording this one.
    package struct Evaluation: Sendable {
        package var link: LinkEstimate
        package var at: Date
        /// The payback rule's accrued savings per segment of the table `switchingTable` (digest).
        package var accruedSavingSeconds: [Double]
        package var switchingTable: String?
    }

    /// A device's planning request, as claimed.
    package struct Claim: Sendable {
        package var reason: String
        package var requestedAt: Date?
        /// Its place in the planning queue.
        package var position: QueuePosition
        /// Consecutive planning failures before this claim, and the memory it lacked if it was infeasible.
        package var failures: Int
        package var infeasibleRequiredBytes: Int64?
    }

    /// What the planner needs to know about the plan in force.
    package struct CurrentPlan: Sendable {
        package var id: Int64
        package var modelVersion: Int
        package var splitFingerprint: String?
        package var deviceFLOPs: Double
        package var serverFLOPs: Double
        package var batchSize: Int
        /// Its split's cost apart from the link, valid while FLOPs and batch are unchanged.
        package var cost: SplitCost
        /// The optimizer and memory limit it was made under, and the digest of its table.
        package var optimizer: Optimizer?
        package var memoryLimitBytes: Int64?
        package var tableDigest: String?

        /// Its delay under new link rates, when the compute side has not changed (nil otherwise).
        package func delay(_ conditions: PlanningConditions) -> Double? {
            guard conditions.deviceFLOPsPerSecond == deviceFLOPs, conditions.serverFLOPsPerSecond == serverFLOPs,
                conditions.batchSize == batchSize
            else { return nil }
            return cost.delaySeconds(
                uplinkBitsPerSecond: conditions.uplinkBitsPerSecond, downlinkBitsPerSecond: conditions.downlinkBitsPerSecond,
                rttSeconds: conditions.rttSeconds)
        }
    }
}

/// A place in the planning queue, which is ordered by request time and then device id: the key of
/// a claimed request. The time is kept as PostgreSQL wrote it, so that claiming behind it compares
/// exactly in SQL, and as a `Date` to order positions here.
package struct QueuePosition: Sendable, Comparable {
    package var requestedAt: String
    package var time: Date
    package var deviceID: String

    package static func < (left: QueuePosition, right: QueuePosition) -> Bool { (left.time, left.deviceID) < (right.time, right.deviceID) }
    package static func == (left: QueuePosition, right: QueuePosition) -> Bool {
        left.requestedAt == right.requestedAt && left.deviceID == right.deviceID
    }
}

/// SQL for plans (`plans`, `splits`, the view `split_plans`), `planning_state`, and enqueueing
/// deliveries with new plans.
package enum PlanRepository {
    /// Claims up to `limit` devices that need planning (`FOR UPDATE SKIP LOCKED` on their planning
    /// state, so concurrent replicas never claim the same device) and records their evaluation in
    /// the same statement: the request is cleared and the link, FLOP/s, memory and model version
    /// planned for become the `evaluated_*` columns that ingest compares new telemetry against.
    /// Call inside a transaction; a device whose planning then fails goes back with
    /// `recordFailures`, one no split fits is marked with `recordInfeasible`.
    ///
    /// A device needs planning when something marked it (`requested_reason`): registration, a
    /// device or profile change, a new version of the model it follows, or ingest finding that its
    /// link moved beyond the thresholds since it was last evaluated. It must have a link estimate
    /// (`link_known`, migration 0007). An inactive device met here (deactivation drops requests,
    /// so only a request racing it) has its request dropped and is not returned.
    ///
    /// Candidates come in queue order. `after` starts the claim behind a position (where the
    /// worker's previous claim in this cycle ended): claimed requests leave entries in the queue's
    /// index until vacuum removes them, and a claim from the head steps over all of them, which
    /// made a cycle over a million devices quadratic. A request put back behind that position (a
    /// failure keeps its time) waits for the next cycle, which starts from the head.
    package static func claimCandidates(limit: Int, after: QueuePosition? = nil, connection: PostgresConnection) throws -> [PlanningCandidate] {
        // `due` locks the batch in `planning_state` alone, reading nothing but the queue's index and
        // the rows it locks: a row another replica updated since the statement's snapshot is
        // re-checked (EvalPlanQual) against this one table, where a locking join re-ran the whole
        // join for each such row (seen: one claim running for minutes behind a replica planning the
        // rows it scanned). The update reaches each locked row by its `ctid` and reads what planning
        // needs through the rows it joins, once per device: device, link, server and profiles. A
        // row updated by another transaction after the snapshot is not updated here (its ctid is
        // the newer version's, which the update's scan does not see): it stays requested and a
        // later batch claims it. The limit is written into the statement (a daemon uses one batch
        // size), so its plan is made for it.
        let result = try connection.query(
            """
            WITH due AS (
                SELECT s.ctid AS row_id, s.device_id, s.requested_reason, s.requested_at, s.failures, s.infeasible_required_bytes,
                       s.evaluated_at IS NOT NULL AS evaluated_before, s.evaluated_at AS previous_evaluated_at,
                       s.evaluated_uplink_bps AS previous_uplink_bps, s.evaluated_downlink_bps AS previous_downlink_bps,
                       s.evaluated_rtt_seconds AS previous_rtt_seconds, array_to_string(s.switching_accrued, ',') AS switching_accrued,
                       s.switching_table
                FROM planning_state s
                WHERE s.requested_reason IS NOT NULL AND s.link_known AND (s.retry_at IS NULL OR s.retry_at <= now())
                  AND (s.requested_at, s.device_id) > ($1::timestamptz, $2::text)
                ORDER BY s.requested_at, s.device_id
                LIMIT \(max(1, limit))
                FOR UPDATE OF s SKIP LOCKED
            )
            UPDATE planning_state s
            SET requested_reason = NULL, requested_at = NULL, evaluated_at = now(), failures = 0, last_failure = NULL,
                retry_at = NULL, infeasible_required_bytes = NULL,
                evaluated_model_version = coalesce(d.model_version, (SELECT max(m.version) FROM models m WHERE m.name = d.model_name)),
                evaluated_uplink_bps = e.uplink_bps, evaluated_downlink_bps = e.downlink_bps, evaluated_rtt_seconds = e.rtt_seconds,
                evaluated_compute_flops = coalesce(e.compute_flops, d.compute_flops), evaluated_memory_bytes = e.memory_bytes
            FROM due
            JOIN devices d ON d.id = due.device_id
            JOIN link_estimates e ON e.device_id = due.device_id
            JOIN edge_servers es ON es.id = d.edge_server_id
            LEFT JOIN device_profiles dp ON dp.device_id = d.id
            LEFT JOIN server_profiles sp ON sp.edge_server_id = d.edge_server_id AND sp.model_name = d.model_name
            WHERE s.ctid = due.row_id
            RETURNING due.device_id, due.requested_reason, due.requested_at, due.requested_at::text AS queue_time, due.failures,
                      due.infeasible_required_bytes, d.active,
                      due.evaluated_before, due.previous_evaluated_at, due.previous_uplink_bps, due.previous_downlink_bps,
                      due.previous_rtt_seconds, due.switching_accrued, due.switching_table, d.switching::text AS switching,
                      s.evaluated_model_version AS target_version, s.evaluated_compute_flops AS device_flops,
                      least(d.memory_bytes::float8, e.memory_bytes)::int8 AS memory_limit_bytes, e.memory_bytes AS measured_memory,
                      e.uplink_bps, e.downlink_bps, e.rtt_seconds, e.compute_flops AS measured_flops, e.samples, e.measured_at,
                      d.model_name, d.edge_server_id, es.compute_flops AS server_flops, d.batch_size, d.allow_raw_upload,
                      (d.callback_url IS NOT NULL AND d.webhook_enabled) AS deliverable, d.push_mode, d.optimizer,
                      dp.updated_at AS device_profile_at, sp.updated_at AS server_profile_at
            """, [after?.requestedAt ?? "-infinity", after?.deviceID ?? ""], binaryResults: true)
        let rows = try (0..<result.rowCount).filter { try result.require($0, "active", result.bool) }
        // A device that was never evaluated has no plan (plans are made only after the claim
        // that first evaluates it): the plans in force are looked up for the others only, so a
        // fleet of new devices costs no lookups. (Were one stored otherwise, `store` still
        // supersedes it: the device would only be planned as new.)
        let evaluatedBefore = try rows.filter { try result.require($0, "evaluated_before", result.bool) }
        let current = try currentPlans(
            deviceIDs: try evaluatedBefore.map { try result.require($0, "device_id", result.string) },
            connection: connection)
        // In queue order (the update returns rows in the order it joined them, which is not
        // promised): the rows are sorted by their keys, then decoded.
        let keys = try rows.map { row in
            (
                requestedAt: try result.require(row, "requested_at", result.date), deviceID: try result.require(row, "device_id", result.string),
                row: row
            )
        }
        return try keys.sorted { ($0.requestedAt, $0.deviceID) < ($1.requestedAt, $1.deviceID) }.map {
            try candidate(result, $0.row, current: current)
        }
    }

    /// The plans in force of these devices, with the fingerprint of their split, by device.
    private static func currentPlans(deviceIDs: [String], connection: PostgresConnection) throws -> [String: PlanningCandidate.CurrentPlan] {
        guard !deviceIDs.isEmpty else { return [:] }
        let result = try connection.query(
            """
            SELECT p.device_id, p.id, ps.model_version, ps.fingerprint, p.device_flops, p.server_flops, p.batch_size, p.transfer_bytes,
                   p.device_compute_seconds + p.server_compute_seconds AS compute_seconds, p.optimizer, p.memory_limit_bytes,
                   pt.digest AS table_digest
            FROM plans p JOIN splits ps ON ps.id = p.split_id LEFT JOIN plan_tables pt ON pt.id = p.table_id
            WHERE p.device_id = ANY($1::text[]) AND p.superseded_at IS NULL
            """, [PostgresValue.textArray(deviceIDs)], binaryResults: true)
        var plans: [String: PlanningCandidate.CurrentPlan] = [:]
        for row in 0..<result.rowCount {
            plans[try result.require(row, "device_id", result.string)] = PlanningCandidate.CurrentPlan(
                id: Int64(try result.require(row, "id", result.int)), modelVersion: try result.require(row, "model_version", result.int),
                splitFingerprint: result.string(row, "fingerprint"), deviceFLOPs: try result.require(row, "device_flops", result.double),
                serverFLOPs: try result.require(row, "server_flops", result.double), batchSize: try result.require(row, "batch_size", result.int),
                cost: SplitCost(
                    computeSeconds: try result.require(row, "compute_seconds", result.double),
                    transferBytes: try result.require(row, "transfer_bytes", result.double)),
                optimizer: result.string(row, "optimizer").flatMap(Optimizer.init(rawValue:)),
                memoryLimitBytes: result.int(row, "memory_limit_bytes").map(Int64.init), tableDigest: result.string(row, "table_digest"))
        }
        return plans
    }

    /// One claimed row: what the claim recorded (model version, link, FLOP/s, memory limit) is
    /// what is planned for.
    private static func candidate(
        _ result: PostgresResult, _ row: Int,
        current: [String: PlanningCandidate.CurrentPlan]
    ) throws -> PlanningCandidate {
        let deviceID = try result.require(row, "device_id", result.string)
        let claim = PlanningCandidate.Claim(
            reason: try result.require(row, "requested_reason", result.string), requestedAt: result.date(row, "requested_at"),
            position: QueuePosition(
                requestedAt: try result.require(row, "queue_time", result.string),
                time: try result.require(row, "requested_at", result.date), deviceID: deviceID),
            failures: result.int(row, "failures") ?? 0, infeasibleRequiredBytes: result.int(row, "infeasible_required_bytes").map(Int64.init))
        let link = LinkEstimate(
            deviceID: deviceID, uplinkBitsPerSecond: try result.require(row, "uplink_bps", result.double),
            downlinkBitsPerSecond: try result.require(row, "downlink_bps", result.double),
            rttSeconds: try result.require(row, "rtt_seconds", result.double), computeFLOPs: result.double(row, "measured_flops"),
            memoryBytes: result.double(row, "measured_memory"), samples: try result.require(row, "samples", result.int),
            measuredAt: try result.require(row, "measured_at", result.date))
        var previous: PlanningCandidate.Evaluation?
        if let at = result.date(row, "previous_evaluated_at"), let uplink = result.double(row, "previous_uplink_bps"),
            let downlink = result.double(row, "previous_downlink_bps"), let rtt = result.double(row, "previous_rtt_seconds")
        {
            previous = PlanningCandidate.Evaluation(
                link: LinkEstimate(
                    deviceID: deviceID, uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: downlink, rttSeconds: rtt, computeFLOPs: nil,
                    samples: 0, measuredAt: at),
                at: at,
                accruedSavingSeconds: (result.string(row, "switching_accrued") ?? "").split(separator: ",").compactMap { Double($0) },
                switchingTable: result.string(row, "switching_table"))
        }
        var candidate = PlanningCandidate(
            deviceID: deviceID, modelName: try result.require(row, "model_name", result.string),
            modelVersion: try result.require(row, "target_version", result.int),
            edgeServerID: try result.require(row, "edge_server_id", result.string),
            serverFLOPs: try result.require(row, "server_flops", result.double),
            batchSize: try result.require(row, "batch_size", result.int), deviceFLOPs: try result.require(row, "device_flops", result.double),
            allowRawUpload: try result.require(row, "allow_raw_upload", result.bool),
            deliverable: try result.require(row, "deliverable", result.bool),
            pushMode: PushMode(rawValue: try result.require(row, "push_mode", result.string)) ?? .table,
            optimizer: Optimizer(rawValue: try result.require(row, "optimizer", result.string)) ?? .adam,
            memoryLimitBytes: result.int(row, "memory_limit_bytes").map(Int64.init), link: link, requestedReason: PlanReason(rawValue: claim.reason),
            deviceProfileVersion: result.date(row, "device_profile_at"), serverProfileVersion: result.date(row, "server_profile_at"),
            current: current[deviceID], claim: claim, evaluatedBefore: try result.require(row, "evaluated_before", result.bool))
        candidate.previous = previous
        candidate.switching = try result.string(row, "switching").map { text in
            try JSONDecoder().decode(SwitchingPolicy.self, from: Data(text.utf8))
        }
        return candidate
    }

    /// Records what the switching rule keeps between evaluations (`DevicePlanningState`): the
    /// accrued savings per segment of the table they are for, and when to evaluate again (a
    /// refused better split). Devices whose state is empty and was empty are not written.
    package static func recordSwitchingStates(_ states: [SwitchingStateRecord], connection: PostgresConnection) throws {
        guard !states.isEmpty else { return }
        try connection.query(
            """
            UPDATE planning_state s
            SET switching_accrued = CASE WHEN v.accrued = '' THEN NULL ELSE string_to_array(v.accrued, ',')::float8[] END,
                switching_table = v.table_digest, revisit_at = v.revisit_at
            FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS v(device_id, accrued, table_digest, revisit_at)
            WHERE s.device_id = v.device_id
            """,
            [
                PostgresValue.textArray(states.map(\.deviceID)),
                PostgresValue.textArray(states.map { $0.accruedSavingSeconds.map { String($0) }.joined(separator: ",") }),
                PostgresValue.textArray(states.map { $0.tableDigest ?? "" }),
                PostgresValue.optionalTimestampArray(states.map(\.revisitAt)),
            ])
    }

    /// Records refused moves: a better split the switching rule did not take, and why.
    package static func recordRefusals(_ refusals: [RefusedMove], connection: PostgresConnection) throws {
        guard !refusals.isEmpty else { return }
        try connection.query(
            """
            INSERT INTO refused_moves (device_id, recorded_at, reason, rule, current_seconds, candidate_seconds, saving_seconds_per_iteration,
                                       migration_seconds, accrued_saving_seconds, required_saving_seconds, revisit_at, cut_layers)
            SELECT v.device_id, v.recorded_at, v.reason, v.rule, v.current_seconds, v.candidate_seconds, v.current_seconds - v.candidate_seconds,
                   v.migration_seconds, v.accrued, v.required, v.revisit_at,
                   ARRAY(SELECT jsonb_array_elements_text(v.cut_layers::jsonb))
            FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::float8[],
                        $9::timestamptz[], $10::text[], $11::timestamptz[])
                 AS v(device_id, reason, rule, current_seconds, candidate_seconds, migration_seconds, accrued, required, revisit_at,
                      cut_layers, recorded_at)
            """,
            [
                PostgresValue.textArray(refusals.map(\.deviceID)), PostgresValue.textArray(refusals.map(\.reason)),
                PostgresValue.textArray(refusals.map(\.rule)), PostgresValue.doubleArray(refusals.map(\.currentSeconds)),
                PostgresValue.doubleArray(refusals.map(\.candidateSeconds)), PostgresValue.doubleArray(refusals.map(\.migrationSeconds)),
                PostgresValue.doubleArray(refusals.map(\.accruedSavingSeconds)),
                PostgresValue.doubleArray(refusals.map(\.requiredSavingSeconds)), PostgresValue.optionalTimestampArray(refusals.map(\.revisitAt)),
                PostgresValue.textArray(
                    try refusals.map { String(decoding: try JSONSerialization.data(withJSONObject: $0.candidateCutLayers), as: UTF8.self) }),
                PostgresValue.optionalTimestampArray(refusals.map(\.recordedAt)),
            ])
    }

    /// Deletes refused moves recorded before `cutoff`, at most `limit` (oldest first); returns how
    /// many. Maintenance runs it with the telemetry retention: refusals explain recent decisions.
    @discardableResult
    package static func trimRefusals(before cutoff: Date, limit: Int, connection: PostgresConnection) throws -> Int {
        try connection.query(
            """
            DELETE FROM refused_moves WHERE id IN (SELECT id FROM refused_moves WHERE recorded_at < $1 ORDER BY recorded_at LIMIT $2)
            """, [cutoff, limit]
        ).affectedRows
    }

    /// Records that no split fits these devices' memory: the least memory any valid split needs
    /// (read by the API's 409). Their plans in force end with `endPlans`.
    package static func recordInfeasible(_ devices: [(deviceID: String, requiredBytes: Int64)], connection: PostgresConnection) throws {
        guard !devices.isEmpty else { return }
        try connection.query(
            """
            UPDATE planning_state s SET infeasible_required_bytes = v.required
            FROM unnest($1::text[], $2::int8[]) AS v(device_id, required)
            WHERE s.device_id = v.device_id
            """, [PostgresValue.textArray(devices.map(\.deviceID)), PostgresValue.intArray(devices.map(\.requiredBytes))])
    }

    /// Records that planning failed for these claimed devices: their request is put back as it
    /// was, and they are claimed again only after a backoff that doubles with each consecutive
    /// failure (10 s, 20 s, ... up to an hour), so one device that cannot be planned never holds up
    /// the others nor spins.
    package static func recordFailures(_ failures: [(candidate: PlanningCandidate, reason: String)], connection: PostgresConnection) throws {
        guard !failures.isEmpty else { return }
        let claims = failures.map(\.candidate.claim)
        try connection.query(
            """
            UPDATE planning_state s SET requested_reason = f.requested_reason, requested_at = coalesce(f.requested_at, now()),
                   failures = f.failures + 1, last_failure = f.error, infeasible_required_bytes = f.infeasible,
                   retry_at = now() + least(3600, 10 * power(2, least(f.failures, 12))) * interval '1 second'
            FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::int8[], $5::text[], $6::int8[])
                 AS f(device_id, requested_reason, requested_at, failures, error, infeasible)
            WHERE s.device_id = f.device_id
            """,
            [
                PostgresValue.textArray(failures.map(\.candidate.deviceID)), PostgresValue.textArray(claims.map(\.reason)),
                PostgresValue.optionalTimestampArray(claims.map(\.requestedAt)), PostgresValue.intArray(claims.map { Int64($0.failures) }),
                PostgresValue.textArray(failures.map { String($0.reason.prefix(1000)) }),
                PostgresValue.optionalIntArray(claims.map(\.infeasibleRequiredBytes)),
            ])
    }

    /// Stores new plans in bulk: supersedes each device's current plan (unless the plan says it is
    /// the device's first) and drops its undelivered older deliveries, finds or adds their splits,
    /// inserts the plans (COPY) and enqueues a delivery per deliverable plan, all on `connection`
    /// (call inside the claiming transaction). Returns the new plan ids in order.
    @discardableResult
    package static func store(_ plans: [NewPlan], connection: PostgresConnection) throws -> [Int64] {
        guard !plans.isEmpty else { return [] }
        let devices = plans.map(\.deviceID)
        guard Set(devices).count == devices.count else { throw StoreError(.invalid, "one plan per device per batch") }
        let splitIDs = try splitIDs(for: plans, connection: connection)
        let tableIDs = try tableIDs(for: plans, connection: connection)
        // One round trip: supersede the current plans, drop their undelivered deliveries (only a
        // plan in force can have one), take ids. A device whose delivery was dropped before it
        // arrived has not received what that delivery carried (a table, say): its new plan is
        // delivered whatever `deliver` says, so a push is never lost to a plan that changed nothing
        // since the undelivered one. An unfinished infeasibility notice (DeliveryRepository.
        // enqueueNotices) is superseded too: the new plan is what the device needs now.
        let idsResult = try connection.query(
            """
            WITH superseded AS (
                UPDATE plans SET superseded_at = now() WHERE device_id = ANY($1::text[]) AND superseded_at IS NULL RETURNING id
            ), dropped AS (
                \(supersedeDeliveries(ofPlansIn: "superseded")) RETURNING device_id
            ), notices AS (
                UPDATE webhook_deliveries SET status = 'superseded',
                       lease_owner = CASE WHEN status = 'delivering' THEN lease_owner END,
                       lease_expires_at = CASE WHEN status = 'delivering' THEN lease_expires_at END
                WHERE notice IS NOT NULL AND device_id = ANY($1::text[]) AND status IN ('pending', 'failed', 'delivering')
            )
            SELECT nextval('plans_id_seq') AS id, NULL::text AS owed FROM generate_series(1, $2)
            UNION ALL
            SELECT DISTINCT NULL::bigint, device_id FROM dropped
            """, [PostgresValue.textArray(plans.filter { !$0.firstPlan }.map(\.deviceID)), plans.count])
        var ids: [Int64] = []
        var owed = Set<String>()
        for row in 0..<idsResult.rowCount {
            if let device = idsResult.string(row, "owed") {
                owed.insert(device)
            } else {
                ids.append(Int64(try idsResult.require(row, "id", idsResult.int)))
            }
        }
        guard ids.count == plans.count else { throw StoreError(.invalid, "expected \(plans.count) plan ids, got \(ids.count)") }
        let plans = plans.map { plan in
            var plan = plan
            plan.deliver = plan.deliver || (plan.deliverable && owed.contains(plan.deviceID))
            return plan
        }
        try connection.copyInBinary(
            """
            COPY plans (id, device_id, split_id, algorithm, uplink_bps, downlink_bps, rtt_seconds, device_flops, server_flops,
                        batch_size, predicted_delay_seconds, transfer_bytes, device_compute_seconds, server_compute_seconds,
                        uplink_seconds, downlink_seconds, solve_microseconds, reason, table_id, optimizer, memory_limit_bytes,
                        device_memory_bytes, memory_bound, pushed)
            FROM STDIN WITH (FORMAT binary)
            """
        ) { writer in
            for (index, plan) in plans.enumerated() {
                writer.beginRow()
                writer.int64(ids[index])
                writer.text(plan.deviceID)
                writer.int64(splitIDs[index])
                writer.text(plan.algorithm)
                writer.double(plan.conditions.uplinkBitsPerSecond)
                writer.double(plan.conditions.downlinkBitsPerSecond)
                writer.double(plan.conditions.rttSeconds)
                writer.double(plan.conditions.deviceFLOPsPerSecond)
                writer.double(plan.conditions.serverFLOPsPerSecond)
                writer.int32(Int32(plan.conditions.batchSize))
                writer.double(plan.predictedDelaySeconds)
                writer.double(plan.transferBytes)
                writer.double(plan.breakdown.deviceComputeSeconds)
                writer.double(plan.breakdown.serverComputeSeconds)
                writer.double(plan.breakdown.uplinkSeconds)
                writer.double(plan.breakdown.downlinkSeconds)
                writer.double(plan.solveMicroseconds)
                writer.text(plan.reason.rawValue)
                writer.int64(tableIDs[index])
                writer.text(plan.conditions.optimizer.rawValue)
                writer.int64(plan.conditions.deviceMemoryLimitBytes)
                writer.int64(plan.deviceMemoryBytes)
                writer.bool(plan.memoryBound)
                writer.bool(plan.deliver)  // pushed: its delivery is enqueued below
                writer.endRow()
                try writer.flushIfFull()
            }
        }
        let deliveries = zip(ids, plans).filter { $0.1.deliver }
        if !deliveries.isEmpty {
            let messageIDs = DeliveryRepository.messageIDs(planIDs: deliveries.map(\.0))
            try connection.copyIn(
                "COPY webhook_deliveries (id, plan_id, device_id) FROM STDIN",
                rows: zip(messageIDs, deliveries).lazy.map { messageID, delivery in
                    [
                        messageID, String(delivery.0),
                        delivery.1.deviceID,
                    ]
                })
        }
        return ids
    }

    /// The `splits` row of each plan, in order. A fleet shares few splits, so the batch is reduced
    /// to its distinct splits (by fingerprint), and one statement adds the new ones and finds the
    /// rest. Layer lists travel as one flat array sliced per split on the server.
    static func splitIDs(for plans: [NewPlan], connection: PostgresConnection) throws -> [Int64] {
        var slotOfFingerprint: [String: Int] = [:]
        var distinct: [NewPlan] = []
        let slots = plans.map { plan in
            if let slot = slotOfFingerprint[plan.splitFingerprint] { return slot }
            slotOfFingerprint[plan.splitFingerprint] = distinct.count
            distinct.append(plan)
            return distinct.count - 1
        }
        // Each split's layers are the 1-based slice first...last of the flat name arrays.
        var deviceNames: [String] = [], deviceFirst: [Int64] = [], deviceLast: [Int64] = []
        var cutNames: [String] = [], cutFirst: [Int64] = [], cutLast: [Int64] = [], cutModules: [String] = []
        for plan in distinct {
            deviceFirst.append(Int64(deviceNames.count + 1))
            deviceNames += plan.deviceLayers
            deviceLast.append(Int64(deviceNames.count))
            cutFirst.append(Int64(cutNames.count + 1))
            cutNames += plan.cutLayers
            cutLast.append(Int64(cutNames.count))
            // Aligned with the cut names ("" where a layer names no module).
            cutModules += plan.cutLayers.indices.map { $0 < plan.cutModules.count ? plan.cutModules[$0] : "" }
        }
        let parameters: [PostgresValue] = [
            .textArray(distinct.map(\.modelName)), .intArray(distinct.map { Int64($0.modelVersion) }),
            .intArray(deviceFirst), .intArray(deviceLast), .textArray(deviceNames), .intArray(cutFirst), .intArray(cutLast), .textArray(cutNames),
            .textArray(distinct.map(\.splitFingerprint)), .textArray(cutModules),
        ]
        var resolved = [Int64?](repeating: nil, count: distinct.count)
        // A split another open transaction is adding makes this insert wait for that commit;
        // inserting in key order keeps two writers from waiting on each other. Once it commits,
        // this statement's snapshot misses it (and the insert skips it): the next round sees it.
        for _ in 0..<3 where resolved.contains(nil) {
            let result = try connection.query(
                """
                WITH input AS (
                    SELECT v.slot, v.model_name, v.model_version::integer AS model_version,
                           ($5::text[])[v.device_first:v.device_last] AS device_layers, ($8::text[])[v.cut_first:v.cut_last] AS cut_layers,
                           ($10::text[])[v.cut_first:v.cut_last] AS cut_modules, v.fingerprint
                    FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $6::int8[], $7::int8[], $9::text[])
                         WITH ORDINALITY AS v(model_name, model_version, device_first, device_last, cut_first, cut_last, fingerprint, slot)
                ), keyed AS (
                    SELECT input.*, splitd_split_digest(device_layers) AS digest FROM input
                ), inserted AS (
                    INSERT INTO splits (model_name, model_version, digest, device_layers, cut_layers, fingerprint, cut_modules)
                    SELECT model_name, model_version, digest, device_layers, cut_layers, fingerprint, cut_modules FROM keyed
                    ORDER BY model_name, model_version, digest
                    ON CONFLICT (model_name, model_version, digest) DO NOTHING
                    RETURNING id, model_name, model_version, digest
                ), fingerprinted AS (
                    -- Splits stored before 0006 and not in force then have no fingerprint yet.
                    UPDATE splits s SET fingerprint = k.fingerprint FROM keyed k
                    WHERE s.model_name = k.model_name AND s.model_version = k.model_version AND s.digest = k.digest AND s.fingerprint IS NULL
                )
                SELECT k.slot, coalesce(n.id, s.id) AS id
                FROM keyed k
                LEFT JOIN inserted n ON n.model_name = k.model_name AND n.model_version = k.model_version AND n.digest = k.digest
                LEFT JOIN splits s ON s.model_name = k.model_name AND s.model_version = k.model_version AND s.digest = k.digest
                """, parameters)
            for row in 0..<result.rowCount {
                let slot = try result.require(row, "slot", result.int) - 1
                resolved[slot] = result.int(row, "id").map(Int64.init)
            }
        }
        let ids = resolved.compactMap { $0 }
        guard ids.count == distinct.count else { throw StoreError(.conflict, "splits being added concurrently could not be resolved; retry") }
        return slots.map { ids[$0] }
    }

    /// The `plan_tables` row of each plan's table, in order (nil for a plan without one). Like
    /// splits, a fleet shares few tables: the batch is reduced to its distinct documents (by
    /// digest) and one statement adds the new ones and finds the rest.
    static func tableIDs(for plans: [NewPlan], connection: PostgresConnection) throws -> [Int64?] {
        var slotOfDigest: [String: Int] = [:]
        var distinct: [NewPlan] = []
        let slots = plans.map { plan -> Int? in
            guard let table = plan.table else { return nil }
            if let slot = slotOfDigest[table.digest] { return slot }
            slotOfDigest[table.digest] = distinct.count
            distinct.append(plan)
            return distinct.count - 1
        }
        guard !distinct.isEmpty else { return plans.map { _ in nil } }
        let result = try connection.query(
            """
            WITH input AS (
                SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[]) WITH ORDINALITY AS v(model_name, model_version, digest,
                                                                                                          document, slot)
            ), inserted AS (
                INSERT INTO plan_tables (model_name, model_version, digest, document)
                SELECT model_name, model_version::integer, digest, document::jsonb FROM input ORDER BY model_name, model_version, digest
                ON CONFLICT (model_name, model_version, digest) DO NOTHING
                RETURNING id, model_name, model_version, digest
            )
            SELECT i.slot, coalesce(n.id, t.id) AS id
            FROM input i
            LEFT JOIN inserted n ON n.model_name = i.model_name AND n.model_version = i.model_version AND n.digest = i.digest
            LEFT JOIN plan_tables t ON t.model_name = i.model_name AND t.model_version = i.model_version AND t.digest = i.digest
            """,
            [
                PostgresValue.textArray(distinct.map(\.modelName)), PostgresValue.intArray(distinct.map { Int64($0.modelVersion) }),
                PostgresValue.textArray(distinct.map { $0.table!.digest }), PostgresValue.textArray(distinct.map { $0.table!.document }),
            ])
        var resolved = [Int64?](repeating: nil, count: distinct.count)
        for row in 0..<result.rowCount {
            resolved[try result.require(row, "slot", result.int) - 1] = result.int(row, "id").map(Int64.init)
        }
        guard !resolved.contains(nil) else {
            throw StoreError(.conflict, "plan tables being added concurrently could not be resolved; retry")
        }
        return slots.map { $0.flatMap { resolved[$0] } }
    }

    /// The device layers of the splits of these plans, by plan id (one query).
    package static func deviceLayers(planIDs: [Int64], connection: PostgresConnection) throws -> [Int64: [String]] {
        guard !planIDs.isEmpty else { return [:] }
        let result = try connection.query(
            """
            SELECT p.id, s.device_layers FROM plans p JOIN splits s ON s.id = p.split_id WHERE p.id = ANY($1::int8[])
            """, [PostgresValue.intArray(planIDs)])
        var layers: [Int64: [String]] = [:]
        for row in 0..<result.rowCount {
            layers[Int64(try result.require(row, "id", result.int))] = try result.require(row, "device_layers", result.textArray)
        }
        return layers
    }

    /// Ends the plans in force of these devices without a successor (a device no split fits can
    /// no longer run its plan), and drops their undelivered deliveries.
    package static func endPlans(deviceIDs: [String], connection: PostgresConnection) throws {
        guard !deviceIDs.isEmpty else { return }
        try connection.query(
            """
            WITH ended AS (
                UPDATE plans SET superseded_at = now() WHERE device_id = ANY($1::text[]) AND superseded_at IS NULL RETURNING id
            )
            \(supersedeDeliveries(ofPlansIn: "ended"))
            """, [PostgresValue.textArray(deviceIDs)])
    }

    /// The statement that drops the unfinished deliveries of the plans whose ids the CTE `plans`
    /// returns. In-flight attempts keep their lease (so the device's next delivery waits for them)
    /// but are never retried; see DeliveryRepository.markFailed. Only a plan in force can have an
    /// unfinished delivery: a superseded delivery never becomes pending again.
    static func supersedeDeliveries(ofPlansIn plans: String) -> String {
        """
        UPDATE webhook_deliveries SET status = 'superseded',
               lease_owner = CASE WHEN status = 'delivering' THEN lease_owner END,
               lease_expires_at = CASE WHEN status = 'delivering' THEN lease_expires_at END
        WHERE plan_id IN (SELECT id FROM \(plans)) AND status IN ('pending', 'failed', 'delivering')
        """
    }

    /// When the device's last evaluation found no split fitting its memory: the least memory any
    /// valid split needs, and the limit it was evaluated under.
    package static func infeasibility(deviceID: String, connection: PostgresConnection) throws -> (requiredBytes: Int64, limitBytes: Int64?)? {
        let result = try connection.query(
            """
            SELECT s.infeasible_required_bytes, least(d.memory_bytes::float8, s.evaluated_memory_bytes)::int8 AS limit_bytes
            FROM planning_state s JOIN devices d ON d.id = s.device_id
            WHERE s.device_id = $1 AND s.infeasible_required_bytes IS NOT NULL
            """, [deviceID])
        guard result.rowCount > 0, let required = result.int(0, "infeasible_required_bytes") else { return nil }
        return (Int64(required), result.int(0, "limit_bytes").map(Int64.init))
    }

    /// The plan in force for a device.
    package static func current(deviceID: String, connection: PostgresConnection) throws -> StoredPlan? {
        let result = try connection.query(
            "SELECT \(columns), \(tableDocument()) FROM split_plans WHERE device_id = $1 AND superseded_at IS NULL",
            [deviceID])
        return result.rowCount > 0 ? try decode(result, 0) : nil
    }

    /// A device's plans, newest first, optionally only those computed before `before`.
    package static func history(deviceID: String, limit: Int, before: Date? = nil, connection: PostgresConnection) throws -> [StoredPlan] {
        let result = try connection.query(
            """
            SELECT \(columns), NULL::text AS table_document FROM split_plans WHERE device_id = $1 AND ($2::timestamptz IS NULL OR computed_at < $2)
            ORDER BY computed_at DESC, id DESC LIMIT $3
            """, [deviceID, before.map { PostgresValue.timestamp($0) } ?? .null, limit])
        return try (0..<result.rowCount).map { try decode(result, $0) }
    }

    package static func plan(id: Int64, connection: PostgresConnection) throws -> StoredPlan? {
        let result = try connection.query("SELECT \(columns), \(tableDocument()) FROM split_plans WHERE id = $1", [id])
        return result.rowCount > 0 ? try decode(result, 0) : nil
    }

    static let columns = """
        id, device_id, model_name, model_version, computed_at, algorithm, uplink_bps, downlink_bps, rtt_seconds, device_flops,
        server_flops, batch_size, device_layers, cut_layers, predicted_delay_seconds, transfer_bytes, device_compute_seconds,
        server_compute_seconds, uplink_seconds, downlink_seconds, solve_microseconds, superseded_at, reason, optimizer,
        memory_limit_bytes, device_memory_bytes, memory_bound, cut_modules
        """

    /// The plan's table document, for a select over `split_plans` aliased `alias` (or unaliased).
    static func tableDocument(_ alias: String? = nil) -> String {
        "(SELECT document::text FROM plan_tables t WHERE t.id = \(alias.map { "\($0)." } ?? "")table_id) AS table_document"
    }

    /// `columns` with each column qualified by `table` (for joins).
    static func qualifiedColumns(table: String) -> String {
        columns.split(separator: ",").map { "\(table)." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", ")
    }

    static func decode(_ result: PostgresResult, _ row: Int) throws -> StoredPlan {
        StoredPlan(
            id: Int64(try result.require(row, "id", result.int)), deviceID: try result.require(row, "device_id", result.string),
            modelName: try result.require(row, "model_name", result.string), modelVersion: try result.require(row, "model_version", result.int),
            computedAt: try result.require(row, "computed_at", result.date), algorithm: try result.require(row, "algorithm", result.string),
            uplinkBitsPerSecond: try result.require(row, "uplink_bps", result.double),
            downlinkBitsPerSecond: try result.require(row, "downlink_bps", result.double),
            rttSeconds: try result.require(row, "rtt_seconds", result.double), deviceFLOPs: try result.require(row, "device_flops", result.double),
            serverFLOPs: try result.require(row, "server_flops", result.double), batchSize: try result.require(row, "batch_size", result.int),
            deviceLayers: try result.require(row, "device_layers", result.textArray),
            cutLayers: try result.require(row, "cut_layers", result.textArray), cutModules: result.textArray(row, "cut_modules"),
            predictedDelaySeconds: try result.require(row, "predicted_delay_seconds", result.double),
            transferBytes: try result.require(row, "transfer_bytes", result.double),
            breakdown: DelayBreakdown(
                deviceComputeSeconds: try result.require(row, "device_compute_seconds", result.double),
                serverComputeSeconds: try result.require(row, "server_compute_seconds", result.double),
                uplinkSeconds: try result.require(row, "uplink_seconds", result.double),
                downlinkSeconds: try result.require(row, "downlink_seconds", result.double),
                rttSeconds: try result.require(row, "rtt_seconds", result.double)),
            solveMicroseconds: try result.require(row, "solve_microseconds", result.double),
            supersededAt: result.date(row, "superseded_at"), reason: try result.require(row, "reason", result.string),
            optimizer: result.string(row, "optimizer").flatMap(Optimizer.init(rawValue:)),
            memoryLimitBytes: result.int(row, "memory_limit_bytes").map(Int64.init),
            deviceMemoryBytes: result.int(row, "device_memory_bytes").map(Int64.init),
            memoryBound: result.bool(row, "memory_bound") ?? false, tableJSON: result.string(row, "table_document"))
    }
}
