-- splitd schema, version 12: what the operator dashboard (/ui) reads, indexed.
--
-- The dashboard shows a fleet of any size with aggregate queries and pages of 50 devices. The
-- states it counts and filters by are rare in a healthy fleet (an infeasible device, a device whose
-- planning fails, a failing webhook, a receiver that answered 410 Gone), so each gets a small
-- partial index: counting them, or paging through only them in id order, reads those rows and not
-- the fleet. A device's infeasible notices (deliveries without a plan) are found by device for its
-- timeline; notices are rare, so that index is small too.

CREATE INDEX planning_state_infeasible ON planning_state (device_id) WHERE infeasible_required_bytes IS NOT NULL;
CREATE INDEX planning_state_failing ON planning_state (device_id) WHERE failures > 0;
CREATE INDEX devices_webhook_disabled ON devices (id) WHERE active AND NOT webhook_enabled;
-- Deactivated devices keep their last plan in force; the overview counts the plans in force from
-- their index alone and takes these few out.
CREATE INDEX devices_inactive ON devices (id) WHERE NOT active;
CREATE INDEX webhook_deliveries_failing ON webhook_deliveries (device_id) WHERE status IN ('failed', 'dead');
CREATE INDEX webhook_deliveries_notices ON webhook_deliveries (device_id, created_at DESC) WHERE notice IS NOT NULL;
