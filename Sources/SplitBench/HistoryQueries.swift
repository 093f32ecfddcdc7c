/// The history queries of docs/sql.md, in order, as `splitd bench history` times them.
/// `HistoryRetentionTests.benchQueriesAreDocumented` checks they are exactly that page's ```sql
/// blocks, so the bench always times the queries the documentation promises.
package enum HistoryQueries {
    /// docs/sql.md's queries, each as written there (first line: its number and question).
    package static let documented: [String] = [
        """
        -- 1. Which split did a device use at a given moment, and why?
        SELECT plan_id, reason, cut_layers, predicted_delay_seconds, uplink_bps / 1e6 AS uplink_mbps, pushed
        FROM split_history
        WHERE device = 'jetson-resnet50-0' AND valid_from <= now() AND (valid_until IS NULL OR valid_until > now());
        """,
        """
        -- 2. Plan changes per device per day, and how many were pushed.
        SELECT device, date_trunc('day', valid_from) AS day, count(*) AS plans, count(*) FILTER (WHERE pushed) AS pushed
        FROM split_history GROUP BY device, day ORDER BY device, day;
        """,
        """
        -- 3. Predicted delay over time for one device, with the link it was planned for.
        SELECT valid_from, round(predicted_delay_seconds::numeric, 3) AS delay_s, cut_layers,
               round((uplink_bps / 1e6)::numeric, 1) AS uplink_mbps, reason
        FROM split_history WHERE device = 'jetson-resnet50-0' ORDER BY valid_from;
        """,
        """
        -- 4. Devices whose split flaps (may be empty): back to the split of two plans ago within an hour.
        WITH h AS (
          SELECT device, valid_from, cut_layers,
                 lag(cut_layers, 2) OVER w AS two_back, lag(valid_from, 2) OVER w AS two_back_at
          FROM split_history WINDOW w AS (PARTITION BY device ORDER BY valid_from))
        SELECT device, count(*) AS flips FROM h
        WHERE cut_layers = two_back AND valid_from - two_back_at < interval '1 hour'
        GROUP BY device ORDER BY flips DESC;
        """,
        """
        -- 5. The splits in force right now, per model, and how many devices use each.
        SELECT model, cut_layers, count(*) AS devices, round(avg(predicted_delay_seconds)::numeric, 3) AS mean_delay_s
        FROM split_history WHERE valid_until IS NULL GROUP BY model, cut_layers ORDER BY devices DESC;
        """,
        """
        -- 6. Every split of a model and how often it was chosen, current or not.
        SELECT s.model_version, s.cut_layers, cardinality(s.device_layers) AS device_layers, count(p.id) AS plans
        FROM splits s LEFT JOIN plans p ON p.split_id = s.id
        WHERE s.model_name = 'resnet50' GROUP BY s.id ORDER BY plans DESC;
        """,
        """
        -- 7. Webhook delivery health.
        SELECT status, count(*) AS deliveries, round(avg(attempts), 2) AS mean_attempts, max(last_error) AS an_error
        FROM webhook_deliveries GROUP BY status;
        """,
        """
        -- 8. Devices held back by memory (may be empty): plans the limit made slower, and devices no split fits.
        SELECT device, memory_limit_bytes / 1e9 AS limit_gb, device_memory_bytes / 1e9 AS uses_gb, cut_layers, NULL AS needs_gb
        FROM split_history WHERE valid_until IS NULL AND memory_bound
        UNION ALL
        SELECT device_id, NULL, NULL, NULL, infeasible_required_bytes / 1e9
        FROM planning_state WHERE infeasible_required_bytes IS NOT NULL;
        """,
        """
        -- 9. Credential rotations (may be empty): who rotated what, and until when the old one worked.
        SELECT device_id, credential, rotated_at, rotated_by, previous_valid_until
        FROM credential_rotations ORDER BY rotated_at DESC LIMIT 20;
        """,
        """
        -- 10. Devices that could not be planned and when they are retried (may be empty).
        SELECT device_id, failures, last_failure, retry_at FROM planning_state WHERE failures > 0 ORDER BY retry_at;
        """,
        """
        -- 11. Better splits the switching rule did not move to yet, and why (may be empty).
        SELECT device_id, recorded_at, rule, reason, round(saving_seconds_per_iteration::numeric, 4) AS saving_s,
               round(migration_seconds::numeric, 2) AS migration_s, round(accrued_saving_seconds::numeric, 2) AS accrued_s,
               round(required_saving_seconds::numeric, 2) AS required_s, revisit_at, cut_layers
        FROM refused_moves ORDER BY recorded_at DESC LIMIT 20;
        """,
    ]

    /// One device's latest 50 plans, as a dashboard or the API asks for them.
    package static let deviceHistory = "SELECT * FROM split_history WHERE device = $1 ORDER BY valid_from DESC LIMIT 50"

    /// A query's title: its first line without the comment marker ("1. Which split did ...").
    package static func title(_ sql: String) -> String {
        let first = sql.prefix { $0 != "\n" }
        return first.hasPrefix("-- ") ? String(first.dropFirst(3)) : String(first)
    }
}
