"""ops/testbed's quick mode end to end: real split training on two pinned processes over the
shaped link, against splitctl's prediction. Checks the report's structure and that its numbers
are sane (not the accuracy goals: those are a benchmark, docs/testbed.md)."""

import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from .support import ROOT, splitctl

TESTBED = os.path.join(ROOT, "ops", "testbed")


class TestbedQuickRunTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        binary = splitctl()
        if binary is None:
            if os.environ.get("SPLITD_PY_SKIP_SPLITCTL") == "1":
                raise unittest.SkipTest("no splitctl binary (SPLITD_PY_SKIP_SPLITCTL=1)")
            raise AssertionError("no splitctl binary: build it, set SPLITCTL, or set SPLITD_PY_SKIP_SPLITCTL=1")
        if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
            raise unittest.SkipTest("the testbed needs taskset and two cores")
        cls.out = tempfile.mkdtemp(prefix="splitd-testbed-")
        run = subprocess.run([sys.executable, TESTBED, "run", "--quick", "--out", cls.out], capture_output=True, text=True,
                             env=dict(os.environ, SPLITCTL=binary), timeout=900)
        cls.run_result = run
        cls.stdout = run.stdout
        if run.returncode == 0:
            with open(os.path.join(cls.out, "results.json")) as file:
                cls.results = json.load(file)
            with open(os.path.join(cls.out, "summary.json")) as file:
                cls.summary = json.load(file)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(getattr(cls, "out", ""), ignore_errors=True)

    def setUp(self):
        self.assertEqual(self.run_result.returncode, 0, self.run_result.stderr[-3000:])

    def test_every_split_of_the_table_is_measured_at_every_rate(self):
        model = self.results["models"][0]
        self.assertEqual(model["model"], "resnet18")
        rates = self.results["settings"]["rates"]
        self.assertEqual(len(rates), 2)
        self.assertGreaterEqual(len(model["splits"]), 2)
        table_splits = {frozenset(segment["device_layers"]) for segment in model["table"]["segments"]}
        self.assertTrue(table_splits <= {frozenset(split["device_layers"]) for split in model["splits"]})
        cases = {(case["rate_label"], case["split"]) for case in self.summary["cases"]}
        self.assertEqual(len(cases), len(rates) * len(model["splits"]))
        settings = self.results["settings"]
        for case in self.summary["cases"]:
            self.assertGreaterEqual(case["iterations"], 1)
            self.assertLessEqual(case["iterations"], settings["iterations"] * settings["rounds"])

    def test_measurements_and_predictions_are_sane(self):
        for case in self.summary["cases"]:
            with self.subTest(rate=case["rate_label"], split=case["split"]):
                self.assertGreater(case["predicted"], 0)
                self.assertGreater(case["measured"], 0)
                self.assertLessEqual(case["measured_min"], case["measured"])
                self.assertLessEqual(case["measured"], case["measured_max"])
                # Compute, link and overhead add up to the iteration, and each is non-negative.
                for part in ("measured_device", "measured_server", "measured_link"):
                    self.assertGreater(case[part], 0, part)
                self.assertLess(case["measured_device"] + case["measured_server"] + case["measured_link"], case["measured"] * 1.001)
                # The shaped link takes what the cost model charges for the same bytes (pacing
                # is exact up to a late wake-up per frame).
                self.assertAlmostEqual(case["measured_link"], case["predicted_link"], delta=0.01 + 0.05 * case["predicted_link"])
                self.assertTrue(math.isfinite(case["error"]))

    def test_planner_pick_and_goals_are_reported(self):
        self.assertEqual(len(self.summary["picks"]), 2)
        for pick in self.summary["picks"]:
            self.assertIsNotNone(pick["pick"])
            self.assertGreaterEqual(pick["ratio"], 1.0)
        for key in ("goals", "goals_before", "goals_with_terms"):
            goals = self.summary[key]
            self.assertEqual(goals["cases"], len(self.summary["cases"]))
            self.assertEqual(set(goals["met"]), {"median", "p90", "pick"})
            self.assertGreaterEqual(goals["p90_abs_error"], goals["median_abs_error"])
        terms = self.summary["terms"]
        self.assertTrue(all(math.isfinite(value) for value in terms.values()))
        self.assertGreater(terms["device_step_seconds_per_parameter_byte"], 0)

    def test_outputs_are_written(self):
        with open(os.path.join(self.out, "results.csv")) as file:
            rows = list(csv.DictReader(file))
        self.assertEqual(len(rows), len(self.summary["cases"]))
        self.assertIn("predicted", rows[0])
        self.assertIn("| model | rate | split |", self.stdout)
        self.assertIn("Goals, cost model as splitctl has it", self.stdout)
        for name in ("graph.json", "device.json", "device.measured.json", "server.json"):
            self.assertTrue(os.path.exists(os.path.join(self.out, "resnet18", "profiles", name)), name)

    def test_each_round_is_predicted_from_its_own_processes_profiles(self):
        model = self.results["models"][0]
        self.assertEqual(len(model["predictions_by_round"]), 1)  # --quick: one round
        self.assertEqual(model["predictions"], model["predictions_by_round"][0])
        self.assertEqual(set(model["predictions_before"]), set(model["predictions"]))
        with open(os.path.join(self.out, "resnet18", "profiles", "graph.json")) as file:
            layers = {layer["name"] for layer in json.load(file)["layers"] if layer["op"] != "input"}
        profiles = {}
        for side, optimizer in (("device.measured.json", "momentum"), ("server.json", "none"), ("device.json", "momentum")):
            with open(os.path.join(self.out, "resnet18", "round0", "profiles", side)) as file:
                profiles[side] = json.load(file)
            self.assertEqual(set(profiles[side]["layers"]), layers, side)
            self.assertEqual((profiles[side]["timing"], profiles[side]["optimizer"]), ("fused", optimizer), side)
        name = sorted(layers)[0]
        self.assertAlmostEqual(profiles["device.json"]["layers"][name]["forward_ms"],
                               profiles["device.measured.json"]["layers"][name]["forward_ms"] * self.results["settings"]["slowdown"],
                               places=6)


if __name__ == "__main__":
    unittest.main()
