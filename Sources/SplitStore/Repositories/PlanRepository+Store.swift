import Foundation
import SplitCore
import SplitSupport

/// Storing new plans: their splits and tables found or added, the plans copied in, the
/// superseded plans' deliveries dropped and the new ones enqueued.
extension PlanRepository {
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
        for row in idsResult.rows {
            if let device = row.decodeIfPresent("owed", as: String.self) {
                owed.insert(device)
            } else {
                ids.append(try row.decode("id"))
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
    /// rest. The splits travel as one `jsonb` parameter, a record per split (`SplitInput`), read
    /// with the column types the statement names.
    static func splitIDs(for plans: [NewPlan], connection: PostgresConnection) throws -> [Int64] {
        var slotOfFingerprint: [String: Int] = [:]
        var distinct: [SplitInput] = []
        let slots = plans.map { plan in
            if let slot = slotOfFingerprint[plan.splitFingerprint] { return slot }
            slotOfFingerprint[plan.splitFingerprint] = distinct.count
            distinct.append(SplitInput(plan, slot: distinct.count + 1))
            return distinct.count - 1
        }
        let input = PostgresValue.json(String(decoding: try JSONEncoder().encode(distinct), as: UTF8.self))
        var resolved = [Int64?](repeating: nil, count: distinct.count)
        // A split another open transaction is adding makes this insert wait for that commit;
        // inserting in key order keeps two writers from waiting on each other. Once it commits,
        // this statement's snapshot misses it (and the insert skips it): the next round sees it.
        for _ in 0..<3 where resolved.contains(nil) {
            let result = try connection.query(
                """
                WITH input AS (
                    SELECT * FROM jsonb_to_recordset($1::jsonb)
                        AS v(slot integer, model_name text, model_version integer, device_layers text[], cut_layers text[],
                             cut_modules text[], fingerprint text)
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
                """, [input])
            for row in result.rows { resolved[try row.decode("slot", as: Int.self) - 1] = row.decodeIfPresent("id") }
        }
        let ids = resolved.compactMap { $0 }
        guard ids.count == distinct.count else { throw StoreError(.conflict, "splits being added concurrently could not be resolved; retry") }
        return slots.map { ids[$0] }
    }

    /// One split as `splitIDs` sends it: a JSON record whose keys are the statement's columns.
    private struct SplitInput: Encodable {
        /// Its 1-based place in the batch.
        var slot: Int
        var modelName: String
        var modelVersion: Int
        var deviceLayers: [String]
        var cutLayers: [String]
        /// Aligned with the cut layers ("" where a layer names no module).
        var cutModules: [String]
        var fingerprint: String

        init(_ plan: NewPlan, slot: Int) {
            self.slot = slot
            modelName = plan.modelName
            modelVersion = plan.modelVersion
            deviceLayers = plan.deviceLayers
            cutLayers = plan.cutLayers
            cutModules = plan.cutLayers.indices.map { $0 < plan.cutModules.count ? plan.cutModules[$0] : "" }
            fingerprint = plan.splitFingerprint
        }

        enum CodingKeys: String, CodingKey {
            case slot, fingerprint
            case modelName = "model_name", modelVersion = "model_version", deviceLayers = "device_layers", cutLayers = "cut_layers"
            case cutModules = "cut_modules"
        }
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
        for row in result.rows { resolved[try row.decode("slot", as: Int.self) - 1] = row.decodeIfPresent("id") }
        guard !resolved.contains(nil) else {
            throw StoreError(.conflict, "plan tables being added concurrently could not be resolved; retry")
        }
        return slots.map { $0.flatMap { resolved[$0] } }
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
}
