"""The per-layer profiles' sums against the whole model's training step, in one process on one
core, alternating so all see the same machine: how far each profiling method's sum (layers
timed inside fused steps, ``--profile-timing fused``; layers timed alone, ``isolated``) is from
what the unsplit model's forward, backward and optimizer step take."""

import importlib.machinery
import importlib.util
import json
import statistics
import sys
import time
from typing import Any, Dict, List

import torch

from . import models
from .predict import EXPORT_TORCH


def exporter() -> Any:
    """ops/export-torch as a module (its Recorder times layers as the profiles do)."""
    loader = importlib.machinery.SourceFileLoader("export_torch", EXPORT_TORCH)
    spec = importlib.util.spec_from_loader("export_torch", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def fused_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, inputs: Any, labels: Any) -> Dict[str, float]:
    """One unsplit training step: forward with the loss, backward, optimizer step (seconds)."""
    started = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(model(inputs), labels)
    forwarded = time.perf_counter()
    loss.backward()
    backwarded = time.perf_counter()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return {"forward": forwarded - started, "backward": backwarded - forwarded, "step": time.perf_counter() - backwarded}


def calibrate(name: str, batch: int, size: int, rounds: int = 3, repeat: int = 5) -> Dict[str, Any]:
    """Per round: three fused steps (after one warm-up), then every layer alone as export-torch
    profiles it (median of ``repeat``); medians over rounds."""
    torch.set_num_threads(1)
    export = exporter()
    model = models.build(name)
    batches = models.Batches(batch, size)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    traced, _ = export.trace(model, batches.get(0)[0], "fx")
    traced.train()
    fused: List[Dict[str, float]] = []
    layered: List[Dict[str, float]] = []
    in_steps: List[Dict[str, float]] = []  # fused profiles: backward includes the optimizer step
    fused_step(model, optimizer, *batches.get(0))
    for _ in range(rounds):
        for iteration in range(3):
            fused.append(fused_step(model, optimizer, *batches.get(iteration)))
        recorder = export.Recorder(traced, batch=batch, profile_device=torch.device("cpu"), repeat=repeat)
        recorder.run(batches.get(0)[0])
        layered.append({"forward": sum(t["forward_ms"] for t in recorder.times.values()) / 1000,
                        "backward": sum(t["backward_ms"] for t in recorder.times.values()) / 1000})
        times = export.fused_profile(traced, batches.get(0)[0], recorder.layers, torch.device("cpu"), repeat, "momentum")
        in_steps.append({"forward": sum(t["forward_ms"] for t in times.values()) / 1000,
                         "backward": sum(t["backward_ms"] for t in times.values()) / 1000})
    result = {"model": name, "batch": batch, "size": size, "rounds": rounds}
    for part in ("forward", "backward"):
        result[f"fused_{part}"] = statistics.median(step[part] for step in fused)
        result[f"layers_{part}"] = statistics.median(entry[part] for entry in layered)
        result[f"ratio_{part}"] = result[f"layers_{part}"] / result[f"fused_{part}"]
    result["fused_step"] = statistics.median(step["step"] for step in fused)
    result["fused_total"] = statistics.median(step["forward"] + step["backward"] + step["step"] for step in fused)
    result["profile_fused_total"] = statistics.median(entry["forward"] + entry["backward"] for entry in in_steps)
    result["ratio_profile_fused"] = result["profile_fused_total"] / result["fused_total"]
    result["ratio_profile_isolated"] = (result["layers_forward"] + result["layers_backward"]) / result["fused_total"]
    result["parameter_bytes"] = sum(p.numel() * p.element_size() for p in model.parameters())
    result["spread_fused_forward"] = [min(s["forward"] for s in fused), max(s["forward"] for s in fused)]
    return result


def main(names: List[str], batch: int, size: int, rounds: int) -> None:
    """Prints one JSON line per model."""
    for name in names:
        print(json.dumps(calibrate(models.check_name(name), batch, size, rounds)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 3)
