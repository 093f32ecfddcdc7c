"""ops/lib/soak_check.py: the soak's verdict on hand-made fleets (what counts as lost, stale, excluded)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "ops", "lib"))
import soak_check  # noqa: E402

TABLE_A = {"model": "m", "segments": [{"min_effective_bps": 0, "max_effective_bps": None, "device_layers": ["a"]}]}
TABLE_B = {"model": "m", "segments": [{"min_effective_bps": 0, "max_effective_bps": 1e7, "device_layers": ["a"]},
                                      {"min_effective_bps": 1e7, "max_effective_bps": None, "device_layers": ["a", "b"]}]}


def plan(plan_id, device, split, table, pushed, current=False, computed="t0", superseded="t1"):
    return {"id": plan_id, "device_id": device, "split_id": split, "table_id": table, "pushed": pushed, "reason": "telemetry change",
            "current": current, "computed_at": computed, "superseded_at": None if current else superseded}


def receipt(sequence, plan_id=None, kind="split_plan.updated", table=None, layers=None, required=None):
    return {"sequence": sequence, "type": kind, "plan_id": plan_id, "webhook_id": f"msg_{sequence}", "arrived": 0, "applied": 0,
            "digest": "", "table": table, "device_layers": layers, "required": required}


def database(devices, plans, layers=(), planning=(), deliveries=()):
    return {"devices": [{"id": d, "push_mode": mode, "webhook_enabled": enabled, "active": True} for d, mode, enabled in devices],
            "plans": plans, "current_layers": [{"device_id": d, "device_layers": list(names)} for d, names in layers],
            "planning": [{"device_id": d, "infeasible_required_bytes": required, "failures": 0, "last_failure": None,
                          "requested_reason": None} for d, required in planning],
            "deliveries": list(deliveries), "tables": [{"id": 1, "document": TABLE_A}, {"id": 2, "document": TABLE_B}]}


class SoakCheckTests(unittest.TestCase):
    def test_a_table_device_that_holds_its_table_is_not_lost_after_a_local_switch(self):
        # Plan 1 (table 1) was pushed and received; plan 2 switched split inside table 1, unpushed.
        data = database([("t", "table", True)], [plan(1, "t", 10, 1, True, computed="a", superseded="b"),
                                                 plan(2, "t", 11, 1, False, current=True, computed="b")])
        verdict = soak_check.check(data, {"t": {"push": "table", "behaviour": "healthy", "receipts": [receipt(1, 1, table=TABLE_A)]}})
        self.assertEqual(verdict["lost"], [])
        self.assertEqual(verdict["counts"]["table devices: local switches (same table, not pushed)"], 1)

    def test_a_table_device_holding_an_older_table_is_lost_with_its_plan_chain(self):
        # Plan 2 brought table 2 (its push never arrived); the device still holds table 1.
        data = database([("t", "table", True)], [plan(1, "t", 10, 1, True, computed="a", superseded="b"),
                                                 plan(2, "t", 10, 2, True, current=True, computed="b")],
                        deliveries=[{"id": "msg_2", "plan_id": 2, "device_id": "t", "status": "dead", "attempts": 17,
                                     "last_status_code": 503, "last_error": "HTTP 503", "notice_sequence": None,
                                     "notice_required": None, "created_at": "b", "delivered_at": None}])
        verdict = soak_check.check(data, {"t": {"push": "table", "behaviour": "down-then-up", "receipts": [receipt(1, 1, table=TABLE_A)]}})
        self.assertEqual(len(verdict["lost"]), 1)
        self.assertIn("table 1", verdict["lost"][0]["problem"])
        self.assertEqual(verdict["lost"][0]["plans"][-1]["delivery"]["status"], "dead")
        self.assertEqual(verdict["lost"][0]["cause"], "push dead")
        self.assertEqual(verdict["counts"]["deliveries dead for another reason"], 1)

    def test_a_table_whose_document_differs_from_plan_tables_is_a_content_mismatch(self):
        data = database([("t", "table", True)], [plan(1, "t", 10, 1, True, current=True)])
        verdict = soak_check.check(data, {"t": {"push": "table", "behaviour": "healthy", "receipts": [receipt(1, 1, table=TABLE_B)]}})
        self.assertEqual(verdict["lost"], [])
        self.assertEqual(len(verdict["content_mismatches"]), 1)

    def test_a_split_device_needs_the_split_in_force(self):
        data = database([("s", "split", True), ("ok", "split", True)],
                        [plan(1, "s", 10, 1, True, computed="a", superseded="b"), plan(3, "s", 11, 1, True, current=True, computed="b"),
                         plan(2, "ok", 10, 1, True, current=True)],
                        layers=[("s", ["a", "b"]), ("ok", ["a"])])
        verdict = soak_check.check(data, {
            "s": {"push": "split", "behaviour": "flaky", "receipts": [receipt(1, 1, layers=["a"])]},
            "ok": {"push": "split", "behaviour": "healthy", "receipts": [receipt(2, 2, layers=["a"])]}})
        self.assertEqual([loss["device"] for loss in verdict["lost"]], ["s"])

    def test_an_infeasible_device_needs_the_latest_notice(self):
        def notice(sequence, status):
            return {"id": f"msg_{sequence}", "plan_id": None, "device_id": "i", "status": status, "attempts": 1, "last_status_code": 204,
                    "last_error": None, "notice_sequence": sequence, "notice_required": 5, "created_at": "x", "delivered_at": "y"}
        data = database([("i", "split", True)], [plan(1, "i", 10, 1, True, superseded="b")], planning=[("i", 5)],
                        deliveries=[notice(2, "delivered"), notice(4, "delivered")])
        holds_latest = {"i": {"push": "split", "behaviour": "healthy",
                              "receipts": [receipt(1, 1, layers=["a"]), receipt(2, kind="split_plan.infeasible", required=5),
                                           receipt(4, kind="split_plan.infeasible", required=5)]}}
        self.assertEqual(soak_check.check(data, holds_latest)["lost"], [])
        holds_older = {"i": {"push": "split", "behaviour": "healthy",
                             "receipts": [receipt(1, 1, layers=["a"]), receipt(2, kind="split_plan.infeasible", required=5)]}}
        self.assertEqual(len(soak_check.check(data, holds_older)["lost"]), 1)

    def test_an_older_message_applied_last_is_stale_last_but_not_lost(self):
        data = database([("s", "split", True)], [plan(1, "s", 10, 1, True, computed="a", superseded="b"),
                                                 plan(2, "s", 11, 1, True, current=True, computed="b")], layers=[("s", ["a", "b"])])
        verdict = soak_check.check(data, {"s": {"push": "split", "behaviour": "slow",
                                                "receipts": [receipt(2, 2, layers=["a", "b"]), receipt(1, 1, layers=["a"])]}})
        self.assertEqual(verdict["lost"], [])
        self.assertEqual(len(verdict["stale_last"]), 1)
        self.assertEqual(len(verdict["older_after_newer"]), 1)

    def test_a_device_whose_receiver_answered_410_is_excluded_not_lost(self):
        data = database([("g", "table", False)], [plan(1, "g", 10, 1, True, current=True)])
        verdict = soak_check.check(data, {"g": {"push": "table", "behaviour": "gone", "receipts": []}})
        self.assertEqual(verdict["lost"], [])
        self.assertEqual(sum(verdict["excluded"].values()), 1)

    def test_numbers_in_tables_compare_with_a_relative_tolerance(self):
        self.assertTrue(soak_check.same_json({"x": [1e11, None]}, {"x": [100000000000, None]}))
        self.assertFalse(soak_check.same_json({"x": 1.0}, {"x": 1.001}))
        self.assertFalse(soak_check.same_json({"x": 1}, {"x": 1, "y": 2}))


if __name__ == "__main__":
    unittest.main()
