-- splitd schema, version 11: drop `planning_state.split_fingerprint`, unused since 0006 (the
-- fingerprint of a split lives in `splits.fingerprint`; nothing reads or writes this column).
ALTER TABLE planning_state DROP COLUMN split_fingerprint;
