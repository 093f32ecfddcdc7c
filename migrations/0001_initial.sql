-- splitd schema, version 1.
-- Applied by `splitd migrate` (or at daemon start) inside one transaction, recorded in
-- schema_migrations with its SHA-256. Never edit an applied migration: add a new file.

-- Model graphs (splitgraph/1), versioned: a new version only when the graph's content changes.
CREATE TABLE models (
    name        text        NOT NULL CHECK (name <> ''),
    version     integer     NOT NULL CHECK (version >= 1),
    graph       jsonb       NOT NULL,
    layer_count integer     NOT NULL CHECK (layer_count > 0),
    block_count integer     NOT NULL CHECK (block_count >= 0),
    sha256      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version),
    UNIQUE (name, sha256)
);

CREATE TABLE edge_servers (
    id            text             PRIMARY KEY CHECK (id <> ''),
    compute_flops double precision NOT NULL CHECK (compute_flops > 0 AND compute_flops < 'Infinity'),
    created_at    timestamptz      NOT NULL DEFAULT now(),
    updated_at    timestamptz      NOT NULL DEFAULT now()
);

-- Devices of the fleet. The API token is stored only as its SHA-256; the webhook secret is
-- needed to sign deliveries and is stored as issued.
CREATE TABLE devices (
    id               text             PRIMARY KEY CHECK (id <> ''),
    model_name       text             NOT NULL,
    model_version    integer          CHECK (model_version >= 1),  -- pinned version; NULL follows the latest
    edge_server_id   text             NOT NULL REFERENCES edge_servers (id),
    batch_size       integer          NOT NULL CHECK (batch_size BETWEEN 1 AND 1000000),
    compute_flops    double precision NOT NULL CHECK (compute_flops > 0 AND compute_flops < 'Infinity'),
    memory_bytes     bigint           CHECK (memory_bytes > 0),
    allow_raw_upload boolean          NOT NULL DEFAULT false,
    callback_url     text,
    webhook_secret   text             NOT NULL,
    webhook_enabled  boolean          NOT NULL DEFAULT true,       -- false after a receiver answered 410 Gone
    token_hash       text             NOT NULL UNIQUE,
    active           boolean          NOT NULL DEFAULT true,       -- false after DELETE; history is kept
    created_at       timestamptz      NOT NULL DEFAULT now(),
    updated_at       timestamptz      NOT NULL DEFAULT now()
);
CREATE INDEX devices_model ON devices (model_name) WHERE active;

