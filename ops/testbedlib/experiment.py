"""Orchestration: profile, predict, then run the device and server processes on their cores."""

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from . import predict
from .link import read_trace
from .load import BuildLock, busy_fraction
from .predict import ModelFiles, Splitctl, rate_label

TESTBED = os.path.join(predict.ROOT, "ops", "testbed")
DEVICE_CORE, SERVER_CORE = 0, 1


@dataclass
class Settings:
    """Everything a run depends on (written next to its results)."""

    models: List[str]
    rates: List[float]
    batch: int = 8
    size: int = 128
    slowdown: float = 4.0
    rtt_seconds: float = 0.0
    warmup: int = 1
    iterations: int = 2
    """Measured iterations per split and rate in each round."""
    rounds: int = 3
    """Passes over every (rate, split): a slow spell of the shared machine then hits each split
    in a different pass instead of all the iterations of one."""
    max_phase_seconds: float = 30.0
    profile_repeat: int = 5
    profile_attempts: int = 2
    """Profiles measured while other processes disturbed them are measured again, up to this many times."""
    out: str = "out/testbed"
    reuse_profiles: bool = False
    quiet_wait_seconds: float = 0.0
    lock: Optional[str] = None
    """The build lock to hold while measuring one model (None: none)."""
    extra: Dict[str, Any] = field(default_factory=dict)


def log(message: str) -> None:
    """Progress on stderr."""
    print(f"testbed: {message}", file=sys.stderr, flush=True)


def machine() -> Dict[str, Any]:
    """What the numbers were measured on."""
    import platform
    import torch
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
            "kernel": platform.release(), "splitctl": predict.splitctl_binary()}


def split_key(device_layers: Sequence[str]) -> frozenset:
    return frozenset(device_layers)


