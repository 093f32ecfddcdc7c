import Crypto
import Foundation
import SplitSupport
import SplitCore

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
                  conditions.batchSize == batchSize else { return nil }
            return cost.delaySeconds(uplinkBitsPerSecond: conditions.uplinkBitsPerSecond, downlinkBitsPerSecond: conditions.downlinkBitsPerSecond,
                                     rttSeconds: conditions.rttSeconds)
        }
    }
}

/// What one evaluation of a candidate decided (stored whether or not a new plan was made).
package struct PlanEvaluation: Sendable {
    package var deviceID: String
    package var modelVersion: Int
    package var link: LinkEstimate
    package var deviceFLOPs: Double
    /// Fingerprint of the split in force after this evaluation.
    package var splitFingerprint: String?
    /// When no split fits the device's memory: the least memory any valid split needs.
    package var infeasibleRequiredBytes: Int64?

    package init(deviceID: String, modelVersion: Int, link: LinkEstimate, deviceFLOPs: Double, splitFingerprint: String?,
                infeasibleRequiredBytes: Int64? = nil) {
        self.deviceID = deviceID
        self.modelVersion = modelVersion
        self.link = link
        self.deviceFLOPs = deviceFLOPs
        self.splitFingerprint = splitFingerprint
        self.infeasibleRequiredBytes = infeasibleRequiredBytes
    }
}

