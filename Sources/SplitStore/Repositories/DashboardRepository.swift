import Foundation
import SplitCore

/// SQL for the operator dashboard (`/ui`): read-only. A fleet can hold a million devices, so the
/// overview is aggregate queries over small partial indexes (migration 0012) and the fleet table is
/// one statement per page of devices in id order (keyset paging, no row per device loaded beyond
/// the page, no query per row).
package enum DashboardRepository {
    /// Devices by model, the splits in force, and how many devices are in each state.
    package static func overview(connection: PostgresConnection) throws -> FleetOverview {
        var overview = FleetOverview()
        let counts = try connection.query(
            """
            SELECT (SELECT count(*) FROM devices WHERE active) AS active,
                   (SELECT count(*) FROM plans WHERE superseded_at IS NULL)
                   - (SELECT count(*) FROM devices d JOIN plans p ON p.device_id = d.id AND p.superseded_at IS NULL
                      WHERE NOT d.active) AS planned,
                   (SELECT count(*) FROM planning_state s JOIN devices d ON d.id = s.device_id
                    WHERE s.infeasible_required_bytes IS NOT NULL AND d.active) AS infeasible,
                   (SELECT count(*) FROM planning_state s JOIN devices d ON d.id = s.device_id
                    WHERE s.failures > 0 AND d.active) AS failing,
                   (SELECT count(DISTINCT f.device_id) FROM (
                        SELECT w.device_id FROM webhook_deliveries w JOIN plans p ON p.id = w.plan_id
                        WHERE w.status IN ('failed', 'dead') AND p.superseded_at IS NULL
                        UNION ALL
                        SELECT n.device_id FROM webhook_deliveries n
                        WHERE n.notice IS NOT NULL AND n.status IN ('pending', 'failed', 'delivering') AND n.status = 'failed'
                        UNION ALL
                        SELECT id FROM devices WHERE active AND NOT webhook_enabled AND callback_url IS NOT NULL
                    ) f JOIN devices d ON d.id = f.device_id WHERE d.active) AS webhook_failing
            """)
        overview.activeDevices = counts.int(0, "active") ?? 0
        overview.plannedDevices = counts.int(0, "planned") ?? 0
        overview.infeasibleDevices = counts.int(0, "infeasible") ?? 0
        overview.failingDevices = counts.int(0, "failing") ?? 0
        overview.webhookFailingDevices = counts.int(0, "webhook_failing") ?? 0
        let models = try connection.query(
            "SELECT model_name, count(*) AS devices FROM devices WHERE active GROUP BY model_name ORDER BY devices DESC, model_name LIMIT 100")
        overview.models = try models.rows.map { row in
            FleetOverview.ModelCount(
                model: try row.decode("model_name"), devices: try row.decode("devices"))
        }
        // The plans in force by split come from their index alone (`plans_current_split`); the few
        // of deactivated devices (found through `devices_inactive`) are taken out.
        let splits = try connection.query(
            """
            WITH current AS (
                SELECT split_id, count(*) AS devices, sum(predicted_delay_seconds) AS delay FROM plans
                WHERE superseded_at IS NULL GROUP BY split_id
            ), inactive AS (
                SELECT p.split_id, count(*) AS devices, sum(p.predicted_delay_seconds) AS delay
                FROM devices d JOIN plans p ON p.device_id = d.id AND p.superseded_at IS NULL WHERE NOT d.active GROUP BY p.split_id
            )
            SELECT s.model_name, s.model_version, s.cut_layers, c.devices - coalesce(i.devices, 0) AS devices,
                   (c.delay - coalesce(i.delay, 0)) / (c.devices - coalesce(i.devices, 0)) AS mean_delay,
                   (SELECT p.id FROM plans p WHERE p.split_id = c.split_id AND p.superseded_at IS NULL LIMIT 1) AS example
            FROM current c LEFT JOIN inactive i USING (split_id) JOIN splits s ON s.id = c.split_id
            WHERE c.devices > coalesce(i.devices, 0)
            ORDER BY 4 DESC, s.model_name, c.split_id LIMIT 20
            """)
        overview.splits = try splits.rows.map { row in
            FleetOverview.SplitInForce(
                model: try row.decode("model_name"), modelVersion: try row.decode("model_version"),
                cutLayers: try row.decode("cut_layers"), devices: try row.decode("devices"),
                meanPredictedDelaySeconds: row.decodeIfPresent("mean_delay") ?? 0, examplePlanID: try row.decode("example")
            )
        }
        return overview
    }

    /// A page of devices (see `DeviceFilter`), in id order, each with its plan in force, link
    /// estimate, planning state and the delivery of its plan: one statement, joined by keys.
    /// Only the conditions a filter uses are in the statement (each bound as `$n`): a condition
    /// like `$1 IS NULL OR d.id > $1` would let PostgreSQL's generic plan for the prepared
    /// statement walk the fleet from its first id instead of seeking.
    package static func devices(_ filter: DeviceFilter, connection: PostgresConnection) throws -> [DeviceStatus] {
        var parameters: [any PostgresEncodable] = []
        func bind(_ value: any PostgresEncodable) -> String {
            parameters.append(value)
            return "$\(parameters.count)"
        }
        // A device's own page finds it deactivated too; the table lists active devices.
        var conditions = [filter.id == nil ? "d.active" : "true"]
        if let id = filter.id { conditions.append("d.id = \(bind(id))") }
        if let after = filter.after { conditions.append("d.id > \(bind(after))") }
        if let model = filter.model { conditions.append("d.model_name = \(bind(model))") }
        if let prefix = filter.idPrefix { conditions.append("starts_with(d.id, \(bind(prefix)))") }
        let limit = bind(filter.limit)
        let result = try connection.query(
            """
            SELECT d.id, d.model_name, d.model_version, d.edge_server_id, d.push_mode, d.active, d.callback_url, d.webhook_enabled,
                   p.id AS plan_id, p.computed_at, p.reason, s.cut_layers, p.predicted_delay_seconds,
                   e.uplink_bps, e.downlink_bps, e.rtt_seconds, e.measured_at, e.samples,
                   ps.infeasible_required_bytes, least(d.memory_bytes::float8, ps.evaluated_memory_bytes)::int8 AS limit_bytes,
                   coalesce(ps.failures, 0) AS failures, ps.last_failure,
                   w.status AS delivery_status, w.attempts AS delivery_attempts, w.last_error AS delivery_error,
                   EXISTS (SELECT FROM webhook_deliveries n WHERE n.device_id = d.id AND n.notice IS NOT NULL
                           AND n.status IN ('pending', 'failed', 'delivering') AND n.status = 'failed') AS notice_failing
            FROM devices d
            LEFT JOIN plans p ON p.device_id = d.id AND p.superseded_at IS NULL
            LEFT JOIN splits s ON s.id = p.split_id
            LEFT JOIN link_estimates e ON e.device_id = d.id
            LEFT JOIN planning_state ps ON ps.device_id = d.id
            LEFT JOIN webhook_deliveries w ON w.plan_id = p.id
            WHERE \(conditions.joined(separator: " AND ")) \(stateCondition(filter.state))
            ORDER BY d.id LIMIT \(limit)
            """, parameters)
        return try result.rows.map(DeviceStatus.init(row:))
    }

    /// A device's reported link since `since`, averaged into at most `maximumPoints` intervals of
    /// equal length over the span the samples cover (the raw telemetry, read by its device and
    /// time index; the caller bounds the window).
    package static func linkSeries(deviceID: String, since: Date, maximumPoints: Int, connection: PostgresConnection) throws -> [LinkPoint] {
        let result = try connection.query(
            """
            WITH samples AS (
                SELECT measured_at, uplink_bps, downlink_bps, rtt_seconds FROM telemetry WHERE device_id = $1 AND measured_at >= $2
            ), span AS (
                SELECT min(measured_at) AS first,
                       greatest(extract(epoch FROM max(measured_at) - min(measured_at))::float8 / $3, 0.001) AS width
                FROM samples
            )
            SELECT min(s.measured_at) AS measured_at, avg(s.uplink_bps) AS uplink_bps, avg(s.downlink_bps) AS downlink_bps,
                   avg(s.rtt_seconds) AS rtt_seconds, count(*) AS samples
            FROM samples s, span
            GROUP BY least(floor(extract(epoch FROM s.measured_at - span.first)::float8 / span.width), $3 - 1)
            ORDER BY 1 LIMIT $3
            """, [deviceID, since, maximumPoints])
        return try result.rows.map { row in
            LinkPoint(
                measuredAt: try row.decode("measured_at"),
                uplinkBitsPerSecond: try row.decode("uplink_bps"),
                downlinkBitsPerSecond: try row.decode("downlink_bps"),
                rttSeconds: try row.decode("rtt_seconds"), samples: try row.decode("samples"))
        }
    }

    /// A device's latest deliveries, newest first: its plans' pushes (found through its plans) and
    /// its infeasible notices.
    package static func deliveries(deviceID: String, limit: Int, connection: PostgresConnection) throws -> [DeliveryRecord] {
        let result = try connection.query(
            """
            SELECT * FROM (
                (SELECT \(deliveryColumns("w")) FROM plans p JOIN webhook_deliveries w ON w.plan_id = p.id
                 WHERE p.device_id = $1 ORDER BY p.computed_at DESC, p.id DESC LIMIT $2)
                UNION ALL
                (SELECT \(deliveryColumns("w")) FROM webhook_deliveries w
                 WHERE w.device_id = $1 AND w.notice IS NOT NULL ORDER BY w.created_at DESC LIMIT $2)
            ) d ORDER BY created_at DESC, id DESC LIMIT $2
            """, [deviceID, limit])
        return try result.rows.map(DeliveryRecord.init(row:))
    }

    /// The outbox's health: counts by status, the oldest unfinished delivery, the latest
    /// `failureLimit` failures and the hosts that fail.
    package static func deliveryHealth(failureLimit: Int, connection: PostgresConnection) throws -> DeliveryHealth {
        var health = DeliveryHealth()
        let counts = try connection.query("SELECT status, count(*) AS deliveries FROM webhook_deliveries GROUP BY status")
        for row in counts.rows {
            health.countsByStatus[try row.decode("status")] = try row.decode("deliveries")
        }
        let unfinished = try connection.query(
            """
            SELECT min(created_at) AS oldest, count(*) FILTER (WHERE next_attempt_at <= now()) AS due,
                   (SELECT count(*) FROM devices WHERE active AND NOT webhook_enabled) AS disabled
            FROM webhook_deliveries WHERE status IN ('pending', 'failed')
            """)
        health.oldestUnfinishedAt = unfinished.date(0, "oldest")
        health.due = unfinished.int(0, "due") ?? 0
        health.disabledReceivers = unfinished.int(0, "disabled") ?? 0
        let failures = try connection.query(
            """
            SELECT \(deliveryColumns("w")) FROM webhook_deliveries w WHERE w.status IN ('failed', 'dead')
            ORDER BY w.next_attempt_at DESC, w.id DESC LIMIT $1
            """, [failureLimit])
        health.recentFailures = try failures.rows.map(DeliveryRecord.init(row:))
        let hosts = try connection.query(
            """
            SELECT coalesce(lower(substring(d.callback_url FROM '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(\\[[^]/?#]*\\]|[^:/?#]*)')),
                            '(none)') AS host,
                   count(*) AS deliveries, count(DISTINCT w.device_id) AS devices,
                   (array_agg(w.last_error ORDER BY w.next_attempt_at DESC) FILTER (WHERE w.last_error IS NOT NULL))[1] AS last_error
            FROM webhook_deliveries w JOIN devices d ON d.id = w.device_id
            WHERE w.status IN ('failed', 'dead')
            GROUP BY 1 ORDER BY deliveries DESC, host LIMIT 20
            """)
        health.failingHosts = try hosts.rows.map { row in
            DeliveryHealth.FailingHost(
                host: try row.decode("host"), deliveries: try row.decode("deliveries"),
                devices: try row.decode("devices"), lastError: row.decodeIfPresent("last_error"))
        }
        return health
    }

    /// A device's refused moves (`refused_moves`, written by the planner), newest first.
    package static func refusedMoves(deviceID: String, limit: Int, connection: PostgresConnection) throws -> [RefusedMove] {
        let result = try connection.query(
            """
            SELECT recorded_at, reason, rule, current_seconds, candidate_seconds, migration_seconds, accrued_saving_seconds,
                   required_saving_seconds, revisit_at, array_to_json(cut_layers)::text AS cut_layers
            FROM refused_moves WHERE device_id = $1 ORDER BY recorded_at DESC, id DESC LIMIT $2
            """, [deviceID, limit])
        return try result.rows.map { row in
            let layers: String = try row.decode("cut_layers")
            return RefusedMove(
                deviceID: deviceID, recordedAt: try row.decode("recorded_at"),
                reason: try row.decode("reason"), rule: try row.decode("rule"),
                currentSeconds: try row.decode("current_seconds"),
                candidateSeconds: try row.decode("candidate_seconds"),
                migrationSeconds: try row.decode("migration_seconds"),
                accruedSavingSeconds: try row.decode("accrued_saving_seconds"),
                requiredSavingSeconds: try row.decode("required_saving_seconds"),
                revisitAt: row.decodeIfPresent("revisit_at"),
                candidateCutLayers: try JSONDecoder().decode([String].self, from: Data(layers.utf8)))
        }
    }

    // MARK: Internals

    /// The fleet table's condition for a state: one fixed SQL fragment per state (no value is
    /// interpolated), so each state gets a plan of its own. The rare states are driven from their
    /// partial indexes (migration 0012) as semi-joins, so a page of them reads those devices, not
    /// the fleet.
    static func stateCondition(_ state: DeviceFilter.State?) -> String {
        switch state {
        case nil: return ""
        case .infeasible: return "AND d.id IN (SELECT device_id FROM planning_state WHERE infeasible_required_bytes IS NOT NULL)"
        case .failing: return "AND d.id IN (SELECT device_id FROM planning_state WHERE failures > 0)"
        case .webhook:
            return """
                AND d.id IN (
                    SELECT f.device_id FROM webhook_deliveries f JOIN plans fp ON fp.id = f.plan_id AND fp.superseded_at IS NULL
                    WHERE f.status IN ('failed', 'dead')
                    UNION ALL
                    SELECT n.device_id FROM webhook_deliveries n
                    WHERE n.notice IS NOT NULL AND n.status IN ('pending', 'failed', 'delivering') AND n.status = 'failed'
                    UNION ALL
                    SELECT g.id FROM devices g WHERE g.active AND NOT g.webhook_enabled AND g.callback_url IS NOT NULL)
                """
        case .unplanned: return "AND p.id IS NULL"
        case .ok:
            return """
                AND p.id IS NOT NULL AND coalesce(ps.failures, 0) = 0 AND ps.infeasible_required_bytes IS NULL
                AND coalesce(w.status NOT IN ('failed', 'dead'), true) AND (d.callback_url IS NULL OR d.webhook_enabled)
                """
        }
    }

    static func deliveryColumns(_ alias: String) -> String {
        """
        \(alias).id, \(alias).device_id, \(alias).plan_id, (\(alias).notice->>'required_device_memory_bytes')::int8 AS notice_required_bytes, \
        \(alias).status, \(alias).attempts, \(alias).last_status_code, \(alias).last_error, \(alias).created_at, \(alias).next_attempt_at, \
        \(alias).delivered_at
        """
    }
}

