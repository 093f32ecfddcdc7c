"""The device client decides as the daemon's SplitCore: the shared fixtures of the link estimator and
the payback rule (Tests/Fixtures/estimator_cases.json, payback_cases.json, which the Swift suite
checks too), case by case, and SplitClient's switching state, switching block and infeasible notices."""

import json
import math
import os
import unittest

from splitd.client import (ConfigurationError, LinkEstimate, LinkEstimator, PaybackRule, PlanTable, SplitClient, Switching,
                           SwitchingPolicy, SwitchingRule, SwitchingState, TelemetrySample, decide_on_device)

from .test_client import NOW, SECRET, delivery

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "Tests", "Fixtures")
ESTIMATOR_CASES = json.load(open(os.path.join(FIXTURES, "estimator_cases.json")))["cases"]
PAYBACK_CASES = json.load(open(os.path.join(FIXTURES, "payback_cases.json")))
SCENARIO = PAYBACK_CASES["scenario"]
MOMENTUM = 2.0


def close(test, value, expected, why, relative=1e-12):
    """``|value - expected| <= relative * max(1, |expected|)``: the Swift suite's tolerance."""
    test.assertLessEqual(abs(value - expected), relative * max(1.0, abs(expected)), f"{why}: {value!r} != {expected!r}")


def switching_block(rule="payback", **changes):
    block = {"rule": rule, "minimum_relative_gain": 0.0,
             "estimator": {"mean": "arithmetic", "time_constant_seconds": 10.0},
             "optimizer": "momentum", "migration_bytes_per_parameter_byte": MOMENTUM}
    if rule == "payback":
        block["payback_factor"] = 1.0
    elif rule == "horizon":
        block["horizon_iterations"] = 1000
    block.update(changes)
    return block


def scenario_plan(sequence, table=None, switching=None, segment=None, model_version=1):
    table = table or SCENARIO["table"]
    current = table["segments"][SCENARIO["start_segment"] if segment is None else segment]
    return {"device": "cam-7", "model": "chain", "model_version": model_version, "plan_id": sequence, "sequence": sequence,
            "device_layers": current["device_layers"], "cut_layers": current["cut_layers"], "table": table,
            "switching": switching_block() if switching is None else switching}


