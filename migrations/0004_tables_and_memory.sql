-- Plan tables pushed to devices, switching priced by migration, device memory limits.
--
-- A plan now carries the table it came from (`plan_tables`: the exact optimal split for every
-- link rate of one model version and compute side, stored once and shared like splits), the
-- device memory it needs and the limit it was made under. Devices say which optimizer they train
-- with (memory and migration sizes) and whether they want a push per table ('table', default:
-- they switch locally) or per split change ('split'). Telemetry may report the memory available
-- now; it moves the limit like a link change moves rates.

ALTER TABLE devices
    ADD COLUMN optimizer text NOT NULL DEFAULT 'adam' CHECK (optimizer IN ('sgd', 'momentum', 'adam')),
    ADD COLUMN push_mode text NOT NULL DEFAULT 'table' CHECK (push_mode IN ('table', 'split'));

ALTER TABLE telemetry ADD COLUMN memory_bytes double precision CHECK (memory_bytes > 0 AND memory_bytes < 'Infinity');
-- The latest reported available memory (not smoothed: a limit must hold as soon as it is known).
ALTER TABLE link_estimates ADD COLUMN memory_bytes double precision;

-- One row per distinct table document of a model version (keyed by its SHA-256).
CREATE TABLE plan_tables (
    id            bigserial   PRIMARY KEY,
    model_name    text        NOT NULL,
    model_version integer     NOT NULL,
    digest        text        NOT NULL,
    document      jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (model_name, model_version, digest),
    FOREIGN KEY (model_name, model_version) REFERENCES models (name, version)
);

ALTER TABLE plans
    ADD COLUMN table_id            bigint,   -- checked per statement below, like split_id
    ADD COLUMN optimizer           text,
    ADD COLUMN memory_limit_bytes  bigint,   -- the limit the plan was made under (NULL: none)
    ADD COLUMN device_memory_bytes bigint,   -- M(D) of its split
    ADD COLUMN memory_bound        boolean NOT NULL DEFAULT false;  -- the limit made it slower than the unlimited optimum
ALTER TABLE plans DROP CONSTRAINT plans_reason_check;
ALTER TABLE plans ADD CONSTRAINT plans_reason_check
    CHECK (reason IN ('new device', 'device changed', 'new profile', 'telemetry change', 'model change', 'memory change', 'requested'));

-- A device no split of its model fits: the least memory any valid split needs (NULL otherwise),
-- and the limit last evaluated (to notice when reported memory moves).
ALTER TABLE planning_state
    ADD COLUMN infeasible_required_bytes bigint,
    ADD COLUMN evaluated_memory_bytes    double precision;

CREATE OR REPLACE FUNCTION splitd_plans_check_references() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    missing text;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(splitd_plan_references_lock());
    SELECT n.device_id INTO missing FROM new_plans n WHERE NOT EXISTS (SELECT FROM devices d WHERE d.id = n.device_id) LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING MESSAGE = format('plan for unknown device %L', missing), TABLE = 'plans';
    END IF;
    SELECT n.split_id::text INTO missing FROM new_plans n WHERE NOT EXISTS (SELECT FROM splits s WHERE s.id = n.split_id) LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING MESSAGE = format('plan with unknown split %s', missing), TABLE = 'plans';
    END IF;
    SELECT n.table_id::text INTO missing FROM new_plans n
    WHERE n.table_id IS NOT NULL AND NOT EXISTS (SELECT FROM plan_tables t WHERE t.id = n.table_id) LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING MESSAGE = format('plan with unknown table %s', missing), TABLE = 'plans';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER plan_tables_keep_planned BEFORE DELETE OR UPDATE OF id ON plan_tables
    FOR EACH ROW EXECUTE FUNCTION splitd_keep_planned('table_id');

-- The views gain the new columns (at the end, so SQL written against them keeps working).
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
       p.table_id, p.optimizer, p.memory_limit_bytes, p.device_memory_bytes, p.memory_bound
FROM plans p
JOIN splits s ON s.id = p.split_id;

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
       w.status IS NOT NULL           AS pushed
FROM split_plans p
JOIN devices d ON d.id = p.device_id
LEFT JOIN LATERAL (
    SELECT status, attempts, delivered_at
    FROM webhook_deliveries w
    WHERE w.plan_id = p.id
    ORDER BY w.created_at DESC
    LIMIT 1
) w ON true;
