#!/usr/bin/env bash
# Import speed: `splitctl import` (release build) on the largest fixtures and on synthetic
# TorchScript-style graphs of 1,000 / 5,000 / 20,000 nodes (no value_info, so every shape is
# inferred and the shape plumbing folded). Wall time of the whole command, median of 7 runs.
# Usage: ops/bench/import-speed.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ops/lib/build-release splitctl
mkdir -p out/import-speed
for nodes in 1000 5000 20000; do
  python3 ops/bench/synthesize-onnx.py "$nodes" "out/import-speed/synthetic-$nodes.onnx"
done
python3 - <<'PY'
import glob, os, statistics, subprocess, time
files = ["Tests/SplitImportTests/Fixtures/vit_b_16.ts.onnx", "Tests/SplitImportTests/Fixtures/vit_b_16.dynamo.onnx",
         "Tests/SplitImportTests/Fixtures/gpt2.dynamo.onnx"] + sorted(glob.glob("out/import-speed/synthetic-*.onnx"), key=lambda p: int(p.split("-")[-1][:-5]))
print("| file | bytes | nodes → layers | median wall time |")
print("|---|---:|---|---:|")
for path in files:
    times = []
    for _ in range(7):
        start = time.perf_counter()
        run = subprocess.run([".build/release/splitctl", "import", path, "--output", os.devnull], capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - start)
    layers = run.stderr.split("imported")[1].split(":")[1].split(" layers")[0].strip()
    folded = run.stderr.split(" nodes folded")[0].split(", ")[-1]
    print(f"| {os.path.basename(path)} | {os.path.getsize(path):,} | {int(layers) - 1 + int(folded):,} → {int(layers):,} | {statistics.median(times) * 1000:.1f} ms |")
PY