class EstimatorFixtureTests(unittest.TestCase):
    def test_every_case(self):
        self.assertGreaterEqual(len(ESTIMATOR_CASES), 9)
        for case in ESTIMATOR_CASES:
            why = case["why"]
            estimator = LinkEstimator.from_json(case["estimator"])
            estimate = None
            for sample in case["samples"]:
                estimate = estimator.fold(TelemetrySample(sample["at"], sample["uplink_bps"], sample["downlink_bps"],
                                                          sample["rtt_seconds"]), estimate)
            expected = case["expected"]
            self.assertEqual(estimate.measured_at, expected["at"], why)
            self.assertEqual(estimate.samples, expected["samples"], why)
            close(self, estimate.uplink_bps, expected["uplink_bps"], why)
            close(self, estimate.downlink_bps, expected["downlink_bps"], why)
            close(self, estimate.rtt_seconds, expected["rtt_seconds"], why)

    def test_every_case_through_the_client(self):
        # The same folds through SplitClient.observe, the estimator arriving in the daemon's switching block.
        for number, case in enumerate(ESTIMATOR_CASES):
            client = SplitClient(SECRET, device="cam-7")
            status = client.handle_webhook(*delivery(scenario_plan(1, switching=switching_block(estimator=case["estimator"])),
                                                     f"m{number}"), now=NOW)
            self.assertEqual(status, (200, "applied"))
            self.assertEqual(client.estimator, LinkEstimator.from_json(case["estimator"]))
            for sample in case["samples"]:
                estimate = client.observe(sample["uplink_bps"], sample["downlink_bps"], sample["rtt_seconds"], sample["at"])
            expected = case["expected"]
            self.assertEqual((estimate.measured_at, estimate.samples), (expected["at"], expected["samples"]), case["why"])
            for key, value in (("uplink_bps", estimate.uplink_bps), ("downlink_bps", estimate.downlink_bps),
                               ("rtt_seconds", estimate.rtt_seconds)):
                close(self, value, expected[key], case["why"])

    def test_compute_memory_and_planning_rates(self):
        estimator = LinkEstimator("arithmetic", 10.0)
        first = estimator.fold(TelemetrySample(0, 8e6, 2e6, 0.02, compute_flops=1e9), None)
        second = estimator.fold(TelemetrySample(10 * math.log(2), 0, 2e6, 0.02, compute_flops=4e9, memory_bytes=5e8), first)
        close(self, second.compute_flops, 2e9, "compute is averaged in log space: sqrt(1e9 x 4e9)")
        self.assertEqual(second.memory_bytes, 5e8)
        self.assertIsNone(first.memory_bytes, "folding does not modify the estimate it starts from")
        third = estimator.fold(TelemetrySample(20, 0, 2e6, 0.02), second)
        self.assertEqual(third.memory_bytes, 5e8, "a sample without memory keeps the last reported")
        # An estimate of an outage (an arithmetic one, before the daemon switched to geometric) is
        # floored before its logarithm too: sqrt(1 x 4e6).
        zero = LinkEstimate(0.0, 2e6, 0.02, None, None, 1, 0.0)
        geometric = LinkEstimator("geometric", 10.0).fold(TelemetrySample(10 * math.log(2), 4e6, 2e6, 0.02), zero)
        close(self, geometric.uplink_bps, 2e3, "sqrt(1 x 4e6)")
        outage = LinkEstimate(0.0, math.inf, 0.0, None, None, 1, 0.0)
        self.assertEqual(LinkEstimator.planning_rates(outage), (1.0, 1.0))
        self.assertEqual(LinkEstimator.planning_rates(third), (third.uplink_bps, 2e6))

    def test_bad_estimators_name_the_field(self):
        with self.assertRaisesRegex(ConfigurationError, "mean"):
            LinkEstimator("median")
        with self.assertRaisesRegex(ConfigurationError, "time_constant_seconds"):
            LinkEstimator("arithmetic", -1)
        for document, field in [({"time_constant_seconds": 1}, "e.mean"), ({"mean": "geometric"}, "e.time_constant_seconds"),
                                ({"mean": "geometric", "time_constant_seconds": "10"}, "e.time_constant_seconds"),
                                ({"mean": "geometric", "time_constant_seconds": math.nan}, "e.time_constant_seconds")]:
            with self.assertRaises(ConfigurationError) as caught:
                LinkEstimator.from_json(document, "e.")
            self.assertEqual(caught.exception.field, field)