/// SQL for plans (`plans`, `splits`, the view `split_plans`), `planning_state`, and enqueueing
/// deliveries with new plans.
package enum PlanRepository {
    /// Claims up to `limit` devices that need planning (`FOR UPDATE SKIP LOCKED` on their planning
    /// state, so concurrent replicas never claim the same device). Call inside a transaction and
    /// record the evaluations before committing.
    ///
    /// A device needs planning when something marked it (`requested_reason`): registration, a
    /// device or profile change, a new version of the model it follows, or ingest finding that its
    /// link moved beyond the thresholds since it was last evaluated. It must have a link estimate.
    package static func claimCandidates(limit: Int, connection: PostgresConnection) throws -> [PlanningCandidate] {
        let result = try connection.query("""
            SELECT d.id, d.model_name, coalesce(d.model_version, latest.version) AS target_version, d.edge_server_id,
                   es.compute_flops AS server_flops, d.batch_size, coalesce(e.compute_flops, d.compute_flops) AS device_flops,
                   d.allow_raw_upload, (d.callback_url IS NOT NULL AND d.webhook_enabled) AS deliverable, d.push_mode, d.optimizer,
                   least(d.memory_bytes::float8, e.memory_bytes)::int8 AS memory_limit_bytes, e.memory_bytes AS measured_memory,
                   e.uplink_bps, e.downlink_bps, e.rtt_seconds, e.compute_flops AS measured_flops, e.samples, e.measured_at,
                   s.requested_reason, dp.updated_at AS device_profile_at, sp.updated_at AS server_profile_at,
                   s.split_fingerprint, p.id AS plan_id, p.model_version AS plan_model_version, p.device_flops AS plan_device_flops,
                   p.server_flops AS plan_server_flops, p.batch_size AS plan_batch_size, p.transfer_bytes AS plan_transfer_bytes,
                   p.device_compute_seconds + p.server_compute_seconds AS plan_compute_seconds, p.optimizer AS plan_optimizer,
                   p.memory_limit_bytes AS plan_memory_limit_bytes, p.table_digest AS plan_table_digest
            FROM planning_state s
            JOIN devices d ON d.id = s.device_id AND d.active
            JOIN edge_servers es ON es.id = d.edge_server_id
            JOIN link_estimates e ON e.device_id = d.id
            CROSS JOIN LATERAL (SELECT max(version) AS version FROM models m WHERE m.name = d.model_name) latest
            -- LATERAL: always an index probe per device, whatever the (fast-changing) plan statistics say.
            LEFT JOIN LATERAL (
                SELECT p.id, ps.model_version, p.device_flops, p.server_flops, p.batch_size, p.transfer_bytes,
                       p.device_compute_seconds, p.server_compute_seconds, p.optimizer, p.memory_limit_bytes, pt.digest AS table_digest
                FROM plans p JOIN splits ps ON ps.id = p.split_id LEFT JOIN plan_tables pt ON pt.id = p.table_id
                WHERE p.device_id = d.id AND p.superseded_at IS NULL
                LIMIT 1  -- (at most one anyway; keeps the subquery from being flattened into the join)
            ) p ON true
            LEFT JOIN device_profiles dp ON dp.device_id = d.id
            LEFT JOIN server_profiles sp ON sp.edge_server_id = d.edge_server_id AND sp.model_name = d.model_name
            WHERE s.requested_reason IS NOT NULL AND (s.retry_at IS NULL OR s.retry_at <= now())
            ORDER BY s.requested_at
            LIMIT $1
            FOR UPDATE OF s SKIP LOCKED
            """, [limit])
        return try (0..<result.rowCount).map { row in
            let deviceID = try result.require(row, "id", result.string)
            var current: PlanningCandidate.CurrentPlan?
            if let planID = result.int(row, "plan_id") {
                current = PlanningCandidate.CurrentPlan(
                    id: Int64(planID), modelVersion: try result.require(row, "plan_model_version", result.int),
                    splitFingerprint: result.string(row, "split_fingerprint"),
                    deviceFLOPs: try result.require(row, "plan_device_flops", result.double),
                    serverFLOPs: try result.require(row, "plan_server_flops", result.double),
                    batchSize: try result.require(row, "plan_batch_size", result.int),
                    cost: SplitCost(computeSeconds: try result.require(row, "plan_compute_seconds", result.double),
                                    transferBytes: try result.require(row, "plan_transfer_bytes", result.double)),
                    optimizer: result.string(row, "plan_optimizer").flatMap(Optimizer.init(rawValue:)),
                    memoryLimitBytes: result.int(row, "plan_memory_limit_bytes").map(Int64.init),
                    tableDigest: result.string(row, "plan_table_digest"))
            }
            return PlanningCandidate(
                deviceID: deviceID, modelName: try result.require(row, "model_name", result.string),
                modelVersion: try result.require(row, "target_version", result.int),
                edgeServerID: try result.require(row, "edge_server_id", result.string),
                serverFLOPs: try result.require(row, "server_flops", result.double),
                batchSize: try result.require(row, "batch_size", result.int),
                deviceFLOPs: try result.require(row, "device_flops", result.double),
                allowRawUpload: try result.require(row, "allow_raw_upload", result.bool),
                deliverable: try result.require(row, "deliverable", result.bool),
                pushMode: PushMode(rawValue: try result.require(row, "push_mode", result.string)) ?? .table,
                optimizer: Optimizer(rawValue: try result.require(row, "optimizer", result.string)) ?? .adam,
                memoryLimitBytes: result.int(row, "memory_limit_bytes").map(Int64.init),
                link: LinkEstimate(
                    deviceID: deviceID, uplinkBitsPerSecond: try result.require(row, "uplink_bps", result.double),
                    downlinkBitsPerSecond: try result.require(row, "downlink_bps", result.double),
                    rttSeconds: try result.require(row, "rtt_seconds", result.double), computeFLOPs: result.double(row, "measured_flops"),
                    memoryBytes: result.double(row, "measured_memory"), samples: try result.require(row, "samples", result.int), measuredAt: try result.require(row, "measured_at", result.date)),
                requestedReason: result.string(row, "requested_reason").flatMap(PlanReason.init(rawValue:)),
                deviceProfileVersion: result.date(row, "device_profile_at"), serverProfileVersion: result.date(row, "server_profile_at"),
                current: current)
        }
    }

    /// Records what was evaluated (clearing requests), in bulk.
    package static func recordEvaluations(_ evaluations: [PlanEvaluation], connection: PostgresConnection) throws {
        guard !evaluations.isEmpty else { return }
        try connection.query("""
            UPDATE planning_state s SET requested_reason = NULL, requested_at = NULL, evaluated_at = now(),
                   failures = 0, last_failure = NULL, retry_at = NULL,
                   evaluated_model_version = v.model_version, evaluated_uplink_bps = v.uplink, evaluated_downlink_bps = v.downlink,
                   evaluated_rtt_seconds = v.rtt, evaluated_compute_flops = v.flops, split_fingerprint = v.fingerprint,
                   evaluated_memory_bytes = v.memory, infeasible_required_bytes = v.infeasible
            FROM unnest($1::text[], $2::int8[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::text[], $8::float8[], $9::int8[])
                 AS v(device_id, model_version, uplink, downlink, rtt, flops, fingerprint, memory, infeasible)
            WHERE s.device_id = v.device_id
            """, [evaluations.map(\.deviceID), PostgresValue.intArray(evaluations.map { Int64($0.modelVersion) }),
                  PostgresValue.doubleArray(evaluations.map(\.link.uplinkBitsPerSecond)),
                  PostgresValue.doubleArray(evaluations.map(\.link.downlinkBitsPerSecond)),
                  PostgresValue.doubleArray(evaluations.map(\.link.rttSeconds)), PostgresValue.doubleArray(evaluations.map(\.deviceFLOPs)),
                  PostgresValue.textArray(evaluations.map { $0.splitFingerprint ?? "" }),
                  PostgresValue.optionalDoubleArray(evaluations.map(\.link.memoryBytes)),
                  PostgresValue.optionalIntArray(evaluations.map(\.infeasibleRequiredBytes))])
    }

    /// Records that planning failed for these devices: they stay marked, and are claimed again
    /// only after a backoff that doubles with each consecutive failure (10 s, 20 s, ... up to an
    /// hour), so one device that cannot be planned never holds up the others nor spins.
    package static func recordFailures(_ failures: [(deviceID: String, reason: String)], connection: PostgresConnection) throws {
        guard !failures.isEmpty else { return }
        try connection.query("""
            UPDATE planning_state s SET failures = s.failures + 1, last_failure = f.reason,
                   retry_at = now() + least(3600, 10 * power(2, least(s.failures, 12))) * interval '1 second'
            FROM unnest($1::text[], $2::text[]) AS f(device_id, reason)
            WHERE s.device_id = f.device_id
            """, [PostgresValue.textArray(failures.map(\.deviceID)), PostgresValue.textArray(failures.map { String($0.reason.prefix(1000)) })])
    }

    /// Stores new plans in bulk: supersedes each device's current plan, drops its undelivered
    /// older deliveries, finds or adds their splits, inserts the plans (COPY) and enqueues a
    /// delivery per deliverable plan, all on `connection` (call inside the claiming transaction).
    /// Returns the new plan ids in order.
    @discardableResult
    package static func store(_ plans: [NewPlan], connection: PostgresConnection) throws -> [Int64] {
        guard !plans.isEmpty else { return [] }
        let devices = plans.map(\.deviceID)
        guard Set(devices).count == devices.count else { throw StoreError(.invalid, "one plan per device per batch") }
        let splitIDs = try splitIDs(for: plans, connection: connection)
        let tableIDs = try tableIDs(for: plans, connection: connection)
        // One round trip: supersede the current plans, drop their undelivered deliveries, take ids.
        let idsResult = try connection.query("""
            WITH superseded AS (
                UPDATE plans SET superseded_at = now() WHERE device_id = ANY($1::text[]) AND superseded_at IS NULL
            ), dropped AS (
                -- In-flight attempts keep their lease (so the device's next delivery waits for them) but
                -- are never retried; see DeliveryRepository.markFailed.
                UPDATE webhook_deliveries SET status = 'superseded',
                       lease_owner = CASE WHEN status = 'delivering' THEN lease_owner END,
                       lease_expires_at = CASE WHEN status = 'delivering' THEN lease_expires_at END
                WHERE device_id = ANY($1::text[]) AND status IN ('pending', 'failed', 'delivering')
            )
            SELECT nextval('plans_id_seq') AS id FROM generate_series(1, $2)
            """, [PostgresValue.textArray(devices), plans.count])
        let ids = try (0..<idsResult.rowCount).map { Int64(try idsResult.require($0, "id", idsResult.int)) }
        try connection.copyInBinary("""
            COPY plans (id, device_id, split_id, algorithm, uplink_bps, downlink_bps, rtt_seconds, device_flops, server_flops,
                        batch_size, predicted_delay_seconds, transfer_bytes, device_compute_seconds, server_compute_seconds,
                        uplink_seconds, downlink_seconds, solve_microseconds, reason, table_id, optimizer, memory_limit_bytes,
                        device_memory_bytes, memory_bound, pushed)
            FROM STDIN WITH (FORMAT binary)
            """) { writer in
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
            try connection.copyIn("COPY webhook_deliveries (id, plan_id, device_id) FROM STDIN",
                                  rows: deliveries.lazy.map { id, plan in ["msg_" + SecureRandom.token(bytes: 16), String(id), plan.deviceID] })
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
        var cutNames: [String] = [], cutFirst: [Int64] = [], cutLast: [Int64] = []
        for plan in distinct {
            deviceFirst.append(Int64(deviceNames.count + 1))
            deviceNames += plan.deviceLayers
            deviceLast.append(Int64(deviceNames.count))
            cutFirst.append(Int64(cutNames.count + 1))
            cutNames += plan.cutLayers
            cutLast.append(Int64(cutNames.count))
        }
        let parameters: [PostgresValue] = [
            .textArray(distinct.map(\.modelName)), .intArray(distinct.map { Int64($0.modelVersion) }),
            .intArray(deviceFirst), .intArray(deviceLast), .textArray(deviceNames), .intArray(cutFirst), .intArray(cutLast), .textArray(cutNames),
        ]
        var resolved = [Int64?](repeating: nil, count: distinct.count)
        // A split another open transaction is adding makes this insert wait for that commit;
        // inserting in key order keeps two writers from waiting on each other. Once it commits,
        // this statement's snapshot misses it (and the insert skips it): the next round sees it.
        for _ in 0..<3 where resolved.contains(nil) {
            let result = try connection.query("""
                WITH input AS (
                    SELECT v.slot, v.model_name, v.model_version::integer AS model_version,
                           ($5::text[])[v.device_first:v.device_last] AS device_layers, ($8::text[])[v.cut_first:v.cut_last] AS cut_layers
                    FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $6::int8[], $7::int8[])
                         WITH ORDINALITY AS v(model_name, model_version, device_first, device_last, cut_first, cut_last, slot)
                ), keyed AS (
                    SELECT input.*, splitd_split_digest(device_layers) AS digest FROM input
                ), inserted AS (
                    INSERT INTO splits (model_name, model_version, digest, device_layers, cut_layers)
                    SELECT model_name, model_version, digest, device_layers, cut_layers FROM keyed
                    ORDER BY model_name, model_version, digest
                    ON CONFLICT (model_name, model_version, digest) DO NOTHING
                    RETURNING id, model_name, model_version, digest
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
        let result = try connection.query("""
            WITH input AS (
                SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[]) WITH ORDINALITY AS v(model_name, model_version, digest, document, slot)
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
            """, [PostgresValue.textArray(distinct.map(\.modelName)), PostgresValue.intArray(distinct.map { Int64($0.modelVersion) }),
                  PostgresValue.textArray(distinct.map { $0.table!.digest }), PostgresValue.textArray(distinct.map { $0.table!.document })])
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
        let result = try connection.query("""
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
        try connection.query("""
            WITH ended AS (
                UPDATE plans SET superseded_at = now() WHERE device_id = ANY($1::text[]) AND superseded_at IS NULL
            )
            UPDATE webhook_deliveries SET status = 'superseded',
                   lease_owner = CASE WHEN status = 'delivering' THEN lease_owner END,
                   lease_expires_at = CASE WHEN status = 'delivering' THEN lease_expires_at END
            WHERE device_id = ANY($1::text[]) AND status IN ('pending', 'failed', 'delivering')
            """, [PostgresValue.textArray(deviceIDs)])
    }

    /// When the device's last evaluation found no split fitting its memory: the least memory any
    /// valid split needs, and the limit it was evaluated under.
    package static func infeasibility(deviceID: String, connection: PostgresConnection) throws -> (requiredBytes: Int64, limitBytes: Int64?)? {
        let result = try connection.query("""
            SELECT s.infeasible_required_bytes, least(d.memory_bytes::float8, s.evaluated_memory_bytes)::int8 AS limit_bytes
            FROM planning_state s JOIN devices d ON d.id = s.device_id
            WHERE s.device_id = $1 AND s.infeasible_required_bytes IS NOT NULL
            """, [deviceID])
        guard result.rowCount > 0, let required = result.int(0, "infeasible_required_bytes") else { return nil }
        return (Int64(required), result.int(0, "limit_bytes").map(Int64.init))
    }

    /// The plan in force for a device.
    package static func current(deviceID: String, connection: PostgresConnection) throws -> StoredPlan? {
        let result = try connection.query("SELECT \(columns), \(tableDocument()) FROM split_plans WHERE device_id = $1 AND superseded_at IS NULL", [deviceID])
        return result.rowCount > 0 ? try decode(result, 0) : nil
    }

    /// A device's plans, newest first, optionally only those computed before `before`.
    package static func history(deviceID: String, limit: Int, before: Date? = nil, connection: PostgresConnection) throws -> [StoredPlan] {
        let result = try connection.query("""
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
        memory_limit_bytes, device_memory_bytes, memory_bound
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
            deviceLayers: try result.require(row, "device_layers", result.textArray), cutLayers: try result.require(row, "cut_layers", result.textArray),
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
