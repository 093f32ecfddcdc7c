"""Predictions from the real tools: ``ops/export-torch`` measures both sides' layers on their own
core, ``splitctl`` plans, tables and prices splits with those profiles."""

import copy
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

from . import models
from .load import QUIET_CORES, Window

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPORT_TORCH = os.path.join(ROOT, "ops", "export-torch")
TRAINING_OPTIMIZER = "momentum"
"""What both sides train with (``roles.optimizer_factory``: SGD, momentum 0.9), as splitctl and
ops/export-torch name it."""
NOMINAL_FLOPS = "1e11"
"""FLOP/s given to splitctl next to the profiles; every non-input layer is profiled, so unused."""


def splitctl_binary() -> str:
    """``$SPLITCTL``, else ``.build/release/splitctl``, else ``.build/debug/splitctl`` (never builds)."""
    candidates = [os.environ.get("SPLITCTL", ""), os.path.join(ROOT, ".build", "release", "splitctl"),
                  os.path.join(ROOT, ".build", "debug", "splitctl")]
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path
    raise RuntimeError("no splitctl binary: set SPLITCTL or build one (swift build --product splitctl)")


PRIORITY = -19
"""Niceness of every measured process: a concurrent build on the same core gets about 1% of it
while ours runs (CFS weights 88761 : 1024) and all of it while ours waits; where raising the
priority is not allowed, ``nice`` says so and runs the command at its normal priority."""


def pinned(core: int, command: Sequence[str]) -> List[str]:
    """``command`` pinned to one core, at the testbed's priority."""
    return ["nice", "-n", str(PRIORITY), "taskset", "-c", str(core), *command]


def single_thread_environment() -> Dict[str, str]:
    """The environment of every torch process here: one intra-op thread."""
    return dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


@dataclass
class ModelFiles:
    """A model's graph and profiles at one batch and input size."""

    name: str
    graph: str
    device_profile: str
    """Measured on the device's core, times the slowdown."""
    measured_device_profile: str
    """Measured on the device's core, as measured."""
    server_profile: str


def prepare(name: str, batch: int, size: int, slowdown: float, directory: str, device_core: int, server_core: int,
            repeat: int = 5, reuse: bool = False, attempts: int = 2) -> ModelFiles:
    """Exports the graph and profiles the model on both cores (one after the other, as the two
    sides never compute at once in split training); the device profile is scaled by ``slowdown``.
    A profile measured while other processes kept more than ``load.QUIET_CORES`` busy is
    measured again, up to ``attempts`` times, and the least disturbed one kept
    (``conditions.json`` says how disturbed)."""
    os.makedirs(directory, exist_ok=True)
    files = ModelFiles(name, os.path.join(directory, "graph.json"), os.path.join(directory, "device.json"),
                       os.path.join(directory, "device.measured.json"), os.path.join(directory, "server.json"))
    conditions_path = os.path.join(directory, "conditions.json")
    if not (reuse and all(os.path.exists(path) for path in (files.graph, files.measured_device_profile, files.server_profile))):
        base = [sys.executable, EXPORT_TORCH, *models.export_arguments(name, 1, size), "--profile", "cpu",
                "--batch", str(batch), "--repeat", str(repeat)]
        conditions = {}
        # Both sides' layers are timed inside whole training steps (--profile-timing fused). The
        # device's profile includes its optimizer step, which it runs before its next forward;
        # the server steps after its reply is sent, off the iteration's critical path.
        for side, core, profile, graph, optimizer in (
                ("device", device_core, files.measured_device_profile, files.graph, TRAINING_OPTIMIZER),
                ("server", server_core, files.server_profile, os.devnull, "none")):
            best = None
            for attempt in range(attempts):
                candidate = f"{profile}.attempt{attempt}"
                window = Window([], children=True)
                window.start()
                command = [*base, "--output", graph, "--profile-output", candidate, "--optimizer", optimizer]
                run = subprocess.run(pinned(core, command), capture_output=True, text=True, env=single_thread_environment(),
                                     cwd=ROOT)
                foreign = window.stop()
                if run.returncode != 0:
                    raise RuntimeError(f"ops/export-torch {name} failed ({run.returncode}): {run.stderr.strip()[-2000:]}")
                if best is None or foreign < best[0]:
                    best = (foreign, candidate)
                if foreign <= QUIET_CORES:
                    break
            os.replace(best[1], profile)
            for leftover in (f"{profile}.attempt{attempt}" for attempt in range(attempts)):
                if os.path.exists(leftover):
                    os.remove(leftover)
            conditions[side] = {"foreign_cores": best[0], "attempts": attempt + 1}
        with open(conditions_path, "w") as file:
            json.dump(conditions, file)
    write_device_profile(files, slowdown)
    return files