extension DeliveryRecord {
    /// A row of `DashboardRepository.deliveryColumns`.
    init(row: PostgresRow) throws {
        self.init(
            id: try row.decode("id"), deviceID: try row.decode("device_id"),
            planID: row.decodeIfPresent("plan_id"), noticeRequiredBytes: row.decodeIfPresent("notice_required_bytes"),
            status: try row.decode("status"), attempts: try row.decode("attempts"),
            lastStatusCode: row.decodeIfPresent("last_status_code"), lastError: row.decodeIfPresent("last_error"),
            createdAt: try row.decode("created_at"), nextAttemptAt: try row.decode("next_attempt_at"),
            deliveredAt: row.decodeIfPresent("delivered_at"))
    }
}

extension DeviceStatus {
    /// A row of the fleet table (`DashboardRepository.devices`).
    init(row: PostgresRow) throws {
        self.init(
            id: try row.decode("id"), modelName: try row.decode("model_name"),
            modelVersion: row.decodeIfPresent("model_version"), edgeServerID: try row.decode("edge_server_id"),
            pushMode: PushMode(rawValue: row.decodeIfPresent("push_mode") ?? "") ?? .table, active: row.decodeIfPresent("active") ?? false,
            callbackURL: row.decodeIfPresent("callback_url"), webhookEnabled: row.decodeIfPresent("webhook_enabled") ?? true)
        planID = row.decodeIfPresent("plan_id")
        planComputedAt = row.decodeIfPresent("computed_at")
        planReason = row.decodeIfPresent("reason")
        cutLayers = row.decodeIfPresent("cut_layers")
        predictedDelaySeconds = row.decodeIfPresent("predicted_delay_seconds")
        uplinkBitsPerSecond = row.decodeIfPresent("uplink_bps")
        downlinkBitsPerSecond = row.decodeIfPresent("downlink_bps")
        rttSeconds = row.decodeIfPresent("rtt_seconds")
        linkMeasuredAt = row.decodeIfPresent("measured_at")
        linkSamples = row.decodeIfPresent("samples")
        infeasibleRequiredBytes = row.decodeIfPresent("infeasible_required_bytes")
        memoryLimitBytes = row.decodeIfPresent("limit_bytes")
        planningFailures = row.decodeIfPresent("failures") ?? 0
        lastPlanningFailure = row.decodeIfPresent("last_failure")
        deliveryStatus = row.decodeIfPresent("delivery_status")
        deliveryAttempts = row.decodeIfPresent("delivery_attempts")
        deliveryError = row.decodeIfPresent("delivery_error")
        noticeFailing = row.decodeIfPresent("notice_failing") ?? false
    }
}
