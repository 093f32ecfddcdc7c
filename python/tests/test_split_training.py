"""Split training over TCP equals unsplit training, with switches in both directions; timings."""

import os
import subprocess
import sys
import unittest

import torch

from splitd.torch import SplitTrainer

from .support import ROOT
from .training_support import OPTIMIZERS, SPLITS, ServerThread, example_batch, fresh_model, unsplit_run

TOLERANCE = 1e-5
ITERATIONS = 20
# Iteration -> split index to move to before it: every split, both directions, several times.
SCHEDULE = {3: 2, 6: 1, 8: 3, 11: 0, 13: 2, 15: 3, 17: 1}


def batches(count, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return [example_batch(generator) for _ in range(count)]


class SwitchingEquivalenceTests(unittest.TestCase):
    def check(self, optimizer):
        data = batches(ITERATIONS)
        reference = fresh_model()
        expected_losses = unsplit_run(reference, optimizer, data)
        server = ServerThread(fresh_model(), optimizer)
        device_model = fresh_model()
        trainer = SplitTrainer(device_model, SPLITS[1], example_batch()[0], OPTIMIZERS[optimizer], server.address)
        losses, moved_up, moved_down = [], 0, 0
        with trainer:
            for iteration, (images, labels) in enumerate(data):
                if iteration in SCHEDULE:
                    report = trainer.set_plan(SPLITS[SCHEDULE[iteration]])
                    moved_up += report.parameters_up
                    moved_down += report.parameters_down
                losses.append(trainer.train_step(images, labels).loss)
        self.assertIsNone(server.join())
        self.assertGreater(moved_up, 0)
        self.assertGreater(moved_down, 0)
        for iteration, (loss, expected) in enumerate(zip(losses, expected_losses)):
            self.assertLessEqual(abs(loss - expected), TOLERANCE, f"{optimizer}: loss of iteration {iteration}")
        # Each side holds the current values of its own layers; together they are the unsplit model.
        placement = trainer.placement
        device_state, server_state = device_model.state_dict(), server.server.model.state_dict()
        for name, expected in reference.state_dict().items():
            held = device_state if name in placement.device.parameters | placement.device.buffers else server_state
            difference = (held[name].double() - expected.double()).abs().max().item()
            self.assertLessEqual(difference, TOLERANCE, f"{optimizer}: {name} after {ITERATIONS} iterations")
        # The moved optimizer state is what the cost model prices, per parameter byte.
        return trainer

    def test_sgd(self):
        trainer = self.check("sgd")
        for report in trainer.migrations:
            self.assertEqual(report.priced_bytes, report.parameter_bytes_up + report.parameter_bytes_down)

    def test_momentum(self):
        trainer = self.check("momentum")
        for report in trainer.migrations:
            self.assertEqual(report.optimizer_bytes, report.parameter_bytes_up + report.parameter_bytes_down)
            self.assertEqual(report.priced_bytes, 2 * (report.parameter_bytes_up + report.parameter_bytes_down))

    def test_adam(self):
        trainer = self.check("adam")
        for report in trainer.migrations:
            weights = report.parameter_bytes_up + report.parameter_bytes_down
            self.assertEqual(report.priced_bytes, 3 * weights)
            # Two moment buffers per parameter, plus a 4-byte step counter each (not priced).
            moved = report.parameters_up + report.parameters_down
            self.assertEqual(report.optimizer_bytes, 2 * weights + 4 * moved)


class TimingTests(unittest.TestCase):
    def test_phases_are_measured_and_add_up_to_no_more_than_the_wall_time(self):
        from splitd.torch.wire import monotonic

        server = ServerThread(fresh_model(), "momentum")
        trainer = SplitTrainer(fresh_model(), SPLITS[1], example_batch()[0], OPTIMIZERS["momentum"], server.address)
        with trainer:
            images, labels = example_batch()
            trainer.train_step(images, labels)
            trainer.set_plan(SPLITS[2])
            start = monotonic()
            timings = trainer.train_step(images, labels)
            wall = monotonic() - start
        self.assertIsNone(server.join())
        for phase in ("device_forward", "uplink", "server_compute", "device_backward", "device_step", "migration"):
            self.assertGreater(getattr(timings, phase), 0, phase)
        self.assertGreaterEqual(timings.downlink, 0)
        self.assertLessEqual(timings.total - timings.migration, wall)
        self.assertGreater(timings.uplink_bytes, 4 * 4 * 6 * 6 * 4)  # the cut relu_1: 4 x 4 x 6 x 6 float32
        self.assertEqual(len(server.server.timings), 2)
        self.assertTrue(all(t.step > 0 and t.compute > 0 for t in server.server.timings))
        self.assertEqual(timings.as_dict()["total"], timings.total)


class TwoProcessTests(unittest.TestCase):
    def test_device_and_server_in_separate_processes_over_loopback(self):
        data = batches(6, seed=5)
        expected = unsplit_run(fresh_model(), "adam", data)
        environment = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python") + os.pathsep + os.environ.get("PYTHONPATH", ""))
        server = subprocess.Popen([sys.executable, "-m", "tests.server_process", "adam"], cwd=os.path.join(ROOT, "python"),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
        try:
            port = int(server.stdout.readline().split()[-1])  # "listening on PORT", then it serves one session
            losses = []
            with SplitTrainer(fresh_model(), SPLITS[2], example_batch()[0], OPTIMIZERS["adam"], ("127.0.0.1", port)) as trainer:
                for index, (images, labels) in enumerate(data):
                    if index == 3:
                        trainer.set_plan(SPLITS[0])
                    losses.append(trainer.train_step(images, labels).loss)
            output, errors = server.communicate(timeout=120)
        finally:
            if server.poll() is None:
                server.kill()
        self.assertEqual(server.returncode, 0, errors)
        self.assertIn("served 6 iterations", output)
        for loss, reference in zip(losses, expected):
            self.assertLessEqual(abs(loss - reference), TOLERANCE)


if __name__ == "__main__":
    unittest.main()