def write_device_profile(files: ModelFiles, slowdown: float) -> None:
    """``files.device_profile``: the measured device profile times the slowdown."""
    with open(files.measured_device_profile) as file:
        profile = json.load(file)
    scaled = copy.deepcopy(profile)
    for times in scaled["layers"].values():
        times["forward_ms"] *= slowdown
        times["backward_ms"] *= slowdown
    scaled["hardware"] = f"{profile.get('hardware', 'cpu')}, slowed down {slowdown:g}x (testbed device)"
    with open(files.device_profile, "w") as file:
        json.dump(scaled, file, indent=1)


def own_profile_files(files: ModelFiles, device_profile: Dict[str, Any], server_profile: Dict[str, Any], directory: str,
                      slowdown: float) -> ModelFiles:
    """The files of the profiles the training processes took of themselves (same graph)."""
    os.makedirs(directory, exist_ok=True)
    own = ModelFiles(files.name, files.graph, os.path.join(directory, "device.json"),
                     os.path.join(directory, "device.measured.json"), os.path.join(directory, "server.json"))
    for path, profile in ((own.measured_device_profile, device_profile), (own.server_profile, server_profile)):
        with open(path, "w") as file:
            json.dump(profile, file, indent=1)
    write_device_profile(own, slowdown)
    return own


class Splitctl:
    """Runs splitctl on one model's files with the testbed's conditions."""

    def __init__(self, files: ModelFiles, batch: int, rtt_seconds: float, optimizer: str = TRAINING_OPTIMIZER):
        self.binary = splitctl_binary()
        self.files = files
        self.common = ["--batch", str(batch), "--device-flops", NOMINAL_FLOPS, "--server-flops", NOMINAL_FLOPS,
                       "--rtt", repr(rtt_seconds), "--device-profile", files.device_profile,
                       "--server-profile", files.server_profile, "--optimizer", optimizer]

    def run(self, command: str, *arguments: str) -> Dict[str, Any]:
        """``splitctl COMMAND GRAPH ... --format json``, parsed."""
        run = subprocess.run([self.binary, command, self.files.graph, *self.common, *arguments, "--format", "json"],
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"splitctl {command} failed ({run.returncode}): {run.stderr.strip()}")
        return json.loads(run.stdout)

    def table(self) -> Dict[str, Any]:
        """The plan table."""
        return self.run("table")

    def plan(self, uplink_bps: float, downlink_bps: float) -> Dict[str, Any]:
        """The planner's split at these rates."""
        return self.run("plan", "--uplink", f"{uplink_bps:.0f}", "--downlink", f"{downlink_bps:.0f}")

    def evaluate(self, device_layers: Sequence[str], uplink_bps: float, downlink_bps: float) -> Dict[str, Any]:
        """The cost model's price of a split (delay and breakdown)."""
        return self.run("evaluate", "--device-layers", ",".join(device_layers),
                        "--uplink", f"{uplink_bps:.0f}", "--downlink", f"{downlink_bps:.0f}")

    def simulate(self, trace_csv: str, policies: str = "table", horizon: int = 1,
                 extra: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        """``splitctl simulate`` over a splitd CSV trace."""
        return self.run("simulate", "--trace", trace_csv, "--policies", policies, "--switch-horizon", str(horizon),
                        *(extra or []))


def parse_rate(text: str) -> float:
    """``5M``, ``500k``, ``1.5G`` or bit/s."""
    units = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}
    cleaned = text.strip().removesuffix("bps").removesuffix("bit/s")
    if cleaned and cleaned[-1] in units:
        return float(cleaned[:-1]) * units[cleaned[-1]]
    return float(cleaned)


def rate_label(bits_per_second: float) -> str:
    """``5M``-style label."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if bits_per_second >= scale:
            return f"{bits_per_second / scale:g}{unit}"
    return f"{bits_per_second:g}"