class PaybackFixtureTests(unittest.TestCase):
    def test_accrue_cases(self):
        self.assertGreaterEqual(len(PAYBACK_CASES["accrue"]), 4)
        for case in PAYBACK_CASES["accrue"]:
            policy = SwitchingPolicy(PaybackRule(case["payback_factor"], case["minimum_relative_gain"]))
            state = SwitchingState(accrued_saving_seconds=case["accrued_saving_seconds"])
            policy.accrue(state, case["elapsed_seconds"], case["current_seconds"], case["segment_seconds"])
            self.assertEqual(len(state.accrued_saving_seconds), len(case["expected"]), case["why"])
            for value, expected in zip(state.accrued_saving_seconds, case["expected"]):
                close(self, value, expected, case["why"])

    def test_decide_cases(self):
        self.assertGreaterEqual(len(PAYBACK_CASES["decide"]), 10)
        for case in PAYBACK_CASES["decide"]:
            why = case["why"]
            policy = SwitchingPolicy.from_json(case["rule"])
            current_seconds = math.inf if case["current_seconds"] is None else case["current_seconds"]
            decision = policy.decide(SwitchingState(accrued_saving_seconds=case["accrued_saving_seconds"]), case["current"],
                                     current_seconds, case["segment_seconds"], case["migration_seconds"], case["best"])
            expected = case["expected"]
            self.assertEqual(decision.target, expected["target"], why)
            self.assertEqual(decision.reason, expected["reason"], why)
            if expected["revisit_after_seconds"] is None:
                self.assertIsNone(decision.revisit_after_seconds, why)
            else:
                close(self, decision.revisit_after_seconds, expected["revisit_after_seconds"], why, 1e-9)
            self.assertEqual(decision.is_refusal, decision.target is None and decision.reason != "best", why)
            # What the decision reports: the candidate's delay, migration, accrued and required savings.
            candidate = decision.candidate
            self.assertEqual(decision.candidate_seconds, case["segment_seconds"][candidate], why)
            self.assertEqual(decision.migration_seconds, case["migration_seconds"][candidate], why)
            if decision.reason != "invalidated":
                self.assertEqual(decision.accrued_saving_seconds, case["accrued_saving_seconds"][candidate], why)
                self.assertEqual(decision.required_saving_seconds, policy.rule.payback_factor * case["migration_seconds"][candidate], why)

    def scenario_table(self):
        return PlanTable(SCENARIO["table"])

    def test_scenario_step_by_step(self):
        # As PaybackRuleTests.sharedScenario: accrue at the step's rates, check the state, then decide.
        table = self.scenario_table()
        policy = SwitchingPolicy.payback(SCENARIO["payback_factor"], SCENARIO["minimum_relative_gain"])
        self.assertEqual(SCENARIO["optimizer"], "momentum")
        current = SCENARIO["start_segment"]
        state = SwitchingState(len(table.segments))
        self.assertEqual(len(SCENARIO["steps"]), 4)
        for step in SCENARIO["steps"]:
            why, up, down = step["why"], step["uplink_bps"], step["downlink_bps"]
            seconds = [segment.delay_seconds(up, down) for segment in table.segments]
            policy.accrue(state, step["elapsed_seconds"], seconds[current], seconds)
            for value, expected in zip(state.accrued_saving_seconds, step["accrued_saving_seconds"]):
                close(self, value, expected, why, 1e-9)
            layers = table.segments[current].device_layers
            migrations = [0.0 if index == current else
                          table.migration_seconds(layers, segment.device_layers, MOMENTUM, up, down)
                          for index, segment in enumerate(table.segments)]
            best = table.segment_index(PlanTable.effective_bps(up, down))
            decision = policy.decide(state, current, seconds[current], seconds, migrations, best)
            self.assertEqual(decision.target if decision.moves else current, step["segment"], why)
            self.assertEqual(decision.reason, step["reason"], why)
            close(self, decision.migration_seconds, step["migration_seconds"], why, 1e-9)
            if decision.moves:
                current = decision.target
                state.reset(len(table.segments))

    def test_scenario_through_decide_on_device(self):
        # The same steps through decide_on_device (DevicePlanningSettings.decideOnDevice) with an
        # estimate at the step's rates: it accrues, decides and restarts the state after a move.
        table = self.scenario_table()
        policy = SwitchingPolicy.payback(SCENARIO["payback_factor"], SCENARIO["minimum_relative_gain"])
        current = SCENARIO["start_segment"]
        state = SwitchingState(len(table.segments))
        for step in SCENARIO["steps"]:
            why = step["why"]
            estimate = LinkEstimate(step["uplink_bps"], step["downlink_bps"], 0.0, None, None, 1, 0.0)
            layers = table.segments[current].device_layers

            def migration(to, up, down):
                return table.migration_seconds(layers, table.segments[to].device_layers, MOMENTUM, up, down)

            decision = decide_on_device(policy, table, current, step["elapsed_seconds"], estimate, state, migration)
            self.assertEqual(decision.target if decision.moves else current, step["segment"], why)
            self.assertEqual(decision.reason, step["reason"], why)
            close(self, decision.migration_seconds, step["migration_seconds"], why, 1e-9)
            close(self, decision.accrued_saving_seconds, step["accrued_saving_seconds"][decision.candidate], why, 1e-9)
            if decision.moves:
                self.assertEqual(state.accrued_saving_seconds, [0.0] * len(table.segments), why)
                current = decision.target
            else:
                for value, expected in zip(state.accrued_saving_seconds, step["accrued_saving_seconds"]):
                    close(self, value, expected, why, 1e-9)
                # Not yet paid for: the revisit time is the training until the savings would pay.
                rate = PaybackRule().saving_rate(decision.current_seconds, decision.candidate_seconds)
                close(self, decision.revisit_after_seconds,
                      (decision.required_saving_seconds - decision.accrued_saving_seconds) / rate, why, 1e-9)

    def test_scenario_through_the_client(self):
        # The device end to end: the daemon's signed table and payback rule, one split_for per step
        # with the step's training time; measurements 10^6 s apart make the estimate the step's rates.
        client = SplitClient(SECRET, device="cam-7")
        self.assertEqual(client.handle_webhook(*delivery(scenario_plan(1)), now=NOW), (200, "applied"))
        self.assertEqual((client.policy.name, client.rule.payback_factor, client.factor), ("payback", 1.0, MOMENTUM))
        for index, step in enumerate(SCENARIO["steps"]):
            why = step["why"]
            split = client.split_for(step["uplink_bps"], step["downlink_bps"], elapsed_seconds=step["elapsed_seconds"],
                                     measured_at=1e6 * (index + 1))
            self.assertEqual((client.estimate.uplink_bps, client.estimate.downlink_bps), (step["uplink_bps"], step["downlink_bps"]))
            self.assertEqual(split.segment, step["segment"], why)
            self.assertEqual(split.reason, step["reason"], why)
            self.assertEqual(split.device_layers, SCENARIO["table"]["segments"][step["segment"]]["device_layers"], why)
            self.assertIs(client.last_decision, split.decision)
            close(self, split.decision.migration_seconds, step["migration_seconds"], why, 1e-9)
            close(self, split.decision.accrued_saving_seconds, step["accrued_saving_seconds"][split.decision.candidate], why, 1e-9)
            if split.decision.moves:
                self.assertTrue(split.moved, why)
                close(self, split.migration_seconds, step["migration_seconds"], why, 1e-9)
                self.assertEqual(client.switching_state.accrued_saving_seconds, [0.0, 0.0, 0.0], why)
            else:
                self.assertEqual((split.moved, split.migration_seconds), (False, 0.0), why)
                for value, expected in zip(client.switching_state.accrued_saving_seconds, step["accrued_saving_seconds"]):
                    close(self, value, expected, why, 1e-9)


