import Foundation
import SplitCore
import SplitSupport

/// The planning queue: claiming the devices to plan, with what planning needs, and recording
/// what the switching rule keeps between claims.
extension PlanRepository {
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
        // Inactive devices are not returned (the claim dropped their request).
        var candidates = try result.rows.compactMap { try PlanningCandidate(claimed: $0) }
        // A device that was never evaluated has no plan (plans are made only after the claim
        // that first evaluates it): the plans in force are looked up for the others only, so a
        // fleet of new devices costs no lookups. (Were one stored otherwise, `store` still
        // supersedes it: the device would only be planned as new.)
        let current = try currentPlans(deviceIDs: candidates.filter(\.evaluatedBefore).map(\.deviceID), connection: connection)
        for index in candidates.indices { candidates[index].current = current[candidates[index].deviceID] }
        // In queue order (the update returns rows in the order it joined them, which is not
        // promised).
        return candidates.sorted { ($0.claim.position.time, $0.deviceID) < ($1.claim.position.time, $1.deviceID) }
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
        for row in result.rows {
            plans[try row.decode("device_id")] = PlanningCandidate.CurrentPlan(
                id: try row.decode("id"), modelVersion: try row.decode("model_version"), splitFingerprint: row.decodeIfPresent("fingerprint"),
                deviceFLOPs: try row.decode("device_flops"), serverFLOPs: try row.decode("server_flops"), batchSize: try row.decode("batch_size"),
                cost: SplitCost(computeSeconds: try row.decode("compute_seconds"), transferBytes: try row.decode("transfer_bytes")),
                optimizer: row.decodeIfPresent("optimizer").flatMap(Optimizer.init(rawValue:)),
                memoryLimitBytes: row.decodeIfPresent("memory_limit_bytes"), tableDigest: row.decodeIfPresent("table_digest"))
        }
        return plans
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
}

extension PlanningCandidate {
    /// A row of the claim (`PlanRepository.claimCandidates`), or nil for an inactive device: what
    /// the claim recorded (model version, link, FLOP/s, memory limit) is what is planned for. The
    /// plan in force is set apart (`current`).
    fileprivate init?(claimed row: PostgresRow) throws {
        guard try row.decode("active", as: Bool.self) else { return nil }
        let deviceID: String = try row.decode("device_id")
        let requestedAt: Date = try row.decode("requested_at")
        let claim = Claim(
            reason: try row.decode("requested_reason"), requestedAt: requestedAt,
            position: QueuePosition(requestedAt: try row.decode("queue_time"), time: requestedAt, deviceID: deviceID),
            failures: row.decodeIfPresent("failures") ?? 0, infeasibleRequiredBytes: row.decodeIfPresent("infeasible_required_bytes"))
        let link = LinkEstimate(
            deviceID: deviceID, uplinkBitsPerSecond: try row.decode("uplink_bps"), downlinkBitsPerSecond: try row.decode("downlink_bps"),
            rttSeconds: try row.decode("rtt_seconds"), computeFLOPs: row.decodeIfPresent("measured_flops"),
            memoryBytes: row.decodeIfPresent("measured_memory"), samples: try row.decode("samples"), measuredAt: try row.decode("measured_at"))
        self.init(
            deviceID: deviceID, modelName: try row.decode("model_name"), modelVersion: try row.decode("target_version"),
            edgeServerID: try row.decode("edge_server_id"), serverFLOPs: try row.decode("server_flops"), batchSize: try row.decode("batch_size"),
            deviceFLOPs: try row.decode("device_flops"), allowRawUpload: try row.decode("allow_raw_upload"),
            deliverable: try row.decode("deliverable"),
            pushMode: PushMode(rawValue: try row.decode("push_mode")) ?? .table, optimizer: Optimizer(rawValue: try row.decode("optimizer")) ?? .adam,
            memoryLimitBytes: row.decodeIfPresent("memory_limit_bytes"), link: link, requestedReason: PlanReason(rawValue: claim.reason),
            deviceProfileVersion: row.decodeIfPresent("device_profile_at"), serverProfileVersion: row.decodeIfPresent("server_profile_at"),
            current: nil, claim: claim, evaluatedBefore: try row.decode("evaluated_before"))
        if let at = row.decodeIfPresent("previous_evaluated_at", as: Date.self),
            let uplink = row.decodeIfPresent("previous_uplink_bps", as: Double.self),
            let downlink = row.decodeIfPresent("previous_downlink_bps", as: Double.self),
            let rtt = row.decodeIfPresent("previous_rtt_seconds", as: Double.self)
        {
            previous = Evaluation(
                link: LinkEstimate(
                    deviceID: deviceID, uplinkBitsPerSecond: uplink, downlinkBitsPerSecond: downlink, rttSeconds: rtt, computeFLOPs: nil,
                    samples: 0, measuredAt: at),
                at: at,
                accruedSavingSeconds: (row.decodeIfPresent("switching_accrued") ?? "").split(separator: ",").compactMap { Double($0) },
                switchingTable: row.decodeIfPresent("switching_table"))
        }
        switching = try row.decodeIfPresent("switching", as: String.self).map { text in
            try JSONDecoder().decode(SwitchingPolicy.self, from: Data(text.utf8))
        }
    }
}
