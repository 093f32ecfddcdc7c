import Crypto
import Foundation
import SplitCore

/// A device that needs planning, with everything the planner needs, claimed by one replica.
public struct PlanningCandidate: Sendable {
    public var deviceID: String
    public var modelName: String
    /// The version to plan for (pinned, else the latest).
    public var modelVersion: Int
    public var edgeServerID: String
    public var serverFLOPs: Double
    public var batchSize: Int
    /// Registered device throughput, or the measured one when telemetry reports it.
    public var deviceFLOPs: Double
    public var allowRawUpload: Bool
    /// Whether plans for it are pushed (callback URL set and webhooks enabled).
    public var deliverable: Bool
    public var link: LinkEstimate
    /// Why the device was asked to be planned, if it was.
    public var requestedReason: PlanReason?
    /// When its device / server profile last changed (nil: none), to key parsed-profile caches.
    public var deviceProfileVersion: Date?
    public var serverProfileVersion: Date?
    /// The current plan, if any.
    public var current: CurrentPlan?

    /// What the planner needs to know about the plan in force.
    public struct CurrentPlan: Sendable {
        public var id: Int64
        public var modelVersion: Int
        public var splitFingerprint: String?
        public var deviceFLOPs: Double
        public var serverFLOPs: Double
        public var batchSize: Int
        /// Compute seconds of its split (device + server), valid while FLOPs and batch are unchanged.
        public var computeSeconds: Double
        public var transferBytes: Double

        /// Its delay under new link rates, when the compute side has not changed (nil otherwise).
        public func delay(uplink: Double, downlink: Double, rtt: Double, deviceFLOPs: Double, serverFLOPs: Double, batchSize: Int) -> Double? {
            guard deviceFLOPs == self.deviceFLOPs, serverFLOPs == self.serverFLOPs, batchSize == self.batchSize else { return nil }
            return computeSeconds + 8 * transferBytes * (1 / uplink + 1 / downlink) + rtt
        }
    }
}

/// When a link has "moved": relative change of a rate, or absolute change of RTT, beyond these.
public struct ReplanThresholds: Sendable, Equatable {
    public var relativeRateChange: Double
    public var rttChangeSeconds: Double
    public var relativeComputeChange: Double

    public init(relativeRateChange: Double = 0.1, rttChangeSeconds: Double = 0.005, relativeComputeChange: Double = 0.1) {
        self.relativeRateChange = relativeRateChange
        self.rttChangeSeconds = rttChangeSeconds
        self.relativeComputeChange = relativeComputeChange
    }
}

/// What one evaluation of a candidate decided (stored whether or not a new plan was made).
public struct PlanEvaluation: Sendable {
    public var deviceID: String
    public var modelVersion: Int
    public var link: LinkEstimate
    public var deviceFLOPs: Double
    /// Fingerprint of the split in force after this evaluation.
    public var splitFingerprint: String?

    public init(deviceID: String, modelVersion: Int, link: LinkEstimate, deviceFLOPs: Double, splitFingerprint: String?) {
        self.deviceID = deviceID
        self.modelVersion = modelVersion
        self.link = link
        self.deviceFLOPs = deviceFLOPs
        self.splitFingerprint = splitFingerprint
    }
}

