-- splitd schema, version 13: the daemon's switching rule keeps its state, refused moves are
-- recorded, and a device may choose its own rule.
--
-- The default rule is the payback rule (docs/switching.md): per segment of the device's plan table
-- it accrues the training seconds the segment would have saved since it became better than the
-- split in use, and moves once they pay for the migration. Those few numbers live with the
-- planning state, with the digest of the table they are for (a new table restarts them) and the
-- time a refused better split's savings would pay (ingest asks for planning then). Every refusal
-- of a better split is a row of `refused_moves`: the saving per iteration, the migration seconds
-- and the rule's reason, for `split_history`-style queries, /metrics and the dashboard.

ALTER TABLE devices ADD COLUMN switching jsonb;  -- the device's rule (SwitchingPolicy JSON); NULL: the daemon's

ALTER TABLE planning_state
    ADD COLUMN switching_accrued float8[],
    ADD COLUMN switching_table text,
    ADD COLUMN revisit_at timestamptz;

CREATE TABLE refused_moves (
    id                           bigserial   PRIMARY KEY,
    device_id                    text        NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    recorded_at                  timestamptz NOT NULL DEFAULT now(),
    reason                       text        NOT NULL,
    rule                         text        NOT NULL,
    current_seconds              float8      NOT NULL,
    candidate_seconds            float8      NOT NULL,
    saving_seconds_per_iteration float8      NOT NULL,
    migration_seconds            float8      NOT NULL,
    accrued_saving_seconds       float8      NOT NULL,
    required_saving_seconds      float8      NOT NULL,
    revisit_at                   timestamptz,
    cut_layers                   text[]      NOT NULL
);
CREATE INDEX refused_moves_device ON refused_moves (device_id, recorded_at DESC);
CREATE INDEX refused_moves_recorded ON refused_moves (recorded_at);