-- Optional measured per-layer times (splitprofile/1).
CREATE TABLE device_profiles (
    device_id  text        PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    profile    jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE server_profiles (
    edge_server_id text        NOT NULL REFERENCES edge_servers (id) ON DELETE CASCADE,
    model_name     text        NOT NULL,
    profile        jsonb       NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (edge_server_id, model_name)
);

-- Raw network telemetry, range-partitioned by day (UTC). Partitions are created ahead by the
-- maintenance leader and on demand by ingest; old ones are dropped by the retention setting.
-- Devices are checked by the API before a batch is stored (no per-row foreign key, for COPY speed).
CREATE TABLE telemetry (
    device_id     text             NOT NULL,
    measured_at   timestamptz      NOT NULL,
    uplink_bps    double precision NOT NULL CHECK (uplink_bps > 0 AND uplink_bps < 'Infinity'),
    downlink_bps  double precision NOT NULL CHECK (downlink_bps > 0 AND downlink_bps < 'Infinity'),
    rtt_seconds   double precision NOT NULL CHECK (rtt_seconds >= 0 AND rtt_seconds < 'Infinity'),
    compute_flops double precision CHECK (compute_flops > 0 AND compute_flops < 'Infinity'),
    received_at   timestamptz      NOT NULL DEFAULT now()
) PARTITION BY RANGE (measured_at);
CREATE INDEX telemetry_device_time ON telemetry (device_id, measured_at);

-- The latest smoothed link estimate per device, maintained on ingest (see README: EWMA).
CREATE TABLE link_estimates (
    device_id     text             PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    uplink_bps    double precision NOT NULL,
    downlink_bps  double precision NOT NULL,
    rtt_seconds   double precision NOT NULL,
    compute_flops double precision,
    samples       bigint           NOT NULL DEFAULT 0,
    measured_at   timestamptz      NOT NULL,   -- time of the newest sample folded in
    updated_at    timestamptz      NOT NULL DEFAULT now()
) WITH (fillfactor = 70);  -- room for HOT updates: every ingest rewrites these rows

-- The full history of split plans. Exactly one current plan (superseded_at IS NULL) per device.
CREATE TABLE split_plans (
    id                      bigserial        PRIMARY KEY,
    device_id               text             NOT NULL REFERENCES devices (id),
    model_name              text             NOT NULL,
    model_version           integer          NOT NULL,
    computed_at             timestamptz      NOT NULL DEFAULT now(),
    algorithm               text             NOT NULL,
    uplink_bps              double precision NOT NULL,
    downlink_bps            double precision NOT NULL,
    rtt_seconds             double precision NOT NULL,
    device_flops            double precision NOT NULL,
    server_flops            double precision NOT NULL,
    batch_size              integer          NOT NULL,
    device_layers           text[]           NOT NULL,
    cut_layers              text[]           NOT NULL,
    predicted_delay_seconds double precision NOT NULL,
    transfer_bytes          double precision NOT NULL,   -- per iteration, one direction
    breakdown               jsonb            NOT NULL,
    solve_microseconds      double precision NOT NULL,
    superseded_at           timestamptz,
    reason                  text             NOT NULL
        CHECK (reason IN ('new device', 'device changed', 'new profile', 'telemetry change', 'model change', 'requested')),
    FOREIGN KEY (model_name, model_version) REFERENCES models (name, version)
);
CREATE UNIQUE INDEX split_plans_current ON split_plans (device_id) WHERE superseded_at IS NULL;
-- Long layer lists are TOASTed; lz4 compresses them several times faster than the default pglz.
-- Servers built without lz4 keep pglz.
DO $$
BEGIN
    ALTER TABLE split_plans ALTER COLUMN device_layers SET COMPRESSION lz4;
    ALTER TABLE split_plans ALTER COLUMN breakdown SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    NULL;
END
$$;
CREATE INDEX split_plans_device_time ON split_plans (device_id, computed_at DESC);

-- Planner bookkeeping per device: why it needs planning (set where the change happens:
-- registration, device or profile edits, a new model version, or ingest when the link estimate
-- moves beyond the threshold since the last evaluation) and what that last evaluation saw.
-- Planning claims only rows with a reason, through the partial index, so a cycle costs what
-- changed, not the fleet size.
CREATE TABLE planning_state (
    device_id               text             PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    requested_reason        text,            -- set by API changes; cleared when evaluated
    requested_at            timestamptz,
    evaluated_at            timestamptz,
    evaluated_model_version integer,
    evaluated_uplink_bps    double precision,
    evaluated_downlink_bps  double precision,
    evaluated_rtt_seconds   double precision,
    evaluated_compute_flops double precision,
    split_fingerprint       text             -- digest of the current plan's split (model, version, sides)
);
CREATE INDEX planning_state_due ON planning_state (requested_at) WHERE requested_reason IS NOT NULL;

-- The webhook outbox. `id` is the message id sent as `webhook-id`, the same on every retry.
CREATE TABLE webhook_deliveries (
    id               text        PRIMARY KEY,
    plan_id          bigint      NOT NULL REFERENCES split_plans (id),
    device_id        text        NOT NULL REFERENCES devices (id),
    status           text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivering', 'delivered', 'failed', 'dead', 'superseded')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_owner      text,
    lease_expires_at timestamptz,
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status IN ('pending', 'failed');
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (lease_expires_at) WHERE status = 'delivering';
CREATE INDEX webhook_deliveries_device ON webhook_deliveries (device_id, created_at DESC);

-- Named leases (maintenance leadership). The fencing token grows on every change of owner.
CREATE TABLE leases (
    name          text        PRIMARY KEY,
    owner         text        NOT NULL,
    fencing_token bigint      NOT NULL,
    expires_at    timestamptz NOT NULL
);

-- Creates the daily telemetry partitions covering [first_day, last_day] (UTC); returns how many
-- were created. Safe to call concurrently.
CREATE FUNCTION splitd_ensure_telemetry_partitions(first_day date, last_day date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    day date := first_day;
    created integer := 0;
    partition text;
BEGIN
    WHILE day <= last_day LOOP
        partition := 'telemetry_' || to_char(day, 'YYYYMMDD');
        IF to_regclass(partition) IS NULL THEN
            BEGIN
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF telemetry FOR VALUES FROM (%L) TO (%L)',
                    partition, (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'));
                created := created + 1;
            EXCEPTION WHEN duplicate_table THEN
                NULL;  -- another session created it first
            END;
        END IF;
        day := day + 1;
    END LOOP;
    RETURN created;
END;
$$;

-- Drops daily telemetry partitions that end before now() - keep_days; returns their names.
CREATE FUNCTION splitd_drop_telemetry_partitions(keep_days integer) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    child regclass;
    cutoff date := (now() AT TIME ZONE 'UTC')::date - keep_days;
BEGIN
    FOR child IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'telemetry'::regclass LOOP
        IF child::text ~ '^telemetry_[0-9]{8}$' AND to_date(substr(child::text, 11), 'YYYYMMDD') + 1 <= cutoff THEN
            EXECUTE format('DROP TABLE %s', child);
            RETURN NEXT child::text;
        END IF;
    END LOOP;
END;
$$;

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
       w.delivered_at
FROM split_plans p
JOIN devices d ON d.id = p.device_id
LEFT JOIN LATERAL (
    SELECT status, attempts, delivered_at
    FROM webhook_deliveries w
    WHERE w.plan_id = p.id
    ORDER BY w.created_at DESC
    LIMIT 1
) w ON true;
