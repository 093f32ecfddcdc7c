-- splitd schema, version 2: plans share their splits, keep their delay breakdown in columns, and
-- have their references checked per statement.
--
-- A fleet running one model uses few distinct splits (2 for 100,000 ResNet-50 devices benchmarked),
-- yet every plan stored its layer lists again (73 names, about 1 KB, on average). Splits now live
-- once in `splits`; the plan table (renamed `plans`) keeps a `split_id`. The view `split_plans`
-- joins them back with the same columns as before, so SQL against `split_plans` and
-- `split_history` keeps working. The breakdown moves from jsonb (parsed per stored plan) to four
-- columns; the view rebuilds the same jsonb (its RTT term is the plan's `rtt_seconds`).
--
-- PostgreSQL checks a foreign key with one trigger call per inserted row (about 10 us each), which
-- dominated storing 100,000 plans. `plans` checks its references once per statement instead
-- (`splitd_plans_check_references`, over the transition table), and the referenced rows refuse
-- to go away while plans use them; an advisory lock orders the two (see below).

-- The key of a split within its model version: SHA-256 over the device side's layer names.
CREATE FUNCTION splitd_split_digest(device_layers text[]) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT encode(sha256(convert_to(device_layers::text, 'UTF8')), 'hex') $$;

CREATE TABLE splits (
    id            bigserial   PRIMARY KEY,
    model_name    text        NOT NULL,
    model_version integer     NOT NULL,
    digest        text        NOT NULL,
    device_layers text[]      NOT NULL,
    cut_layers    text[]      NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (digest = splitd_split_digest(device_layers)),
    UNIQUE (model_name, model_version, digest),
    FOREIGN KEY (model_name, model_version) REFERENCES models (name, version)
);
DO $$
BEGIN
    ALTER TABLE splits ALTER COLUMN device_layers SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    NULL;
END
$$;

INSERT INTO splits (model_name, model_version, digest, device_layers, cut_layers)
SELECT DISTINCT ON (model_name, model_version, splitd_split_digest(device_layers))
       model_name, model_version, splitd_split_digest(device_layers), device_layers, cut_layers
FROM split_plans
ORDER BY model_name, model_version, splitd_split_digest(device_layers), id;

DROP VIEW split_history;
ALTER TABLE split_plans RENAME TO plans;
ALTER SEQUENCE split_plans_id_seq RENAME TO plans_id_seq;
ALTER INDEX split_plans_pkey RENAME TO plans_pkey;
ALTER INDEX split_plans_current RENAME TO plans_current;
ALTER INDEX split_plans_device_time RENAME TO plans_device_time;
ALTER TABLE plans
    ADD COLUMN split_id bigint,
    ADD COLUMN device_compute_seconds double precision,
    ADD COLUMN server_compute_seconds double precision,
    ADD COLUMN uplink_seconds double precision,
    ADD COLUMN downlink_seconds double precision;
UPDATE plans p SET split_id = s.id,
       device_compute_seconds = (p.breakdown->>'device_compute_seconds')::float8,
       server_compute_seconds = (p.breakdown->>'server_compute_seconds')::float8,
       uplink_seconds = (p.breakdown->>'uplink_seconds')::float8,
       downlink_seconds = (p.breakdown->>'downlink_seconds')::float8
FROM splits s
WHERE s.model_name = p.model_name AND s.model_version = p.model_version AND s.digest = splitd_split_digest(p.device_layers);
ALTER TABLE plans
    ALTER COLUMN split_id SET NOT NULL,
    ALTER COLUMN device_compute_seconds SET NOT NULL,
    ALTER COLUMN server_compute_seconds SET NOT NULL,
    ALTER COLUMN uplink_seconds SET NOT NULL,
    ALTER COLUMN downlink_seconds SET NOT NULL,
    DROP CONSTRAINT split_plans_device_id_fkey,
    DROP CONSTRAINT split_plans_model_name_model_version_fkey,
    DROP COLUMN model_name,
    DROP COLUMN model_version,
    DROP COLUMN device_layers,
    DROP COLUMN cut_layers,
    DROP COLUMN breakdown;
ALTER TABLE plans RENAME CONSTRAINT split_plans_reason_check TO plans_reason_check;

-- Foreign keys, set-based. A statement adding plans holds this advisory lock shared until commit;
-- deleting (or re-keying) a device or split takes it exclusively before looking for its plans. So a
-- delete waits for every open plan writer and then sees their plans, and a writer waits for an
-- open delete and then sees the row gone: the guarantee a foreign key gives, without a lock per
-- referenced row. (Like any check made in a trigger, it relies on READ COMMITTED, splitd's level.)
CREATE FUNCTION splitd_plan_references_lock() RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 5901102001::bigint $$;

CREATE FUNCTION splitd_plans_check_references() RETURNS trigger
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
    RETURN NULL;
END;
$$;
CREATE TRIGGER plans_check_references AFTER INSERT ON plans
    REFERENCING NEW TABLE AS new_plans FOR EACH STATEMENT EXECUTE FUNCTION splitd_plans_check_references();

-- A plan is history: only `superseded_at` may change after it is written.
CREATE FUNCTION splitd_plans_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE integrity_constraint_violation USING MESSAGE = format('plan %s: only superseded_at may change', OLD.id), TABLE = 'plans';
END;
$$;
CREATE TRIGGER plans_immutable BEFORE UPDATE OF id, device_id, split_id ON plans
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.device_id IS DISTINCT FROM NEW.device_id OR OLD.split_id IS DISTINCT FROM NEW.split_id)
    EXECUTE FUNCTION splitd_plans_immutable();

-- Devices and splits with plans are not deleted (devices are deactivated instead), nor re-keyed.
-- (Checking a split scans `plans`; splitd never deletes splits, so no index is kept for it.)
-- TG_ARGV[0]: the column of `plans` that references the row.
CREATE FUNCTION splitd_keep_planned() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    used boolean;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    PERFORM pg_advisory_xact_lock(splitd_plan_references_lock());
    EXECUTE format('SELECT EXISTS (SELECT FROM plans WHERE %I = $1)', TG_ARGV[0]) INTO used USING OLD.id;
    IF used THEN
        RAISE foreign_key_violation USING MESSAGE = format('%s %L is used by plans (devices are deactivated, not deleted)', TG_TABLE_NAME, OLD.id),
                                          TABLE = TG_TABLE_NAME;
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END;
$$;
CREATE TRIGGER devices_keep_planned BEFORE DELETE OR UPDATE OF id ON devices
    FOR EACH ROW EXECUTE FUNCTION splitd_keep_planned('device_id');
CREATE TRIGGER splits_keep_planned BEFORE DELETE OR UPDATE OF id ON splits
    FOR EACH ROW EXECUTE FUNCTION splitd_keep_planned('split_id');

-- The history with its splits, under the old name and columns (the breakdown rebuilt as jsonb),
-- then the split id and the breakdown's terms as columns.
CREATE VIEW split_plans AS
SELECT p.id, p.device_id, s.model_name, s.model_version, p.computed_at, p.algorithm, p.uplink_bps, p.downlink_bps,
       p.rtt_seconds, p.device_flops, p.server_flops, p.batch_size, s.device_layers, s.cut_layers,
       p.predicted_delay_seconds, p.transfer_bytes,
       jsonb_build_object('device_compute_seconds', p.device_compute_seconds, 'downlink_seconds', p.downlink_seconds,
                          'rtt_seconds', p.rtt_seconds, 'server_compute_seconds', p.server_compute_seconds,
                          'uplink_seconds', p.uplink_seconds) AS breakdown,
       p.solve_microseconds, p.superseded_at, p.reason, p.split_id,
       p.device_compute_seconds, p.server_compute_seconds, p.uplink_seconds, p.downlink_seconds
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
       p.split_id
FROM split_plans p
JOIN devices d ON d.id = p.device_id
LEFT JOIN LATERAL (
    SELECT status, attempts, delivered_at
    FROM webhook_deliveries w
    WHERE w.plan_id = p.id
    ORDER BY w.created_at DESC
    LIMIT 1
) w ON true;
