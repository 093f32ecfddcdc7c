#!/usr/bin/env bash
# Training-delay evaluation: dag against the baselines over the sample models, two device
# classes and the three example traces. Prints a Markdown table (and saves raw JSON in out/).
# Usage: ops/bench/evaluation.sh   (MODELS="a b" to choose graphs in ops/models/, e.g. ones imported
#        with `splitctl import MODEL.onnx --output ops/models/NAME.json`)
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product splitctl >&2
mkdir -p out/evaluation
read -r -a models <<< "${MODELS:-resnet50 vgg16 googlenet mobilenet_v2 vit_b_16 densenet121 gpt2}"
declare -A devices=([jetson]=1e11 [phone]=3e10)
for model in "${models[@]}"; do
  for device in jetson phone; do
    for trace in random-walk markov steps; do
      .build/release/splitctl simulate "ops/models/$model.json" --trace "ops/traces/$trace.csv" \
        --batch 32 --device-flops "${devices[$device]}" --server-flops 2e13 --replan-every 10 \
        --format json > "out/evaluation/$model.$device.$trace.json"
    done
  done
done
python3 - <<'PY'
import json, glob, os
rows = {}
for path in sorted(glob.glob("out/evaluation/*.json")):
    model, device, trace = os.path.basename(path)[:-5].split(".")
    report = json.load(open(path))
    rows[(model, device, trace)] = report
print("| model | device | trace | dag mean s | vs chain | vs boundary | vs static | vs server-only | dag plan changes |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|")
for (model, device, trace), report in rows.items():
    dag = next(p for p in report["policies"] if p["policy"] == "dag")
    r = report["reduction_percent"]
    cells = [f'{r[k]:.1f}%' for k in ("chain", "boundary", "static", "server-only")]
    print(f"| {model} | {device} | {trace} | {dag['mean_delay_seconds']:.3f} | " + " | ".join(cells) + f" | {dag['plan_changes']} |")
PY
