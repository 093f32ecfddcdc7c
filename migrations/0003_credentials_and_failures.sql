-- Credential rotation, secrets at rest, planning failures isolated per device, outbox by plan.

-- Rotation: the previous token stays valid until previous_token_expires_at (a grace period the
-- operator asks for, else it stops at once: NULL); the previous webhook secret keeps signing
-- alongside the new one until previous_secret_expires_at (the overlap window). Secrets are stored
-- encrypted (sbx1:...); tokens only as SHA-256.
ALTER TABLE devices
    ADD COLUMN previous_token_hash       text,
    ADD COLUMN previous_token_expires_at timestamptz,
    ADD COLUMN previous_webhook_secret   text,
    ADD COLUMN previous_secret_expires_at timestamptz;
CREATE UNIQUE INDEX devices_previous_token ON devices (previous_token_hash) WHERE previous_token_hash IS NOT NULL;

-- Who rotated which credential of which device, when, and until when the old one stays valid.
-- Nothing secret is recorded.
CREATE TABLE credential_rotations (
    id                   bigserial   PRIMARY KEY,
    device_id            text        NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    credential           text        NOT NULL CHECK (credential IN ('token', 'webhook_secret')),
    rotated_at           timestamptz NOT NULL DEFAULT now(),
    rotated_by           text        NOT NULL,
    previous_valid_until timestamptz
);
CREATE INDEX credential_rotations_device ON credential_rotations (device_id, rotated_at DESC);

-- Deployment-wide settings; today the digest of the key that encrypts stored secrets.
CREATE TABLE splitd_settings (
    name       text        PRIMARY KEY,
    value      text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A device whose planning fails (a poisoned row, say) is recorded and retried later with
-- exponential backoff, instead of failing the batch for everyone.
ALTER TABLE planning_state
    ADD COLUMN failures     integer     NOT NULL DEFAULT 0,
    ADD COLUMN last_failure text,
    ADD COLUMN retry_at     timestamptz;

-- History queries join deliveries by plan.
CREATE INDEX webhook_deliveries_plan ON webhook_deliveries (plan_id);
