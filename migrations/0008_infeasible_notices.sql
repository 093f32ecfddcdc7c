-- splitd schema, version 8: an infeasible device is told.
--
-- When no split of a device's model fits its memory, its plan in force ends (it can no longer
-- run it) and, until now, nothing was pushed: the device kept training with a split needing more
-- memory than it has. Now the outbox also carries notices: a delivery with no plan and a `notice`
-- document (`split_plan.infeasible`: the memory the smallest valid split needs and the limit),
-- enqueued when a device becomes infeasible or the memory it needs changes. A notice's sequence
-- comes from the plans' id sequence, so a device orders notices and plans by one number; the next
-- plan (once its memory grows) supersedes an unfinished notice and is pushed as any first plan.

ALTER TABLE webhook_deliveries
    ALTER COLUMN plan_id DROP NOT NULL,
    ADD COLUMN notice jsonb,
    ADD CONSTRAINT webhook_deliveries_plan_or_notice CHECK ((plan_id IS NULL) <> (notice IS NULL));

-- A device's unfinished notices (storing a plan or a newer notice supersedes them).
CREATE INDEX webhook_deliveries_open_notices ON webhook_deliveries (device_id)
    WHERE notice IS NOT NULL AND status IN ('pending', 'failed', 'delivering');

-- A delivery is for a plan of its own device, or is a notice to an existing device (0006 checked
-- plans only).
CREATE OR REPLACE FUNCTION splitd_deliveries_check_references() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    missing text;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(splitd_plan_references_lock());
    SELECT n.id INTO missing FROM new_deliveries n
    WHERE CASE WHEN n.plan_id IS NULL THEN NOT EXISTS (SELECT FROM devices d WHERE d.id = n.device_id)
               ELSE NOT EXISTS (SELECT FROM plans p WHERE p.id = n.plan_id AND p.device_id = n.device_id) END
    LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING MESSAGE = format('delivery %L is not for a plan of its device nor a notice to a device', missing),
                                          TABLE = 'webhook_deliveries';
    END IF;
    RETURN NULL;
END;
$$;