class FakeClock:
    def __init__(self):
        self.now = 5000.0

    def __call__(self):
        return self.now


class ClientSwitchingTests(unittest.TestCase):
    def client(self, switching=None, clock=None):
        client = SplitClient(SECRET, device="cam-7", clock=clock or FakeClock())
        self.assertEqual(client.handle_webhook(*delivery(scenario_plan(1, switching=switching)), now=NOW), (200, "applied"))
        return client

    def test_accrued_savings_persist_between_calls_timed_by_the_clock(self):
        # R = 2^19 on segment 0: segment 1 saves 2 s per 10.015625 s iteration; moving c and d up
        # takes 183.1 s. Ten iterations between calls accrue 20 s: the tenth such call pays.
        clock = FakeClock()
        client = self.client(clock=clock)
        rates = (2 ** 20, 2 ** 20)
        first = client.split_for(*rates)
        self.assertEqual((first.segment, first.reason, first.decision.accrued_saving_seconds), (0, "not yet paid for", 0.0))
        close(self, first.decision.revisit_after_seconds, 183.10546875 * 10.015625 / 2, "revisit: 183.1 s at 2 s per 10.0 s")
        for call in range(1, 11):
            clock.now += 10 * 10.015625
            split = client.split_for(*rates)
            if call < 10:
                self.assertEqual((split.segment, split.reason), (0, "not yet paid for"), call)
                close(self, split.decision.accrued_saving_seconds, 20.0 * call, call)
                close(self, split.decision.revisit_after_seconds, (183.10546875 - 20.0 * call) * 10.015625 / 2, call)
        self.assertEqual((split.segment, split.reason, split.moved), (1, "paid for", True))
        close(self, split.decision.accrued_saving_seconds, 200.0, "ten calls of ten iterations")
        close(self, split.migration_seconds, 183.10546875, "c and d up")
        self.assertEqual(client.switching_state.accrued_saving_seconds, [0.0, 0.0, 0.0])
        # An explicit elapsed time is used instead of the clock (which still restarts).
        clock.now += 1e6
        split = client.split_for(*rates, elapsed_seconds=0)
        self.assertEqual((split.segment, split.reason), (1, "best"))

    def test_the_estimate_is_what_the_rule_decides_at(self):
        # tau = 10 s: a measurement tau ln 2 after the first moves the estimate halfway.
        client = self.client()
        client.split_for(2 ** 30, 2 ** 30, measured_at=100.0)
        split = client.split_for(2 ** 16, 2 ** 16, measured_at=100.0 + 10 * math.log(2), elapsed_seconds=0)
        close(self, client.estimate.uplink_bps, (2 ** 30 + 2 ** 16) / 2, "halfway, arithmetically")
        self.assertEqual(split.decision.candidate, 2, "the table's segment for the estimate, not for the last measurement")
        # A measurement not newer than the estimate is not folded in.
        before = client.estimate.uplink_bps
        client.observe(1.0, 1.0, measured_at=50.0)
        self.assertEqual(client.estimate.uplink_bps, before)
        self.assertEqual(client.estimate.samples, 2)

    def test_rtt_adds_to_every_delay(self):
        client = self.client()
        plain = client.split_for(2 ** 20, 2 ** 20, rtt_seconds=0.0, measured_at=1.0, elapsed_seconds=0)
        close(self, plain.decision.current_seconds, 10.015625, "segment 0 at 2^20 bit/s")
        client = self.client()
        delayed = client.split_for(2 ** 20, 2 ** 20, rtt_seconds=0.5, measured_at=1.0, elapsed_seconds=0)
        close(self, delayed.decision.current_seconds, 10.515625, "plus the estimate's rtt")
        close(self, delayed.decision.candidate_seconds, 8.515625, "segment 1 too")
        # rtt left out: the estimate's is kept.
        client.split_for(2 ** 20, 2 ** 20, measured_at=2.0, elapsed_seconds=0)
        self.assertEqual(client.estimate.rtt_seconds, 0.5)

    def test_a_new_table_restarts_the_savings_the_same_table_keeps_them(self):
        client = self.client()
        client.split_for(2 ** 20, 2 ** 20, measured_at=1.0, elapsed_seconds=0)
        client.split_for(2 ** 20, 2 ** 20, measured_at=2.0, elapsed_seconds=100.15625)
        self.assertEqual(client.switching_state.accrued_saving_seconds, [0.0, 20.0, 0.0])
        self.assertEqual(client.handle_webhook(*delivery(scenario_plan(2), "m2"), now=NOW), (200, "applied"))
        self.assertEqual(client.switching_state.accrued_saving_seconds, [0.0, 20.0, 0.0], "the same table again")
        table = json.loads(json.dumps(SCENARIO["table"]))
        table["segments"][0]["fixed_seconds"] = 11
        self.assertEqual(client.handle_webhook(*delivery(scenario_plan(3, table=table), "m3"), now=NOW), (200, "applied"))
        self.assertEqual(client.switching_state.accrued_saving_seconds, [0.0, 0.0, 0.0], "a new table")

    def test_horizon_rule_from_the_daemon(self):
        client = self.client(switching=switching_block("horizon", horizon_iterations=100, minimum_relative_gain=0.05))
        self.assertEqual(client.policy, SwitchingPolicy(SwitchingRule(100, 0.05)))
        self.assertEqual(client.rule.horizon_iterations, 100)
        # 100 iterations x 2 s = 200 s > 183.1 s: move at once, no accrual needed.
        split = client.split_for(2 ** 20, 2 ** 20, elapsed_seconds=0)
        self.assertEqual((split.segment, split.reason, split.decision.revisit_after_seconds), (1, "paid for", None))
        self.assertEqual(client.switching_state.accrued_saving_seconds, [0.0, 0.0, 0.0])

    def test_a_new_model_version_is_left_whatever_the_cost(self):
        client = self.client()
        self.assertEqual(client.split_for(2 ** 20, 2 ** 20, elapsed_seconds=0).reason, "not yet paid for")
        client.handle_webhook(*delivery(scenario_plan(2, model_version=2), "m2"), now=NOW)
        split = client.split_for(2 ** 20, 2 ** 20, elapsed_seconds=0)
        self.assertEqual((split.segment, split.reason, split.moved), (1, "invalidated", True))
        close(self, split.migration_seconds, 183.10546875, "c and d up")


