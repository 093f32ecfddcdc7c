import Foundation
import SplitCore
import SplitSupport

/// A claimed webhook delivery with everything needed to send it.
package struct ClaimedDelivery: Sendable, Equatable {
    /// Message id (`webhook-id`), stable across retries.
    package var id: String
    /// Attempt number of this try (1 for the first).
    package var attempt: Int
    package var deviceID: String
    package var callbackURL: String
    /// Signing secrets: the current one, and the previous one while a rotation's overlap lasts.
    package var webhookSecrets: [String]
    /// What it carries.
    package var content: Content
    /// The device's own switching rule (nil: the daemon's), sent with a plan.
    package var switching: SwitchingPolicy? = nil

    /// A plan (`split_plan.updated`), or a notice document (`split_plan.infeasible`, JSON with its
    /// `sequence` from the plans' id sequence).
    package enum Content: Sendable, Equatable {
        case plan(StoredPlan)
        case notice(String)
    }
}

/// SQL for the `webhook_deliveries` outbox: claim with a lease, finish with a single statement.
package enum DeliveryRepository {
    /// Leases up to `limit` deliveries that are due (pending or failed and past their next attempt
    /// time, or delivering with an expired lease: a crashed owner's work) to `owner` for
    /// `leaseSeconds`, skipping rows other replicas hold. Deliveries whose device lost its
    /// callback, was deactivated or answered 410 become dead instead of being sent.
    ///
    /// At most one delivery per device is in flight: a device's newer delivery waits until its
    /// older attempt finishes (so a receiver never gets an older plan after a newer one).
    package static func claim(
        owner: String, limit: Int, leaseSeconds: Double, secrets: SecretBox,
        connection: PostgresConnection
    ) throws -> [ClaimedDelivery] {
        try connection.transaction {
            try connection.query(
                """
                UPDATE webhook_deliveries w SET status = 'dead', lease_owner = NULL, lease_expires_at = NULL,
                       last_error = 'device has no webhook (deactivated, no callback URL, or receiver answered 410)'
                FROM devices d
                WHERE d.id = w.device_id AND w.status IN ('pending', 'failed')
                  AND (NOT d.active OR d.callback_url IS NULL OR NOT d.webhook_enabled)
                """)
            let claimed = try connection.query(
                """
                UPDATE webhook_deliveries w
                SET status = 'delivering', lease_owner = $1, lease_expires_at = now() + $3 * interval '1 second', attempts = w.attempts + 1
                FROM (SELECT id FROM webhook_deliveries due
                      WHERE ((status IN ('pending', 'failed') AND next_attempt_at <= now())
                             OR (status = 'delivering' AND lease_expires_at < now()))
                        AND NOT EXISTS (SELECT FROM webhook_deliveries other
                                        WHERE other.device_id = due.device_id AND other.id <> due.id AND other.lease_expires_at > now())
                      ORDER BY next_attempt_at
                      LIMIT $2
                      FOR UPDATE SKIP LOCKED) due
                WHERE w.id = due.id
                RETURNING w.id, w.attempts, w.plan_id, w.device_id, w.notice::text AS notice
                """, [owner, limit, leaseSeconds])
            guard claimed.rowCount > 0 else { return [] }
            let planIDs = (0..<claimed.rowCount).compactMap { claimed.int($0, "plan_id").map(Int64.init) }
            let details = try connection.query(
                """
                SELECT \(PlanRepository.qualifiedColumns(table: "p")), \(PlanRepository.tableDocument("p"))
                FROM split_plans p WHERE p.id = ANY($1::int8[])
                """, [PostgresValue.intArray(planIDs)])
            var plans: [Int64: StoredPlan] = [:]
            for row in details.rows {
                let plan = try StoredPlan(row: row)
                plans[plan.id] = plan
            }
            let deviceIDs = try Array(Set(claimed.rows.map { try $0.decode("device_id", as: String.self) }))
            let targets = try connection.query(
                """
                SELECT id, callback_url, webhook_secret, switching::text AS switching,
                       CASE WHEN previous_secret_expires_at > now() THEN previous_webhook_secret END AS previous_webhook_secret
                FROM devices WHERE id = ANY($1::text[])
                """, [PostgresValue.textArray(deviceIDs)])
            var byDevice: [String: (url: String, keys: [String], switching: SwitchingPolicy?)] = [:]
            for row in targets.rows {
                var keys = [try secrets.open(try row.decode("webhook_secret"))]
                if let previous = row.decodeIfPresent("previous_webhook_secret", as: String.self) { keys.append(try secrets.open(previous)) }
                let switching = try row.decodeIfPresent("switching", as: String.self).map {
                    try JSONDecoder().decode(SwitchingPolicy.self, from: Data($0.utf8))
                }
                byDevice[try row.decode("id")] = (row.decodeIfPresent("callback_url") ?? "", keys, switching)
            }
            return try claimed.rows.compactMap { row in
                let deviceID: String = try row.decode("device_id")
                guard let target = byDevice[deviceID] else { return nil }
                let content: ClaimedDelivery.Content
                if let planID = row.decodeIfPresent("plan_id", as: Int64.self) {
                    guard let plan = plans[planID] else { return nil }
                    content = .plan(plan)
                } else {
                    content = .notice(try row.decode("notice"))
                }
                return ClaimedDelivery(
                    id: try row.decode("id"), attempt: try row.decode("attempts"), deviceID: deviceID, callbackURL: target.url,
                    webhookSecrets: target.keys, content: content, switching: target.switching)
            }
        }
    }

    /// Enqueues a `split_plan.infeasible` notice for each device, superseding its unfinished older
    /// notices. Each notice takes its `sequence` from the plans' id sequence, so the device orders
    /// it against its plans by one number. Call inside the planning transaction.
    package static func enqueueNotices(_ notices: [InfeasibleNotice], connection: PostgresConnection) throws {
        guard !notices.isEmpty else { return }
        let sequences = try connection.query(
            """
            WITH dropped AS (
                UPDATE webhook_deliveries SET status = 'superseded',
                       lease_owner = CASE WHEN status = 'delivering' THEN lease_owner END,
                       lease_expires_at = CASE WHEN status = 'delivering' THEN lease_expires_at END
                WHERE notice IS NOT NULL AND device_id = ANY($1::text[]) AND status IN ('pending', 'failed', 'delivering')
            )
            SELECT nextval('plans_id_seq') AS sequence FROM generate_series(1, $2)
            """, [PostgresValue.textArray(notices.map(\.deviceID)), notices.count])
        let numbers = try sequences.rows.map { try $0.decode("sequence", as: Int64.self) }
        let documents = try zip(notices, numbers).map { notice, sequence in
            var document: [String: Any] = [
                "status": "infeasible", "reason": "device_memory", "device": notice.deviceID, "model": notice.modelName,
                "model_version": notice.modelVersion, "required_device_memory_bytes": notice.requiredBytes, "sequence": sequence,
                "device_memory_limit_bytes": notice.limitBytes.map { $0 as Any } ?? NSNull(),
            ]
            document["detail"] =
                "no split of model '\(notice.modelName)' fits the device's memory: the smallest valid split needs \(notice.requiredBytes) bytes"
            return String(decoding: try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys]), as: UTF8.self)
        }
        try connection.query(
            """
            INSERT INTO webhook_deliveries (id, device_id, notice)
            SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])
            """,
            [
                PostgresValue.textArray(messageIDs(planIDs: numbers)), PostgresValue.textArray(notices.map(\.deviceID)),
                PostgresValue.textArray(documents),
            ])
    }

    /// Message ids (`webhook-id`) for the deliveries of these plans: `msg_`, the plan id in 16 hex
    /// digits, and 96 random bits. Unique (one delivery per plan) and unguessable; in plan order, so
    /// the outbox's primary key grows at its right edge. 36 characters.
    package static func messageIDs(planIDs: [Int64]) -> [String] {
        let random = SecureRandom.tokens(planIDs.count, bytes: 12)
        return zip(planIDs, random).map { planID, random in
            let hex = String(UInt64(bitPattern: planID), radix: 16)
            return "msg_" + String(repeating: "0", count: 16 - hex.count) + hex + random
        }
    }

    /// Marks a delivery done, if `owner` still holds its lease (true when it did).
    @discardableResult
    package static func markDelivered(id: String, owner: String, statusCode: Int, connection: PostgresConnection) throws -> Bool {
        try connection.query(
            """
            UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now(), last_status_code = $3, last_error = NULL,
                   lease_owner = NULL, lease_expires_at = NULL
            WHERE id = $1 AND lease_owner = $2 AND status IN ('delivering', 'superseded')
            """, [id, owner, statusCode]
        ).affectedRows == 1
    }

    /// Marks many deliveries done in one statement (those `owner` still holds); returns how many.
    @discardableResult
    package static func markDelivered(ids: [String], owner: String, statusCodes: [Int], connection: PostgresConnection) throws -> Int {
        guard !ids.isEmpty else { return 0 }
        return try connection.query(
            """
            UPDATE webhook_deliveries w SET status = 'delivered', delivered_at = now(), last_status_code = done.code, last_error = NULL,
                   lease_owner = NULL, lease_expires_at = NULL
            FROM unnest($1::text[], $3::int8[]) AS done(id, code)
            WHERE w.id = done.id AND w.lease_owner = $2 AND w.status IN ('delivering', 'superseded')
            """, [ids, owner, PostgresValue.intArray(statusCodes.map { Int64($0) })]
        ).affectedRows
    }

    /// Records a failed attempt: retried at `retryAt`, or dead when `retryAt` is nil. A delivery
    /// superseded while it was in flight stays superseded: it is never retried.
    @discardableResult
    package static func markFailed(
        id: String, owner: String, statusCode: Int?, error: String, retryAt: Date?,
        connection: PostgresConnection
    ) throws -> Bool {
        try connection.query(
            """
            UPDATE webhook_deliveries
            SET status = CASE WHEN status = 'superseded' THEN 'superseded' WHEN $5::timestamptz IS NULL THEN 'dead' ELSE 'failed' END,
                next_attempt_at = coalesce($5::timestamptz, next_attempt_at), last_status_code = $3, last_error = $4,
                lease_owner = NULL, lease_expires_at = NULL
            WHERE id = $1 AND lease_owner = $2 AND status IN ('delivering', 'superseded')
            """,
            [
                id, owner, statusCode.map { PostgresValue.int(Int64($0)) } ?? .null, String(error.prefix(1000)),
                retryAt.map { PostgresValue.timestamp($0) } ?? .null,
            ]
        ).affectedRows == 1
    }

    /// Hands back these leases without counting the attempt; due again after `delaySeconds`.
    @discardableResult
    package static func release(ids: [String], owner: String, delaySeconds: Double, connection: PostgresConnection) throws -> Int {
        guard !ids.isEmpty else { return 0 }
        return try connection.query(
            """
            UPDATE webhook_deliveries
            SET status = CASE WHEN status = 'superseded' THEN 'superseded' WHEN attempts > 1 THEN 'failed' ELSE 'pending' END,
                lease_owner = NULL, lease_expires_at = NULL, next_attempt_at = now() + $3::float8 * interval '1 second',
                attempts = greatest(attempts - 1, 0)
            WHERE id = ANY($1::text[]) AND lease_owner = $2 AND status IN ('delivering', 'superseded')
            """, [PostgresValue.textArray(ids), owner, delaySeconds]
        ).affectedRows
    }

    /// Hands back every lease `owner` holds (on shutdown): those deliveries are due again at once.
    @discardableResult
    package static func releaseLeases(owner: String, connection: PostgresConnection) throws -> Int {
        try connection.query(
            """
            UPDATE webhook_deliveries
            SET status = CASE WHEN status = 'superseded' THEN 'superseded' ELSE 'failed' END, lease_owner = NULL, lease_expires_at = NULL,
                next_attempt_at = now(), attempts = greatest(attempts - 1, 0)
            WHERE lease_owner = $1 AND status IN ('delivering', 'superseded')
            """, [owner]
        ).affectedRows
    }

    /// Deletes up to `limit` finished deliveries (delivered, superseded, dead) whose last activity
    /// (creation, last scheduled attempt or delivery) is before `cutoff`, taking them in order of
    /// that time after `position` (nil: from the oldest). Never deletes a delivery that is pending,
    /// failed or in flight (including a superseded one whose lease is still live), nor the delivery
    /// of a plan in force: `split_history` keeps showing how the current plan reached its device.
    /// Pass the returned position to the next call; a batch that scanned fewer than `limit` rows
    /// was the last. One statement: call it in its own short transaction so delivery never waits
    /// on more than one batch.
    package static func trimFinished(
        before cutoff: Date, after position: TrimPosition?, limit: Int,
        connection: PostgresConnection
    ) throws -> TrimBatch {
        // The status test is repeated in the DELETE: it re-reads each row as it is now, so a row
        // that changed since the batch was read is judged by its current state.
        let result = try connection.query(
            """
            WITH batch AS (
                SELECT id, greatest(created_at, next_attempt_at, delivered_at) AS finished_at
                FROM webhook_deliveries
                WHERE status IN ('delivered', 'dead', 'superseded')
                  AND greatest(created_at, next_attempt_at, delivered_at) < $1
                  AND (greatest(created_at, next_attempt_at, delivered_at), id)
                      > (coalesce('epoch'::timestamptz + $2::int8 * interval '1 microsecond', '-infinity'), coalesce($3::text, ''))
                ORDER BY greatest(created_at, next_attempt_at, delivered_at), id
                LIMIT $4
            ), deleted AS (
                DELETE FROM webhook_deliveries w
                USING batch b
                WHERE w.id = b.id
                  AND w.status IN ('delivered', 'dead', 'superseded')
                  AND (w.lease_expires_at IS NULL OR w.lease_expires_at < now())
                  AND NOT EXISTS (SELECT FROM plans p WHERE p.id = w.plan_id AND p.superseded_at IS NULL)
                RETURNING w.id
            ), last AS (
                SELECT finished_at, id FROM batch ORDER BY finished_at DESC, id DESC LIMIT 1
            )
            SELECT (SELECT count(*) FROM batch) AS scanned, (SELECT count(*) FROM deleted) AS deleted,
                   (SELECT (extract(epoch FROM finished_at) * 1000000)::int8 FROM last) AS last_microseconds,
                   (SELECT id FROM last) AS last_id
            """,
            [
                PostgresValue.timestamp(cutoff), position.map { PostgresValue.int($0.finishedMicroseconds) } ?? .null,
                position.map { PostgresValue.text($0.id) } ?? .null, limit,
            ])
        let row = result.row(0)
        let scanned: Int = try row.decode("scanned"), deleted: Int = try row.decode("deleted")
        var next: TrimPosition?
        if let microseconds = row.decodeIfPresent("last_microseconds", as: Int64.self), let id = row.decodeIfPresent("last_id", as: String.self) {
            next = TrimPosition(finishedMicroseconds: microseconds, id: id)
        }
        return TrimBatch(scanned: scanned, deleted: deleted, position: next ?? position)
    }

    /// Deliveries waiting (pending or failed), for metrics.
    package static func queueDepth(connection: PostgresConnection) throws -> Int {
        try connection.query("SELECT count(*) AS n FROM webhook_deliveries WHERE status IN ('pending', 'failed', 'delivering')").int(0, "n") ?? 0
    }

    /// Status and attempts of one delivery (for tests and the API).
    package static func status(id: String, connection: PostgresConnection) throws -> (status: String, attempts: Int, lastStatusCode: Int?)? {
        let result = try connection.query("SELECT status, attempts, last_status_code FROM webhook_deliveries WHERE id = $1", [id])
        guard let row = result.rows.first else { return nil }
        return (try row.decode("status"), try row.decode("attempts"), row.decodeIfPresent("last_status_code"))
    }
}

/// Where trimming the outbox got to: the last activity (microseconds since 1970, exact) and id of
/// the last delivery a batch looked at.
package struct TrimPosition: Sendable, Equatable {
    package var finishedMicroseconds: Int64
    package var id: String
}

/// What one trimming batch did.
package struct TrimBatch: Sendable, Equatable {
    /// Finished deliveries past the cutoff it looked at, and how many of those it deleted (the
    /// rest are kept: the delivery of a plan in force, or one still leased).
    package var scanned: Int
    package var deleted: Int
    /// Where the next batch starts.
    package var position: TrimPosition?
}