/// SQL for `split_plans`, `planning_state`, and enqueueing deliveries with new plans.
public enum PlanRepository {
    /// SHA-256 over model, version and the device/server side of every layer: equal iff the
    /// splits are equal.
    public static func fingerprint(modelName: String, modelVersion: Int, onDevice: [Bool]) -> String {
        var bytes = Data("\(modelName)\n\(modelVersion)\n".utf8)
        var byte: UInt8 = 0
        for (index, device) in onDevice.enumerated() {
            if device { byte |= 1 << UInt8(index % 8) }
            if index % 8 == 7 { bytes.append(byte); byte = 0 }
        }
        bytes.append(byte)
        return SHA256.hash(data: bytes).prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    /// Claims up to `limit` devices that need planning (`FOR UPDATE SKIP LOCKED` on their planning
    /// state, so concurrent replicas never claim the same device). Call inside a transaction and
    /// record the evaluations before committing.
    ///
    /// A device needs planning when something marked it (`requested_reason`): registration, a
    /// device or profile change, a new version of the model it follows, or ingest finding that its
    /// link moved beyond the thresholds since it was last evaluated. It must have a link estimate.
    public static func claimCandidates(limit: Int, connection: PostgresConnection) throws -> [PlanningCandidate] {
        let result = try connection.query("""
            SELECT d.id, d.model_name, coalesce(d.model_version, latest.version) AS target_version, d.edge_server_id,
                   es.compute_flops AS server_flops, d.batch_size, coalesce(e.compute_flops, d.compute_flops) AS device_flops,
                   d.allow_raw_upload, (d.callback_url IS NOT NULL AND d.webhook_enabled) AS deliverable,
                   e.uplink_bps, e.downlink_bps, e.rtt_seconds, e.compute_flops AS measured_flops, e.samples, e.measured_at,
                   s.requested_reason, dp.updated_at AS device_profile_at, sp.updated_at AS server_profile_at,
                   s.split_fingerprint, p.id AS plan_id, p.model_version AS plan_model_version, p.device_flops AS plan_device_flops,
                   p.server_flops AS plan_server_flops, p.batch_size AS plan_batch_size, p.transfer_bytes AS plan_transfer_bytes,
                   (p.breakdown->>'device_compute_seconds')::float8 + (p.breakdown->>'server_compute_seconds')::float8 AS plan_compute_seconds
            FROM planning_state s
            JOIN devices d ON d.id = s.device_id AND d.active
            JOIN edge_servers es ON es.id = d.edge_server_id
            JOIN link_estimates e ON e.device_id = d.id
            CROSS JOIN LATERAL (SELECT max(version) AS version FROM models m WHERE m.name = d.model_name) latest
            LEFT JOIN split_plans p ON p.device_id = d.id AND p.superseded_at IS NULL
            LEFT JOIN device_profiles dp ON dp.device_id = d.id
            LEFT JOIN server_profiles sp ON sp.edge_server_id = d.edge_server_id AND sp.model_name = d.model_name
            WHERE s.requested_reason IS NOT NULL
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
                    computeSeconds: try result.require(row, "plan_compute_seconds", result.double),
                    transferBytes: try result.require(row, "plan_transfer_bytes", result.double))
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
                link: LinkEstimate(
                    deviceID: deviceID, uplinkBitsPerSecond: try result.require(row, "uplink_bps", result.double),
                    downlinkBitsPerSecond: try result.require(row, "downlink_bps", result.double),
                    rttSeconds: try result.require(row, "rtt_seconds", result.double), computeFLOPs: result.double(row, "measured_flops"),
                    samples: try result.require(row, "samples", result.int), measuredAt: try result.require(row, "measured_at", result.date)),
                requestedReason: result.string(row, "requested_reason").flatMap(PlanReason.init(rawValue:)),
                deviceProfileVersion: result.date(row, "device_profile_at"), serverProfileVersion: result.date(row, "server_profile_at"),
                current: current)
        }
    }

    /// Records what was evaluated (clearing requests), in bulk.
    public static func recordEvaluations(_ evaluations: [PlanEvaluation], connection: PostgresConnection) throws {
        guard !evaluations.isEmpty else { return }
        try connection.query("""
            UPDATE planning_state s SET requested_reason = NULL, requested_at = NULL, evaluated_at = now(),
                   evaluated_model_version = v.model_version, evaluated_uplink_bps = v.uplink, evaluated_downlink_bps = v.downlink,
                   evaluated_rtt_seconds = v.rtt, evaluated_compute_flops = v.flops, split_fingerprint = v.fingerprint
            FROM unnest($1::text[], $2::int8[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::text[])
                 AS v(device_id, model_version, uplink, downlink, rtt, flops, fingerprint)
            WHERE s.device_id = v.device_id
            """, [evaluations.map(\.deviceID), PostgresValue.intArray(evaluations.map { Int64($0.modelVersion) }),
                  PostgresValue.doubleArray(evaluations.map(\.link.uplinkBitsPerSecond)),
                  PostgresValue.doubleArray(evaluations.map(\.link.downlinkBitsPerSecond)),
                  PostgresValue.doubleArray(evaluations.map(\.link.rttSeconds)), PostgresValue.doubleArray(evaluations.map(\.deviceFLOPs)),
                  PostgresValue.textArray(evaluations.map { $0.splitFingerprint ?? "" })])
    }

    /// Stores new plans in bulk: supersedes each device's current plan, drops its undelivered
    /// older deliveries, inserts the plans (COPY) and enqueues a delivery per deliverable plan, all
    /// on `connection` (call inside the claiming transaction). Returns the new plan ids in order.
    @discardableResult
    public static func store(_ plans: [NewPlan], connection: PostgresConnection) throws -> [Int64] {
        guard !plans.isEmpty else { return [] }
        let devices = plans.map(\.deviceID)
        guard Set(devices).count == devices.count else { throw StoreError(.invalid, "one plan per device per batch") }
        try connection.query("UPDATE split_plans SET superseded_at = now() WHERE device_id = ANY($1::text[]) AND superseded_at IS NULL", [devices])
        try connection.query("""
            UPDATE webhook_deliveries SET status = 'superseded', lease_owner = NULL, lease_expires_at = NULL
            WHERE device_id = ANY($1::text[]) AND status IN ('pending', 'failed')
            """, [devices])
        let idsResult = try connection.query("SELECT nextval('split_plans_id_seq') AS id FROM generate_series(1, $1)", [plans.count])
        let ids = try (0..<idsResult.rowCount).map { Int64(try idsResult.require($0, "id", idsResult.int)) }
        // Binary COPY: the layer-name arrays dominate, and binary arrays skip text parsing.
        try connection.copyInBinary("""
            COPY split_plans (id, device_id, model_name, model_version, algorithm, uplink_bps, downlink_bps, rtt_seconds,
                              device_flops, server_flops, batch_size, device_layers, cut_layers, predicted_delay_seconds,
                              transfer_bytes, breakdown, solve_microseconds, reason) FROM STDIN WITH (FORMAT binary)
            """) { writer in
            for (id, plan) in zip(ids, plans) {
                writer.beginRow()
                writer.int64(id)
                writer.text(plan.deviceID)
                writer.text(plan.modelName)
                writer.int32(Int32(plan.modelVersion))
                writer.text(plan.algorithm)
                writer.double(plan.conditions.uplinkBitsPerSecond)
                writer.double(plan.conditions.downlinkBitsPerSecond)
                writer.double(plan.conditions.rttSeconds)
                writer.double(plan.conditions.deviceFLOPsPerSecond)
                writer.double(plan.conditions.serverFLOPsPerSecond)
                writer.int32(Int32(plan.conditions.batchSize))
                writer.textArray(plan.deviceLayers)
                writer.textArray(plan.cutLayers)
                writer.double(plan.predictedDelaySeconds)
                writer.double(plan.transferBytes)
                writer.jsonb(breakdownJSON(plan.breakdown))
                writer.double(plan.solveMicroseconds)
                writer.text(plan.reason.rawValue)
                writer.endRow()
                try writer.flushIfFull()
            }
        }
        let deliveries = zip(ids, plans).filter { $0.1.deliver }
        if !deliveries.isEmpty {
            try connection.copyIn("COPY webhook_deliveries (id, plan_id, device_id) FROM STDIN",
                                  rows: deliveries.lazy.map { id, plan in ["msg_" + Secrets.randomToken(bytes: 16), String(id), plan.deviceID] })
        }
        return ids
    }

    /// The breakdown as JSON (the same keys as `DelayBreakdown`'s Codable form), written by hand:
    /// this runs once per stored plan.
    static func breakdownJSON(_ breakdown: DelayBreakdown) -> String {
        "{\"device_compute_seconds\": \(breakdown.deviceComputeSeconds), \"downlink_seconds\": \(breakdown.downlinkSeconds), "
            + "\"rtt_seconds\": \(breakdown.rttSeconds), \"server_compute_seconds\": \(breakdown.serverComputeSeconds), "
            + "\"uplink_seconds\": \(breakdown.uplinkSeconds)}"
    }

    /// The plan in force for a device.
    public static func current(deviceID: String, connection: PostgresConnection) throws -> StoredPlan? {
        let result = try connection.query("SELECT \(columns) FROM split_plans WHERE device_id = $1 AND superseded_at IS NULL", [deviceID])
        return result.rowCount > 0 ? try decode(result, 0) : nil
    }

    /// A device's plans, newest first, optionally only those computed before `before`.
    public static func history(deviceID: String, limit: Int, before: Date? = nil, connection: PostgresConnection) throws -> [StoredPlan] {
        let result = try connection.query("""
            SELECT \(columns) FROM split_plans WHERE device_id = $1 AND ($2::timestamptz IS NULL OR computed_at < $2)
            ORDER BY computed_at DESC, id DESC LIMIT $3
            """, [deviceID, before.map { PostgresValue.timestamp($0) } ?? .null, limit])
        return try (0..<result.rowCount).map { try decode(result, $0) }
    }

    public static func plan(id: Int64, connection: PostgresConnection) throws -> StoredPlan? {
        let result = try connection.query("SELECT \(columns) FROM split_plans WHERE id = $1", [id])
        return result.rowCount > 0 ? try decode(result, 0) : nil
    }

    static let columns = """
        id, device_id, model_name, model_version, computed_at, algorithm, uplink_bps, downlink_bps, rtt_seconds, device_flops,
        server_flops, batch_size, device_layers, cut_layers, predicted_delay_seconds, transfer_bytes, breakdown::text AS breakdown,
        solve_microseconds, superseded_at, reason
        """

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
            breakdownJSON: try result.require(row, "breakdown", result.string),
            solveMicroseconds: try result.require(row, "solve_microseconds", result.double),
            supersededAt: result.date(row, "superseded_at"), reason: try result.require(row, "reason", result.string))
    }
}