class SwitchingBlockTests(unittest.TestCase):
    def status(self, block, message_id="m1"):
        client = SplitClient(SECRET, device="cam-7")
        return client, client.handle_webhook(*delivery(scenario_plan(1, switching=block), message_id), now=NOW)

    def test_both_rules_are_adopted_with_estimator_and_optimizer(self):
        client, status = self.status(switching_block("payback", payback_factor=2.5, minimum_relative_gain=0.1,
                                                     estimator={"mean": "geometric", "time_constant_seconds": 30},
                                                     optimizer="adam", migration_bytes_per_parameter_byte=3.0))
        self.assertEqual(status, (200, "applied"))
        self.assertEqual(client.policy, SwitchingPolicy.payback(2.5, 0.1))
        self.assertEqual(client.estimator, LinkEstimator("geometric", 30.0))
        self.assertEqual((client.optimizer, client.factor), ("adam", 3.0))
        client, status = self.status(switching_block("horizon"))
        self.assertEqual((status, client.policy.to_json()),
                         ((200, "applied"), {"rule": "horizon", "horizon_iterations": 1000, "minimum_relative_gain": 0.0}))
        block = switching_block("horizon")
        self.assertEqual(Switching.from_json(block).to_json(), block)

    def test_missing_or_bad_fields_are_refused_naming_them(self):
        for rule, field in [("payback", "rule"), ("payback", "payback_factor"), ("payback", "minimum_relative_gain"),
                            ("payback", "estimator"), ("payback", "optimizer"), ("payback", "migration_bytes_per_parameter_byte"),
                            ("horizon", "horizon_iterations"), ("horizon", "minimum_relative_gain")]:
            block = switching_block(rule)
            del block[field]
            client, (status, reason) = self.status(block)
            self.assertEqual(status, 400, field)
            self.assertIn(f"switching.{field}: missing", reason)
            self.assertIsNone(client.table, "nothing is applied")
        for key in ("mean", "time_constant_seconds"):
            block = switching_block()
            del block["estimator"][key]
            _, (status, reason) = self.status(block)
            self.assertEqual((status, f"switching.estimator.{key}: missing" in reason), (400, True), reason)
        for changes, field in [({"rule": "lru"}, "switching.rule"), ({"payback_factor": -1}, "switching.payback_factor"),
                               ({"payback_factor": "1"}, "switching.payback_factor"),
                               ({"minimum_relative_gain": 1.0}, "switching.minimum_relative_gain"),
                               ({"estimator": {"mean": "median", "time_constant_seconds": 10}}, "switching.estimator.mean"),
                               ({"estimator": {"mean": "arithmetic", "time_constant_seconds": -1}},
                                "switching.estimator.time_constant_seconds"),
                               ({"estimator": 10}, "switching.estimator"), ({"optimizer": 3}, "switching.optimizer"),
                               ({"migration_bytes_per_parameter_byte": -2}, "switching.migration_bytes_per_parameter_byte")]:
            _, (status, reason) = self.status(switching_block(**changes))
            self.assertEqual(status, 400, field)
            self.assertIn(field + ":", reason)
        _, (status, reason) = self.status(switching_block("horizon", horizon_iterations=2.5))
        self.assertEqual(status, 400)
        self.assertIn("switching.horizon_iterations:", reason)
        _, (status, reason) = self.status(switching_block("lru"))
        self.assertIn("unknown rule 'lru'; expected payback or horizon", reason)
        # The old block (no rule, no estimator) is refused, not read with defaults.
        _, (status, reason) = self.status({"horizon_iterations": 1, "minimum_relative_gain": 0,
                                           "migration_bytes_per_parameter_byte": 2})
        self.assertEqual((status, "switching.rule: missing" in reason), (400, True))

    def test_without_a_block_the_client_keeps_its_own_configuration(self):
        client = SplitClient(SECRET, device="cam-7", optimizer="sgd", rule=PaybackRule(3.0),
                             estimator=LinkEstimator("geometric", 5))
        data = scenario_plan(1)
        del data["switching"]
        self.assertEqual(client.handle_webhook(*delivery(data), now=NOW), (200, "applied"))
        self.assertEqual((client.policy, client.estimator, client.factor),
                         (SwitchingPolicy.payback(3.0), LinkEstimator("geometric", 5), 1.0))


