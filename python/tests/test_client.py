"""Tests of splitd.client: signatures, the switching rule and its shared cases, webhooks, the receiver."""

import base64
import http.client
import json
import os
import time
import unittest

import splitd.client as client_module
from splitd.client import (ConfigurationError, LinkEstimator, PlanTable, SignatureError, SplitClient, SwitchingPolicy,
                           SwitchingRule, WebhookReceiver, sign, verify)

SECRET = "whsec_" + base64.b64encode(b"sixteen byte key and then some").decode()
CASES = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "switching_cases.json")))
NOW = 1_700_000_000


def delivery(data, message_id="msg_1", timestamp=NOW, secret=SECRET, event_type="split_plan.updated"):
    """A signed delivery as splitd sends it: (headers, body)."""
    body = json.dumps({"type": event_type, "timestamp": "2023-11-14T22:13:20Z", "data": data}).encode()
    headers = {"webhook-id": message_id, "webhook-timestamp": str(timestamp),
               "webhook-signature": sign(secret, message_id, str(timestamp), body)}
    return headers, body


def plan_data(sequence, segment=0, model_version=1, table=None, device="cam-7"):
    """A split_plan.updated payload carrying the shared test table, current split = `segment`."""
    table = table or CASES["table"]
    current = table["segments"][segment]
    return {"device": device, "model": "chain", "model_version": model_version, "plan_id": 100 + sequence,
            "sequence": sequence, "device_layers": current["device_layers"], "cut_layers": current["cut_layers"],
            "table": table}


class SignatureTests(unittest.TestCase):
    def test_valid_signature_is_accepted_and_returns_the_id(self):
        headers, body = delivery({"x": 1})
        self.assertEqual(verify(SECRET, headers, body, now=NOW), "msg_1")

    def test_one_matching_signature_among_several_is_enough(self):
        headers, body = delivery({"x": 1})
        good = headers["webhook-signature"]
        headers["webhook-signature"] = "v1,AAAA v2," + good.split(",", 1)[1] + " " + good
        self.assertEqual(verify(SECRET, headers, body, now=NOW), "msg_1")

    def test_other_versions_do_not_count(self):
        headers, body = delivery({"x": 1})
        headers["webhook-signature"] = "v2," + headers["webhook-signature"].split(",", 1)[1]
        with self.assertRaises(SignatureError):
            verify(SECRET, headers, body, now=NOW)

    def test_wrong_secret_tampered_body_or_id_are_rejected(self):
        headers, body = delivery({"x": 1})
        other = "whsec_" + base64.b64encode(b"another key").decode()
        for secret, changed_body, changed_headers in [
            (other, body, headers),
            (SECRET, body.replace(b"1", b"2"), headers),
            (SECRET, body, dict(headers, **{"webhook-id": "msg_2"})),
            (SECRET, body, dict(headers, **{"webhook-timestamp": str(NOW + 1)})),
        ]:
            with self.assertRaises(SignatureError):
                verify(secret, changed_headers, changed_body, now=NOW)

    def test_replay_window_and_missing_headers(self):
        headers, body = delivery({"x": 1}, timestamp=NOW - 301)
        with self.assertRaisesRegex(SignatureError, "replay window"):
            verify(SECRET, headers, body, now=NOW)
        headers, body = delivery({"x": 1}, timestamp=NOW + 301)
        with self.assertRaisesRegex(SignatureError, "replay window"):
            verify(SECRET, headers, body, now=NOW)
        headers, body = delivery({"x": 1}, timestamp=NOW - 299)
        self.assertEqual(verify(SECRET, headers, body, now=NOW), "msg_1")
        del headers["webhook-signature"]
        with self.assertRaisesRegex(SignatureError, "missing header"):
            verify(SECRET, headers, body, now=NOW)

    def test_header_names_are_case_insensitive(self):
        headers, body = delivery({"x": 1})
        upper = {key.upper(): value for key, value in headers.items()}
        self.assertEqual(verify(SECRET, upper, body, now=NOW), "msg_1")


