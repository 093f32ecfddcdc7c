#!/usr/bin/env python3
"""Summarizes ops/bench/real-links.sh's runs as Markdown (docs/evaluation.md shows the result).

    real-links-summary.py RUNS.csv OUT_DIR [--seconds S] [--estimator-seconds S]

Ratios are of mean iteration delay (trace length / iterations done, the unfinished one counted by
its fraction): to `hindsight` (the best schedule knowing the trace) and to `best-fixed` (the best
single split). Percentiles are nearest-rank over (model, device, trace).
"""
import argparse
import collections
import csv
import math
import os
import platform
import subprocess

parser = argparse.ArgumentParser()
parser.add_argument("runs")
parser.add_argument("out")
parser.add_argument("--seconds", type=int, default=0)
parser.add_argument("--estimator-seconds", type=int, default=0)
arguments = parser.parse_args()


def percentile(values, level):
    ordered = sorted(values)
    rank = max(1, math.ceil(level / 100 * len(ordered)))
    return ordered[min(len(ordered), rank) - 1]


def geometric_mean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


runs = collections.defaultdict(dict)  # (variant, scale, model, device, trace) -> policy -> row
with open(arguments.runs) as handle:
    for row in csv.DictReader(handle):
        key = (row["variant"], row["scale"], row["model"], row["device"], row["trace"])
        runs[key][row["policy"]] = row

scales = sorted({key[1] for key in runs}, key=float)
policies = ["daemon", "dag", "block", "chain", "boundary", "static", "server-only", "table", "best-fixed"]
variants = ["all", "payback-2", "horizon-1", "horizon-10", "geometric-30s", "push-split"]
variant_names = {
    "all": "default: arithmetic τ 10 s, payback θ 1, push table",
    "payback-2": "payback θ 2",
    "horizon-1": "horizon 1",
    "horizon-10": "horizon 10",
    "geometric-30s": "geometric τ 30 s",
    "push-split": "push split",
}


def ratios(variant, scale, policy):
    """Per (model, device, trace): (ratio to hindsight, ratio to best-fixed, plan changes)."""
    values = []
    for key, rows in runs.items():
        if key[0] != variant or key[1] != scale or policy not in rows or "hindsight" not in rows or "best-fixed" not in rows:
            continue
        mean = float(rows[policy]["mean_delay_seconds"])
        values.append((mean / float(rows["hindsight"]["mean_delay_seconds"]), mean / float(rows["best-fixed"]["mean_delay_seconds"]),
                       int(rows[policy]["plan_changes"])))
    return values


def machine():
    cpu = platform.processor() or ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        swift = "swift"
    return f"{os.cpu_count()} cores, {cpu}; {platform.system()} {platform.release()}; {swift}"


lines = ["# Real links: summary of ops/bench/real-links.sh", ""]
lines.append(f"Machine: {machine()}. Simulations: {arguments.seconds} s wall; estimator measurement: {arguments.estimator_seconds} s.")
lines.append("")
for scale in scales:
    count = len(ratios("all", scale, "daemon"))
    lines.append(f"## Links x{scale} ({count} runs: model x device x trace)")
    lines.append("")
    lines.append("| policy | median / hindsight | p90 | max | mean (geometric) | max / best-fixed | runs > 1% slower than best-fixed | plan changes |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for policy in policies:
        values = ratios("all", scale, policy)
        if not values:
            continue
        hindsight = [v[0] for v in values]
        fixed = [v[1] for v in values]
        lines.append(
            f"| {policy} | {percentile(hindsight, 50):.3f} | {percentile(hindsight, 90):.3f} | {max(hindsight):.3f} | "
            f"{geometric_mean(hindsight):.4f} | {max(fixed):.3f} | {sum(f > 1.01 for f in fixed)} | {sum(v[2] for v in values)} |")
    daemon = ratios("all", scale, "daemon")
    hindsight = [v[0] for v in daemon]
    fixed = [v[1] for v in daemon]
    goals = [
        ("median <= 1.03x hindsight", percentile(hindsight, 50) <= 1.03),
        ("p90 <= 1.10x hindsight", percentile(hindsight, 90) <= 1.10),
        ("never > 1% slower than best-fixed", max(fixed) <= 1.01),
    ]
    lines.append("")
    lines.append("Daemon goals: " + "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in goals) + ".")
    lines.append("")
    lines.append("| daemon settings | median / hindsight | p90 | max | mean (geometric) | max / best-fixed | runs > 1% slower than best-fixed | plan changes |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for variant in variants:
        values = ratios(variant, scale, "daemon")
        if not values:
            continue
        hindsight = [v[0] for v in values]
        fixed = [v[1] for v in values]
        lines.append(
            f"| {variant_names[variant]} | {percentile(hindsight, 50):.3f} | {percentile(hindsight, 90):.3f} | {max(hindsight):.3f} | "
            f"{geometric_mean(hindsight):.4f} | {max(fixed):.3f} | {sum(f > 1.01 for f in fixed)} | {sum(v[2] for v in values)} |")
    lines.append("")
    gains = [1 / v[1] * v[0] for v in ratios("all", scale, "best-fixed")]  # best-fixed over hindsight
    lines.append(
        f"Switching is worth (best-fixed over hindsight): median {percentile(gains, 50):.4f}, p90 {percentile(gains, 90):.4f}, "
        f"max {max(gains):.4f}.")
    worst = sorted(((v[1], key) for key, rows in runs.items() if key[0] == "all" and key[1] == scale and "daemon" in rows and "best-fixed" in rows
                    for v in [(0, float(rows["daemon"]["mean_delay_seconds"]) / float(rows["best-fixed"]["mean_delay_seconds"]))]),
                   reverse=True)[:5]
    lines.append("Daemon's largest ratios to best-fixed: " + ", ".join(f"{key[2]} {key[3]} {key[4]} {ratio:.3f}" for ratio, key in worst) + ".")
    lines.append("")
for scale in scales:
    path = os.path.join(arguments.out, f"estimators.scale-{scale}.txt")
    if os.path.exists(path):
        lines.append(f"## Estimators, links x{scale}")
        lines.append("")
        lines.append("```")
        lines.extend(open(path).read().rstrip().splitlines())
        lines.append("```")
        lines.append("")
print("\n".join(lines))
