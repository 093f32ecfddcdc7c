-- splitd schema, version 5: a history that stays fast as it grows, and an outbox that is trimmed.
--
-- `split_history` found each plan's delivery with a LATERAL subquery (newest by created_at,
-- LIMIT 1): one probe into the outbox for every plan row a query touched, whether or not it used
-- a delivery column, and one the planner can never leave out. "The splits in force" walked all
-- current plans and probed the outbox for each; one device's history got slower as the outbox grew.
-- A plan has at most one delivery (PlanRepository.store enqueues one per pushed plan; nothing else
-- adds deliveries), so the outbox now says so with a unique index on plan_id, and the view joins it
-- with a plain LEFT JOIN. PostgreSQL removes a LEFT JOIN to a unique key whose columns a query does
-- not use, so the view costs only the tables a query reads: the devices join is a LEFT JOIN too
-- (every plan's device exists and cannot be deleted, see 0002: the same rows), and "the splits in
-- force" reads a small partial index of the current plans instead of their rows.
--
-- Finished deliveries are deleted after SPLITD_DELIVERY_RETENTION by the maintenance leader
-- (DeliveryRepository.trimFinished), so whether a plan was pushed can no longer be read from the
-- outbox: `plans.pushed` records it, written with the plan in the same transaction as its
-- delivery, and backfilled here. After a plan's delivery is trimmed, split_history still says it
-- was pushed; only the delivery's status, attempts and time read NULL. The delivery of a plan in
-- force is never trimmed.

-- At most one delivery per plan. splitd never enqueued two; should a database hold some made by
-- hand, the older ones go (the view only ever showed the newest).
DELETE FROM webhook_deliveries w
WHERE EXISTS (SELECT FROM webhook_deliveries newer
              WHERE newer.plan_id = w.plan_id AND (newer.created_at, newer.id) > (w.created_at, w.id));
CREATE UNIQUE INDEX webhook_deliveries_one_per_plan ON webhook_deliveries (plan_id);
DROP INDEX webhook_deliveries_plan;  -- (0003) the unique index serves its lookups

-- Finished deliveries by the time of their last activity (creation, last scheduled attempt,
-- delivery), oldest first: the order trimming walks them in, one key range per batch.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries ((greatest(created_at, next_attempt_at, delivered_at)), id)
    WHERE status IN ('delivered', 'dead', 'superseded');

-- Whether a delivery was enqueued for the plan (it was pushed), kept when the delivery is trimmed.
ALTER TABLE plans ADD COLUMN pushed boolean NOT NULL DEFAULT false;
UPDATE plans p SET pushed = true WHERE EXISTS (SELECT FROM webhook_deliveries w WHERE w.plan_id = p.id);

-- The plans in force by split, with their predicted delay: "the splits in force, per model" is an
-- index-only scan of one row per device, wherever the current plans lie in the table.
CREATE INDEX plans_current_split ON plans (split_id) INCLUDE (predicted_delay_seconds) WHERE superseded_at IS NULL;

-- The views: same columns in the same order (split_plans gains `pushed` at the end).
DROP VIEW split_history;
CREATE OR REPLACE VIEW split_plans AS
SELECT p.id, p.device_id, s.model_name, s.model_version, p.computed_at, p.algorithm, p.uplink_bps, p.downlink_bps,
       p.rtt_seconds, p.device_flops, p.server_flops, p.batch_size, s.device_layers, s.cut_layers,
       p.predicted_delay_seconds, p.transfer_bytes,
       jsonb_build_object('device_compute_seconds', p.device_compute_seconds, 'downlink_seconds', p.downlink_seconds,
                          'rtt_seconds', p.rtt_seconds, 'server_compute_seconds', p.server_compute_seconds,
                          'uplink_seconds', p.uplink_seconds) AS breakdown,
       p.solve_microseconds, p.superseded_at, p.reason, p.split_id,
       p.device_compute_seconds, p.server_compute_seconds, p.uplink_seconds, p.downlink_seconds,
       p.table_id, p.optimizer, p.memory_limit_bytes, p.device_memory_bytes, p.memory_bound,
       p.pushed
FROM plans p
JOIN splits s ON s.id = p.split_id;

-- "Which split did device X use when, and why": one row per plan, newest first per device.
CREATE VIEW split_history AS
SELECT p.device_id                    AS device,
       p.id                           AS plan_id,
       p.computed_at                  AS valid_from,
       p.superseded_at                AS valid_until,
       p.reason,
       p.model_name                   AS model,
       p.model_version,
       p.algorithm,
       p.cut_layers,
       cardinality(p.device_layers)   AS device_layer_count,
       p.predicted_delay_seconds,
       p.transfer_bytes,
       p.uplink_bps,
       p.downlink_bps,
       p.rtt_seconds,
       p.device_flops,
       p.server_flops,
       p.batch_size,
       p.breakdown,
       d.edge_server_id               AS edge_server,
       w.status                       AS delivery_status,
       w.attempts                     AS delivery_attempts,
       w.delivered_at,
       p.split_id,
       p.table_id,
       p.memory_limit_bytes,
       p.device_memory_bytes,
       p.memory_bound,
       p.pushed
FROM split_plans p
LEFT JOIN devices d ON d.id = p.device_id
LEFT JOIN webhook_deliveries w ON w.plan_id = p.id;
