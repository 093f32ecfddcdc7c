#!/usr/bin/env bash
# Training delay versus device memory limit: what each GB of device memory buys.
# Plans three sample models under a sweep of limits (exact block planner; dag gives the same) at
# batch 32 with Adam, device 1e11 FLOP/s, server 2e13 FLOP/s, rtt 10 ms, and the given link rate
# both ways. Cells: delay per iteration, and in brackets the memory the plan uses; "needs X" when
# no valid split fits (X is the least memory any valid split needs).
# Usage: ops/bench/memory.sh [RATE]   (default 20M bit/s)  → Markdown table on stdout
set -euo pipefail
cd "$(dirname "$0")/../.."
rate="${1:-20M}"
ops/lib/build-release splitctl
python3 - "$rate" <<'PY'
import json, subprocess, sys
rate = sys.argv[1]
bin = ".build/release/splitctl"
models = ["vgg16", "mobilenet_v2", "googlenet", "resnet18"]
limits = ["0.5G", "1G", "1.5G", "2G", "2.5G", "3G", "4G", "5G", "6G", None]
common = ["--batch", "32", "--optimizer", "adam", "--device-flops", "1e11", "--server-flops", "2e13", "--rtt", "10m",
          "--uplink", rate, "--downlink", rate, "--algorithm", "block", "--format", "json"]
def plan(model, limit):
    args = [bin, "plan", f"ops/models/{model}.json", *common] + (["--device-memory", limit] if limit else [])
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode not in (0, 1):
        sys.exit(result.stderr)
    return json.loads(result.stdout)
gb = lambda b: f"{b / 1e9:.2f} GB"
print(f"| device memory | " + " | ".join(models) + " |")
print("|---:|" + "---:|" * len(models))
for limit in limits:
    cells = []
    for model in models:
        p = plan(model, limit)
        if p["status"] == "infeasible":
            cells.append(f"needs {gb(p['required_device_memory_bytes'])}")
        else:
            cells.append(f"{p['delay_seconds']:.2f} s ({gb(p['device_memory_bytes'])})" + (" *" if p.get("memory_bound") else ""))
    label = f"{limit[:-1]} GB" if limit else "no limit"
    print(f"| {label} | " + " | ".join(cells) + " |")
PY