class InfeasibleTests(unittest.TestCase):
    NOTICE = {"status": "infeasible", "reason": "device_memory", "device": "cam-7", "model": "chain", "model_version": 1,
              "required_device_memory_bytes": 123456789, "device_memory_limit_bytes": 1000000,
              "detail": "no split of model 'chain' fits the device's memory: the smallest valid split needs 123456789 bytes"}

    def test_a_notice_ends_the_plan_until_a_newer_plan(self):
        client = SplitClient(SECRET, device="cam-7")
        client.handle_webhook(*delivery(scenario_plan(1), "m1"), now=NOW)
        self.assertIsNotNone(client.split_for(2 ** 20, 2 ** 20))
        status, reason = client.handle_webhook(*delivery(dict(self.NOTICE, sequence=2), "m2", event_type="split_plan.infeasible"),
                                               now=NOW)
        self.assertEqual(status, 200)
        self.assertIn("123456789 bytes", reason)
        self.assertEqual((client.infeasible.required_device_memory_bytes, client.infeasible.device_memory_limit_bytes),
                         (123456789, 1000000))
        self.assertEqual(client.infeasible.model, "chain")
        self.assertEqual(client.sequence, 2)
        self.assertIsNone(client.table)
        self.assertIsNone(client.split_for(2 ** 20, 2 ** 20), "no split runs")
        # An older plan arriving late changes nothing; a newer one is run again.
        self.assertIn("stale", client.handle_webhook(*delivery(scenario_plan(1), "m3"), now=NOW)[1])
        self.assertIsNotNone(client.infeasible)
        self.assertEqual(client.handle_webhook(*delivery(scenario_plan(3, segment=1), "m4"), now=NOW), (200, "applied"))
        self.assertIsNone(client.infeasible)
        split = client.split_for(2 ** 20, 2 ** 20, elapsed_seconds=0)
        self.assertEqual((split.segment, split.reason), (1, "best"), "the daemon's split of the new plan")

    def test_stale_other_device_and_malformed_notices(self):
        client = SplitClient(SECRET, device="cam-7")
        client.handle_webhook(*delivery(scenario_plan(5), "m1"), now=NOW)
        self.assertIn("stale", client.handle_webhook(*delivery(dict(self.NOTICE, sequence=4), "m2",
                                                               event_type="split_plan.infeasible"), now=NOW)[1])
        self.assertIn("ignored", client.handle_webhook(*delivery(dict(self.NOTICE, sequence=6, device="cam-8"), "m3",
                                                                 event_type="split_plan.infeasible"), now=NOW)[1])
        broken = dict(self.NOTICE, sequence=7)
        del broken["required_device_memory_bytes"]
        status, reason = client.handle_webhook(*delivery(broken, "m4", event_type="split_plan.infeasible"), now=NOW)
        self.assertEqual(status, 400)
        self.assertIn("required_device_memory_bytes: missing", reason)
        self.assertIsNone(client.infeasible)
        self.assertIsNotNone(client.table)


if __name__ == "__main__":
    unittest.main()
