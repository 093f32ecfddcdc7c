-- splitd schema, version 6: an outbox that costs little per row, for fleets of a million devices.
--
-- Planning 1,000,000 new devices (`splitd bench fleet --devices 1000000`) spent 57 of its 81 s
-- enqueueing their webhook deliveries (README, "Performance"): each row checked two foreign keys
-- (an index probe and a row lock on its device and on its plan, per row), went into an index on
-- (device_id, created_at) that only finds a device's unfinished deliveries, and took a random
-- primary key. Now:
--
-- * The foreign keys are checked once per statement, as the plans' are (0002): a delivery must
--   belong to a plan of its own device, and a plan with a delivery cannot be deleted (delete its
--   delivery first; README's statement for trimming old history does). Same advisory lock, same
--   guarantee: a writer holds it shared until commit, a delete takes it exclusively.
-- * A device's unfinished deliveries are found through its plans: only the plan in force can have
--   one (storing a plan supersedes the previous plan's delivery in the same statement, and a
--   superseded delivery is never pending again), so `plan_id`'s unique index (0005) serves. What
--   still looks deliveries up by device is "is another attempt for this device in flight", which
--   a partial index of the leased rows answers; rows enter it only when leased.
-- * Message ids start with their plan id in fixed-width hex (PlanRepository.store), so the
--   primary key grows at its right edge instead of touching a random leaf per row.

ALTER TABLE webhook_deliveries
    DROP CONSTRAINT webhook_deliveries_plan_id_fkey,
    DROP CONSTRAINT webhook_deliveries_device_id_fkey;

CREATE FUNCTION splitd_deliveries_check_references() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    missing text;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(splitd_plan_references_lock());
    SELECT n.id INTO missing FROM new_deliveries n
    WHERE NOT EXISTS (SELECT FROM plans p WHERE p.id = n.plan_id AND p.device_id = n.device_id) LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING MESSAGE = format('delivery %L is not for a plan of its device', missing),
                                          TABLE = 'webhook_deliveries';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER webhook_deliveries_check_references AFTER INSERT ON webhook_deliveries
    REFERENCING NEW TABLE AS new_deliveries FOR EACH STATEMENT EXECUTE FUNCTION splitd_deliveries_check_references();

-- A delivery's plan and device never change.
CREATE FUNCTION splitd_deliveries_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE integrity_constraint_violation USING MESSAGE = format('delivery %L: its plan and device cannot change', OLD.id),
                                               TABLE = 'webhook_deliveries';
END;
$$;
CREATE TRIGGER webhook_deliveries_immutable BEFORE UPDATE OF plan_id, device_id ON webhook_deliveries
    FOR EACH ROW WHEN (OLD.plan_id IS DISTINCT FROM NEW.plan_id OR OLD.device_id IS DISTINCT FROM NEW.device_id)
    EXECUTE FUNCTION splitd_deliveries_immutable();

-- Plans with a delivery are not deleted (deleting both in one statement is fine: the check runs
-- after the whole statement).
CREATE FUNCTION splitd_plans_keep_delivered() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    kept text;
BEGIN
    PERFORM pg_advisory_xact_lock(splitd_plan_references_lock());
    SELECT o.id::text INTO kept FROM old_plans o WHERE EXISTS (SELECT FROM webhook_deliveries w WHERE w.plan_id = o.id) LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING MESSAGE = format('plan %s has a webhook delivery; delete the delivery first', kept),
                                          TABLE = 'plans';
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER plans_keep_delivered AFTER DELETE ON plans
    REFERENCING OLD TABLE AS old_plans FOR EACH STATEMENT EXECUTE FUNCTION splitd_plans_keep_delivered();

DROP INDEX webhook_deliveries_device;
CREATE INDEX webhook_deliveries_leased_device ON webhook_deliveries (device_id) WHERE lease_expires_at IS NOT NULL;

-- Planning records its evaluation in the statement that claims the batch (PlanRepository.
-- claimCandidates), so a device whose plan is stored needs no second write to `planning_state`.
-- What that second write kept, the fingerprint of the split in force, is a property of the split:
-- it moves to `splits` (set when a split is added; here, from the devices running it).
-- `planning_state.split_fingerprint` is no longer written.
ALTER TABLE splits ADD COLUMN fingerprint text;
UPDATE splits sp SET fingerprint = s.split_fingerprint
FROM plans p JOIN planning_state s ON s.device_id = p.device_id
WHERE p.superseded_at IS NULL AND p.split_id = sp.id AND s.split_fingerprint IS NOT NULL;
COMMENT ON COLUMN planning_state.split_fingerprint IS 'unused since 0006: see splits.fingerprint';
