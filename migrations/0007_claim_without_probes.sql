-- splitd schema, version 7: a planning claim that reads only the devices it plans.
--
-- A device is claimable when it has a planning request, is active and has a link estimate. The
-- claim checked the last two per queued row, with one index probe into `devices` and one into
-- `link_estimates` (about 5 µs each on the 2-core machine: a quarter of the cycle for a million new
-- devices), and every cycle re-checked every request of a device that had not reported yet: a
-- thousand registered but silent devices cost two thousand probes every ten seconds. Now:
--
-- * `planning_state.link_known` says that the device has a link estimate. Estimates are only
--   ever added (and removed with their device), so triggers keep it exact: adding an estimate
--   sets it, and a planning row added after the estimate starts with it set.
-- * The queue's index holds only claimable requests (`requested_reason IS NOT NULL AND
--   link_known`); a silent device's request waits outside it. It is ordered by request time and
--   then device id: a worker claims behind the last request it took (claimed requests leave dead
--   entries at the head until vacuum), and the many requests of one event (a new model version,
--   a fleet registered in bulk) share one time, so a batch is a run of neighbouring device ids and
--   its probes and plan inserts touch neighbouring index pages.
-- * Deactivation drops the device's request (it is never planned again); the claim still reads
--   `devices.active`, since it reads the device row anyway, and drops the request of an inactive
--   device it meets instead of planning it.

ALTER TABLE planning_state ADD COLUMN link_known boolean NOT NULL DEFAULT false;
UPDATE planning_state s SET link_known = true WHERE EXISTS (SELECT FROM link_estimates e WHERE e.device_id = s.device_id);

CREATE FUNCTION splitd_link_estimates_known() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE planning_state s SET link_known = true FROM new_estimates n WHERE s.device_id = n.device_id AND NOT s.link_known;
    RETURN NULL;
END;
$$;
-- (Only rows actually inserted are in `new_estimates`; the upserts of later samples are not.)
CREATE TRIGGER link_estimates_known AFTER INSERT ON link_estimates
    REFERENCING NEW TABLE AS new_estimates FOR EACH STATEMENT EXECUTE FUNCTION splitd_link_estimates_known();

CREATE FUNCTION splitd_planning_state_link_known() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.link_known := EXISTS (SELECT FROM link_estimates e WHERE e.device_id = NEW.device_id);
    RETURN NEW;
END;
$$;
CREATE TRIGGER planning_state_link_known BEFORE INSERT ON planning_state
    FOR EACH ROW EXECUTE FUNCTION splitd_planning_state_link_known();

UPDATE planning_state s SET requested_reason = NULL, requested_at = NULL
FROM devices d WHERE d.id = s.device_id AND NOT d.active AND s.requested_reason IS NOT NULL;

DROP INDEX planning_state_due;
CREATE INDEX planning_state_due ON planning_state (requested_at, device_id) WHERE requested_reason IS NOT NULL AND link_known;

-- The queue is ordered by request time, then device id, and a planning worker claims behind the
-- last request it took (PlanRepository.claimCandidates): every request has its time.
UPDATE planning_state SET requested_at = now() WHERE requested_reason IS NOT NULL AND requested_at IS NULL;
ALTER TABLE planning_state ADD CONSTRAINT planning_state_request_time CHECK (requested_reason IS NULL OR requested_at IS NOT NULL);
