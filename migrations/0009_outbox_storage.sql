-- splitd schema, version 9: an outbox whose size on disk follows its row count, and plans whose
-- numbers are all finite.
--
-- Every delivery leaves dead row versions behind: claiming it, recording its outcome (an update
-- each; the columns they change are indexed, so none is a HOT update) and trimming it (a delete).
-- PostgreSQL's default autovacuum waits for dead rows to reach 20% of the table (plus 50): on an
-- outbox of a million rows that is 200,000 dead versions before anything is reclaimed, while the
-- row count stays flat, and a throttled vacuum of the whole table afterwards. Here vacuum starts
-- after a fixed number of dead rows, whatever the table's size, runs with a larger cost budget,
-- and statistics follow the same way (the claim's plan depends on how many rows are due). The
-- measurements are in README, "Schema and SQL" (`splitd bench outbox`).
ALTER TABLE webhook_deliveries SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 10000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 10000,
    autovacuum_analyze_scale_factor = 0,
    autovacuum_analyze_threshold = 10000,
    autovacuum_vacuum_cost_limit = 2000
);

-- A plan's numbers are finite: a NaN or infinite delay once reached a device as an empty signed
-- webhook recorded delivered. The planner refuses such plans per device (a batch that stores one
-- is stored again plan by plan, and only the refused plan's device fails); rows stored before
-- this version are not re-checked (NOT VALID), and delivery refuses any it meets.
ALTER TABLE plans ADD CONSTRAINT plans_finite_numbers CHECK (
    uplink_bps > '-Infinity' AND uplink_bps < 'Infinity'
    AND downlink_bps > '-Infinity' AND downlink_bps < 'Infinity'
    AND rtt_seconds > '-Infinity' AND rtt_seconds < 'Infinity'
    AND device_flops > '-Infinity' AND device_flops < 'Infinity'
    AND server_flops > '-Infinity' AND server_flops < 'Infinity'
    AND predicted_delay_seconds > '-Infinity' AND predicted_delay_seconds < 'Infinity'
    AND transfer_bytes > '-Infinity' AND transfer_bytes < 'Infinity'
    AND solve_microseconds > '-Infinity' AND solve_microseconds < 'Infinity'
    AND device_compute_seconds > '-Infinity' AND device_compute_seconds < 'Infinity'
    AND server_compute_seconds > '-Infinity' AND server_compute_seconds < 'Infinity'
    AND uplink_seconds > '-Infinity' AND uplink_seconds < 'Infinity'
    AND downlink_seconds > '-Infinity' AND downlink_seconds < 'Infinity'
) NOT VALID;