class SharedCaseTests(unittest.TestCase):
    """The cases Tests/SplitCoreTests/SwitchingTests.swift checks too."""

    def test_rule_cases(self):
        self.assertGreaterEqual(len(CASES["rule"]), 10)
        for case in CASES["rule"]:
            rule = SwitchingRule(case["horizon_iterations"], case["minimum_relative_gain"])
            decision = rule.should_switch(case["current_seconds"], case["candidate_seconds"], case["migration_seconds"],
                                          case["current_invalidated"])
            self.assertEqual(decision, case["switch"], case["why"])

    def test_rule_cases_through_the_horizon_policy(self):
        # The same cases as a two-segment decision of SwitchingPolicy.horizon (segment 0 in use,
        # segment 1 the table's segment for the rates): it moves exactly when the rule switches.
        for case in CASES["rule"]:
            policy = SwitchingPolicy.horizon(case["horizon_iterations"], case["minimum_relative_gain"])
            current = float("inf") if case["current_invalidated"] else case["current_seconds"]
            decision = policy.decide(None, 0, current, [case["current_seconds"], case["candidate_seconds"]],
                                     [0.0, case["migration_seconds"]], 1)
            self.assertEqual(decision.moves, case["switch"], case["why"])
            if decision.moves:
                self.assertEqual((decision.target, decision.reason),
                                 (1, "invalidated" if case["current_invalidated"] else "paid for"), case["why"])
            else:
                self.assertIn(decision.reason, ("best", "below minimum gain", "horizon too short"), case["why"])
                self.assertTrue(decision.is_refusal or decision.reason == "best", case["why"])

    def test_lookup_cases(self):
        table = PlanTable(CASES["table"])
        for case in CASES["lookup"]:
            index = table.segment_index(PlanTable.effective_bps(case["uplink_bps"], case["downlink_bps"]))
            self.assertEqual(index, case["segment"], case["why"])

    def scenario_client(self, switching_block):
        scenario = CASES["scenario"]
        if switching_block:
            # The daemon's rule arrives with the table.
            client = SplitClient(SECRET, device="cam-7")
            data = plan_data(1, scenario["start_segment"])
            data["switching"] = {"rule": "horizon", "horizon_iterations": scenario["horizon_iterations"],
                                 "minimum_relative_gain": scenario["minimum_relative_gain"],
                                 "estimator": {"mean": "arithmetic", "time_constant_seconds": 10.0},
                                 "optimizer": scenario["optimizer"], "migration_bytes_per_parameter_byte": 2.0}
        else:
            # The client's own configuration (a payload without a switching block); tau = 0: each
            # measurement is the estimate.
            client = SplitClient(SECRET, device="cam-7", optimizer=scenario["optimizer"],
                                 rule=SwitchingRule(scenario["horizon_iterations"], scenario["minimum_relative_gain"]),
                                 estimator=LinkEstimator(time_constant_seconds=0))
            data = plan_data(1, scenario["start_segment"])
        self.assertEqual(client.handle_webhook(*delivery(data), now=NOW), (200, "applied"))
        self.assertEqual(client.policy.name, "horizon")
        self.assertEqual(client.rule.horizon_iterations, scenario["horizon_iterations"])
        return client

    def test_scenario_through_webhook_and_split_for(self):
        scenario = CASES["scenario"]
        self.assertEqual(len(scenario["steps"]), 4)
        for switching_block in (False, True):
            client = self.scenario_client(switching_block)
            for index, step in enumerate(scenario["steps"]):
                # Measurements 10^6 s apart: the estimate is the step's rates exactly, whatever tau.
                split = client.split_for(step["uplink_bps"], step["downlink_bps"], measured_at=1e6 * (index + 1))
                self.assertEqual((client.estimate.uplink_bps, client.estimate.downlink_bps),
                                 (step["uplink_bps"], step["downlink_bps"]))
                self.assertEqual(split.segment, step["segment"], step["why"])
                self.assertAlmostEqual(split.migration_seconds, step["migration_seconds"],
                                       delta=1e-12 * max(1, split.migration_seconds))
                self.assertEqual(split.device_layers, CASES["table"]["segments"][step["segment"]]["device_layers"])
                self.assertEqual(split.reason, "paid for" if split.moved else "horizon too short", step["why"])