def splits_to_run(table: Dict[str, Any], planner_picks: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Every split of the plan table, plus any planner pick the table does not hold (a tie)."""
    splits, seen = [], set()
    for index, segment in enumerate(table["segments"]):
        key = split_key(segment["device_layers"])
        if key not in seen:
            seen.add(key)
            splits.append({"id": f"s{index}", "device_layers": segment["device_layers"], "cut_layers": segment["cut_layers"]})
    for pick in planner_picks:
        key = split_key(pick["device_layers"])
        if key not in seen:
            seen.add(key)
            splits.append({"id": f"p{len(splits)}", "device_layers": pick["device_layers"], "cut_layers": pick["cut_layers"]})
    return splits


def start_pair(settings: Settings, files: ModelFiles, directory: str, script: Dict[str, Any],
               profile_repeat: int = 0) -> Dict[str, Any]:
    """Runs the server (its core) and the device (its core) through ``script``; returns both
    records (with ``profile_repeat``, each process first profiles itself: the server before it
    listens, the device before it connects; the device's record carries both profiles)."""
    os.makedirs(directory, exist_ok=True)
    link, script_path = os.path.join(directory, "link.json"), os.path.join(directory, "script.json")
    server_record, device_record = os.path.join(directory, "server.record.json"), os.path.join(directory, "device.record.json")
    with open(script_path, "w") as file:
        json.dump(script, file)
    common = ["--model", files.name, "--batch", str(settings.batch), "--size", str(settings.size), "--graph", files.graph,
              "--link", link, "--profile-repeat", str(profile_repeat)]
    with open(link, "w") as file:
        json.dump({"uplink": {"bps": None}, "downlink": {"bps": None}, "epoch": 0.0}, file)
    environment = predict.single_thread_environment()
    server = subprocess.Popen(predict.pinned(SERVER_CORE, [sys.executable, TESTBED, "server", *common, "--record", server_record]),
                              stdout=subprocess.PIPE, text=True, env=environment)
    try:
        line = server.stdout.readline() if server.stdout else ""
        if not line.startswith("listening on "):
            raise RuntimeError(f"the server did not start: {line!r}")
        port = line.split()[-1]
        device = subprocess.run(predict.pinned(DEVICE_CORE, [sys.executable, TESTBED, "device", *common, "--port", port,
                                                              "--slowdown", repr(settings.slowdown), "--script", script_path,
                                                              "--peer-pid", str(server.pid),
                                                              "--record", device_record]), env=environment)
        if device.returncode != 0:
            raise RuntimeError(f"the device process failed ({device.returncode})")
        server.wait(timeout=120)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    with open(device_record) as file:
        device_data = json.load(file)
    with open(server_record) as file:
        server_data = json.load(file)
    device_data["server_profile"] = server_data.get("profile")
    by_iteration = {row["iteration"]: row for row in server_data["iterations"]}
    for row in device_data["rows"]:
        for key, value in by_iteration.get(row["iteration"], {}).items():
            if key not in ("iteration", "split"):
                row[f"server_{key}"] = value
    return device_data


def phase_order(splits: List[Dict[str, Any]], rates: List[float], rounds: int) -> List[tuple]:
    """(round, rate, split) in a snake order: splits by device size, reversed every other pass,
    so that consecutive phases move few layers."""
    ordered = sorted(splits, key=lambda split: len(split["device_layers"]))
    phases, index = [], 0
    for round_index in range(rounds):
        for rate in rates:
            for split in (ordered if index % 2 == 0 else list(reversed(ordered))):
                phases.append((round_index, rate, split))
            index += 1
    return phases


def run_model(settings: Settings, name: str) -> Dict[str, Any]:
    """Profiles, predicts and measures one model at every rate and every split of its table."""
    directory = os.path.join(settings.out, name)
    log(f"{name}: exporting and profiling (device core {DEVICE_CORE}, server core {SERVER_CORE})")
    profile_busy = busy_fraction(1.0)
    began = time.monotonic()
    files = predict.prepare(name, settings.batch, settings.size, settings.slowdown, os.path.join(directory, "profiles"),
                            DEVICE_CORE, SERVER_CORE, settings.profile_repeat, settings.reuse_profiles,
                            settings.profile_attempts)
    profile_seconds = time.monotonic() - began
    splitctl = Splitctl(files, settings.batch, settings.rtt_seconds)
    table = splitctl.table()
    picks = {rate: splitctl.plan(rate, rate) for rate in settings.rates}
    splits = splits_to_run(table, list(picks.values()))
    before = predict_all(splitctl, splits, settings.rates)
    log(f"{name}: {len(table['segments'])} table segments, {len(splits)} splits x {len(settings.rates)} rates "
        f"(profiles {profile_seconds:.0f} s)")
    phases = []
    for round_index, rate, split in phase_order(splits, settings.rates, settings.rounds):
        spec = {"bps": rate}
        phases.append({"split": {"device_layers": split["device_layers"], "cut_layers": split["cut_layers"]},
                       "link": {"uplink": spec, "downlink": spec, "one_way_delay": settings.rtt_seconds / 2}, "warmup": settings.warmup, "iterations": settings.iterations,
                       "max_seconds": settings.max_phase_seconds, "min_iterations": 1,
                       "labels": {"model": name, "rate": rate, "split_id": split["id"], "round": round_index}})
    busy = busy_fraction(1.0)
    began = time.monotonic()
    # One pair of processes per round, each profiling itself before it trains: the same code
    # runs at different speeds from one process to the next on a shared virtual machine, so
    # the round's measurements are predicted from the round's own profiles.
    rows, migrations, by_round = [], [], []
    for round_index in range(settings.rounds):
        round_directory = os.path.join(directory, f"round{round_index}")
        script = {"phases": [phase for phase in phases if phase["labels"]["round"] == round_index]}
        record = start_pair(settings, files, round_directory, script, profile_repeat=settings.profile_repeat)
        rows += record["rows"]
        migrations += record["migrations"]
        own = predict.own_profile_files(files, record["profile"], record["server_profile"],
                                        os.path.join(round_directory, "profiles"), settings.slowdown)
        by_round.append(predict_all(Splitctl(own, settings.batch, settings.rtt_seconds), splits, settings.rates))
    log(f"{name}: measured in {time.monotonic() - began:.0f} s (machine {busy * 100:.0f}% busy before it)")
    return {"model": name, "files": asdict(files), "table": table, "splits": splits,
            "picks": {rate_label(rate): pick["device_layers"] for rate, pick in picks.items()},
            "predictions": median_predictions(by_round), "predictions_by_round": by_round, "predictions_before": before,
            "rows": rows, "migrations": migrations,
            "busy_before": busy, "busy_before_profiles": profile_busy, "profile_seconds": profile_seconds}


def predict_all(splitctl: Splitctl, splits: List[Dict[str, Any]], rates: List[float]) -> Dict[str, Any]:
    """splitctl's delay and breakdown of every split at every rate, by ``RATE/SPLIT``."""
    predictions = {}
    for rate in rates:
        for split in splits:
            evaluated = splitctl.evaluate(split["device_layers"], rate, rate)
            predictions[f"{rate_label(rate)}/{split['id']}"] = {"delay_seconds": evaluated["delay_seconds"],
                                                                "breakdown": evaluated["breakdown"],
                                                                "transfer_bytes": evaluated["transfer_bytes"]}
    return predictions


def median_predictions(by_round: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Per case, the median over rounds of the delay and of each term of its breakdown."""
    combined = {}
    for key, first in by_round[0].items():
        entries = [predictions[key] for predictions in by_round]
        combined[key] = {"delay_seconds": statistics.median(entry["delay_seconds"] for entry in entries),
                         "breakdown": {term: statistics.median(entry["breakdown"][term] for entry in entries)
                                       for term in first["breakdown"]},
                         "transfer_bytes": first["transfer_bytes"]}
    return combined


def run(settings: Settings) -> Dict[str, Any]:
    """The full sweep; writes ``results.json`` under ``settings.out`` and returns it."""
    os.makedirs(settings.out, exist_ok=True)
    results = {"settings": asdict(settings), "machine": machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "models": []}
    began = time.monotonic()
    for name in settings.models:
        with BuildLock(settings.lock, settings.quiet_wait_seconds) as lock:
            log(f"{name}: waited {lock.waited:.0f} s for an idle machine"
                f"{'' if not settings.lock else ', build lock held' if lock.held else ', build lock NOT held'}")
            model = run_model(settings, name)
            model["build_lock"] = {"held": lock.held, "waited_seconds": lock.waited}
        results["models"].append(model)
        with open(os.path.join(settings.out, "results.json"), "w") as file:
            json.dump(results, file)
    results["seconds"] = time.monotonic() - began
    with open(os.path.join(settings.out, "results.json"), "w") as file:
        json.dump(results, file)
    return results


def trace_csv(trace: Any, scale: float, path: str, floor_bps: float) -> None:
    """The trace as splitd CSV for ``splitctl simulate`` (rates x scale; outages at ``floor_bps``,
    since splitd CSV refuses a rate of 0)."""
    with open(path, "w") as file:
        file.write("time_seconds,uplink_bps,downlink_bps\n")
        for index, (up, down) in enumerate(zip(trace.uplink, trace.downlink)):
            file.write(f"{index * trace.step_seconds:g},{max(up * scale, floor_bps):.0f},{max(down * scale, floor_bps):.0f}\n")


def run_trace(settings: Settings, name: str, trace_path: str, scale: float, start: float, seconds: float,
              step_seconds: float, uplink_ratio: float, static: bool, horizon: int = 1) -> Dict[str, Any]:
    """One trace run of ``name`` with its plan table (and, with ``static``, one with the split the
    table gives for the trace's first rates, never switching), against ``splitctl simulate``."""
    directory = os.path.join(settings.out, f"trace-{name}")
    files = predict.prepare(name, settings.batch, settings.size, settings.slowdown, os.path.join(directory, "profiles"),
                            DEVICE_CORE, SERVER_CORE, settings.profile_repeat, settings.reuse_profiles,
                            settings.profile_attempts)
    splitctl = Splitctl(files, settings.batch, settings.rtt_seconds)
    table = splitctl.table()
    trace = read_trace(trace_path, step_seconds, uplink_ratio).window(start, seconds)
    if any(rate == 0 for rate in trace.uplink + trace.downlink):
        log("the trace window has outages: the simulator gets them at 1 kbit/s (splitd CSV refuses 0)")
    csv = os.path.join(directory, "trace.csv")
    trace_csv(trace, scale, csv, 1000.0)
    link = {"uplink": trace.schedule_spec("uplink", scale), "downlink": trace.schedule_spec("downlink", scale),
            "one_way_delay": settings.rtt_seconds / 2}
    first = splitctl.plan(max(trace.uplink[0] * scale, 1000.0), max(trace.downlink[0] * scale, 1000.0))
    initial = {"device_layers": first["device_layers"], "cut_layers": first["cut_layers"]}
    runs = {}
    for mode in (["table", "static"] if static else ["table"]):
        script = {"trace": {"table": table, "model": name, "initial_split": initial, "link": link, "duration": trace.duration,
                            "warmup": settings.warmup, "horizon": horizon, "migration_factor": 2.0}}
        if mode == "static":
            # a table with the initial split only: the device never switches
            only = next(s for s in table["segments"] if set(s["device_layers"]) == set(initial["device_layers"]))
            script["trace"]["table"] = dict(table, segments=[dict(only, min_effective_bps=0, max_effective_bps=None)])
        with BuildLock(settings.lock, settings.quiet_wait_seconds) as lock:
            log(f"trace run {name} ({mode}): {trace.duration:.0f} s of {trace.name} x {scale:g}"
                f"{', build lock held' if lock.held else ''}")
            record = start_pair(settings, files, os.path.join(directory), script)
        runs[mode] = {"rows": [row for row in record["rows"] if row.get("phase") == "trace"],
                      "migrations": record["migrations"]}
    simulated = splitctl.simulate(csv, policies="table,static", horizon=horizon, extra=["--duration", f"{trace.duration:g}"])
    result = {"model": name, "trace": {"path": trace_path, "name": trace.name, "start": start, "seconds": trace.duration,
                                       "step_seconds": step_seconds, "scale": scale, "uplink_ratio": uplink_ratio,
                                       "mean_uplink_bps": sum(trace.uplink) / len(trace.uplink) * scale,
                                       "mean_downlink_bps": sum(trace.downlink) / len(trace.downlink) * scale},
              "table": table, "initial_split": initial, "runs": runs, "simulated": simulated, "csv": csv,
              "files": asdict(files), "link": link, "horizon": horizon,
              "settings": asdict(settings), "machine": machine()}
    with open(os.path.join(settings.out, f"trace-{name}.json"), "w") as file:
        json.dump(result, file)
    return result