class ClientTests(unittest.TestCase):
    def setUp(self):
        self.client = SplitClient(SECRET, device="cam-7", optimizer="momentum", rule=SwitchingRule(10))

    def test_no_table_no_split(self):
        self.assertIsNone(self.client.split_for(1e6, 1e6))

    def test_bad_signature_is_401_and_changes_nothing(self):
        headers, body = delivery(plan_data(1))
        headers["webhook-signature"] = "v1,AAAA"
        status, _ = self.client.handle_webhook(headers, body, now=NOW)
        self.assertEqual(status, 401)
        self.assertIsNone(self.client.table)

    def test_only_newer_sequences_replace_the_table(self):
        self.assertEqual(self.client.handle_webhook(*delivery(plan_data(5), "a"), now=NOW)[1], "applied")
        status, reason = self.client.handle_webhook(*delivery(plan_data(4), "b"), now=NOW)
        self.assertEqual((status, self.client.sequence), (200, 5))
        self.assertIn("stale", reason)
        status, reason = self.client.handle_webhook(*delivery(plan_data(5), "c"), now=NOW)
        self.assertIn("stale", reason)
        self.assertEqual(self.client.handle_webhook(*delivery(plan_data(6), "d"), now=NOW)[1], "applied")
        self.assertEqual(self.client.sequence, 6)

    def test_duplicate_delivery_is_acknowledged_once(self):
        headers, body = delivery(plan_data(1))
        self.assertEqual(self.client.handle_webhook(headers, body, now=NOW), (200, "applied"))
        self.assertEqual(self.client.handle_webhook(headers, body, now=NOW + 1), (200, "duplicate delivery"))

    def test_other_devices_other_events_and_malformed_payloads(self):
        self.assertIn("ignored plan", self.client.handle_webhook(*delivery(plan_data(1, device="cam-8")), now=NOW)[1])
        self.assertIn("ignored event", self.client.handle_webhook(*delivery(plan_data(1), "e", event_type="device.deleted"), now=NOW)[1])
        broken = plan_data(1)
        del broken["sequence"]
        self.assertEqual(self.client.handle_webhook(*delivery(broken, "f"), now=NOW)[0], 400)
        broken = plan_data(1)
        broken["table"] = dict(CASES["table"], segments=[])
        self.assertEqual(self.client.handle_webhook(*delivery(broken, "g"), now=NOW)[0], 400)
        self.assertIsNone(self.client.table)

    def test_a_new_model_version_invalidates_the_current_split(self):
        # On segment 2 at R = 2^20, segment 1 saves 11.0078125 - 7.0078125 = 4 s per iteration,
        # and bringing b down takes 2 x 2 MB at 2^21 bit/s = 15.26 s: with a horizon of 1 the
        # device stays...
        rates = (2 ** 21, 2 ** 21)
        table = PlanTable(CASES["table"])
        self.assertEqual(table.segments[2].delay_seconds(*rates) - table.segments[1].delay_seconds(*rates), 4)
        migration = table.migration_seconds(table.segments[2].device_layers, table.segments[1].device_layers, 2.0, *rates)
        self.assertAlmostEqual(migration, 8 * 4e6 / 2 ** 21)
        client = SplitClient(SECRET, optimizer="momentum", rule=SwitchingRule(1))
        client.handle_webhook(*delivery(plan_data(1, segment=2), "a"), now=NOW)
        self.assertEqual(client.split_for(*rates).segment, 2)
        # ...but a new model version makes the current split invalid: switch whatever the cost.
        client.handle_webhook(*delivery(plan_data(2, segment=2, model_version=2), "b"), now=NOW)
        split = client.split_for(*rates)
        self.assertEqual(split.segment, 1)
        self.assertTrue(split.moved)
        self.assertEqual(client.split_for(*rates).moved, False)

    def test_a_split_the_table_cannot_price_is_left(self):
        data = plan_data(1)
        data["device_layers"] = ["x", "a", "b", "c"]  # not a segment of the table
        self.client.handle_webhook(*delivery(data), now=NOW)
        split = self.client.split_for(2 ** 21, 2 ** 21)
        self.assertEqual(split.segment, 1)
        # c goes up (4 MB x 2 at 2^21 bit/s).
        self.assertAlmostEqual(split.migration_seconds, 8 * 8e6 / 2 ** 21)

    def test_bad_configuration_is_refused(self):
        with self.assertRaises(ValueError):
            SplitClient(SECRET, optimizer="rmsprop")
        with self.assertRaises(ValueError):
            SplitClient("whsec_not base64!")
        with self.assertRaises(ValueError):
            SwitchingRule(-1)
        with self.assertRaisesRegex(ConfigurationError, "horizon_iterations"):
            SwitchingRule(2.5)
        self.assertEqual(SwitchingRule().horizon_iterations, client_module.DEFAULT_HORIZON_ITERATIONS)
        # The default rule is the daemon's default: payback, theta = 1, no minimum gain.
        client = SplitClient(SECRET)
        self.assertEqual(client.policy.to_json(), {"rule": "payback", "payback_factor": 1.0, "minimum_relative_gain": 0.0})
        self.assertEqual(client.estimator, LinkEstimator("arithmetic", 10.0))


class ReceiverTests(unittest.TestCase):
    def test_http_round_trip(self):
        client = SplitClient(SECRET, device="cam-7")
        receiver = WebhookReceiver(client, ("127.0.0.1", 0)).start()
        try:
            def post(headers, body):
                connection = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
                connection.request("POST", "/hook", body=body, headers=dict(headers, **{"content-type": "application/json"}))
                response = connection.getresponse()
                payload = json.loads(response.read())
                connection.close()
                return response.status, payload["status"]

            now = int(time.time())
            self.assertEqual(post(*delivery(plan_data(3), "m1", timestamp=now)), (200, "applied"))
            headers, body = delivery(plan_data(4), "m2", timestamp=now)
            headers["webhook-signature"] = "v1,AAAA"
            self.assertEqual(post(headers, body)[0], 401)
            self.assertEqual(client.sequence, 3)
            # The client's default rule is the daemon's: payback. At 10^12 bit/s segment 2 is best;
            # nothing has accrued yet, so the device stays on segment 0 and says why...
            split = client.split_for(1e12, 1e12, elapsed_seconds=0)
            self.assertEqual((split.cut_layers, split.reason), (["d"], "not yet paid for"))
            # ...until an iteration's savings (about 8 s) pay for moving b, c and d up (well under 1 ms).
            split = client.split_for(1e12, 1e12, elapsed_seconds=10)
            self.assertEqual((split.cut_layers, split.reason, split.moved), (["a"], "paid for", True))
        finally:
            receiver.stop()


if __name__ == "__main__":
    unittest.main()
