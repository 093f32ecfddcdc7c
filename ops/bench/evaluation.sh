#!/usr/bin/env bash
# Training-delay evaluation: dag and the table policy against the baselines over the sample
# models, two device classes and the three example traces, every split change charged its
# migration (weights and optimizer state; SGD with momentum). Prints Markdown tables and keeps
# the raw JSON in out/evaluation/.
#   1. all runs: dag re-planned every 10 s, table with the default switching horizon, baselines;
#   2. re-planning every iteration against every 10 s, with and without migration costs;
#   3. the table policy's switching horizon.
# Usage: ops/bench/evaluation.sh   (SPLITCTL=path skips the release build and uses that binary)
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ -z "${SPLITCTL:-}" ]]; then
  ops/lib/build-release splitctl
  SPLITCTL=.build/release/splitctl
fi
out=out/evaluation
mkdir -p "$out"
# MODELS="a b" chooses graphs in ops/models/ (e.g. ones imported with `splitctl import MODEL.onnx --output ops/models/NAME.json`).
read -r -a models <<< "${MODELS:-resnet50 vgg16 googlenet mobilenet_v2 vit_b_16 densenet121 gpt2}"
declare -A devices=([jetson]=1e11 [phone]=3e10)
simulate() { "$SPLITCTL" simulate "ops/models/$1.json" --trace "ops/traces/$2.csv" --batch 32 --device-flops "$3" --server-flops 2e13 --optimizer momentum --format json "${@:4}"; }

for model in "${models[@]}"; do
  for device in jetson phone; do
    for trace in random-walk markov steps; do
      simulate "$model" "$trace" "${devices[$device]}" --replan-every 10 --policies dag,table,chain,boundary,static,server-only \
        > "$out/main.$model.$device.$trace.json"
    done
  done
done
for model in resnet50 densenet121 googlenet vgg16 mobilenet_v2; do
  for every in 10 0.001; do
    simulate "$model" markov 1e11 --replan-every "$every" --policies dag,static --free-migration > "$out/replan.$model.$every.free.json"
    simulate "$model" markov 1e11 --replan-every "$every" --policies dag,static > "$out/replan.$model.$every.charged.json"
  done
  for trace in random-walk markov steps; do
    for horizon in 0 1 3 10 100 1000000000; do
      simulate "$model" "$trace" 1e11 --policies table --switch-horizon "$horizon" > "$out/horizon.$model.$trace.$horizon.json"
    done
  done
done

python3 - "$out" <<'PY'
import json, glob, os, sys
out = sys.argv[1]
def load(path): return json.load(open(path))
def policy(report, name): return next(p for p in report["policies"] if p["policy"] == name)

print("### All runs (dag every 10 s, table with the default horizon, migration charged)\n")
print("| model | device | trace | dag mean s | table mean s | static mean s | table vs dag | table vs static | dag vs static | dag vs chain | dag vs server-only | changes dag / table | migration s dag / table |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for path in sorted(glob.glob(f"{out}/main.*.json")):
    _, model, device, trace = os.path.basename(path)[:-5].split(".")
    report = load(path)
    dag, table, static = (policy(report, n) for n in ("dag", "table", "static"))
    r = report["reduction_percent"]
    saving = lambda a, b: (b["mean_delay_seconds"] - a["mean_delay_seconds"]) / b["mean_delay_seconds"] * 100
    print(f"| {model} | {device} | {trace} | {dag['mean_delay_seconds']:.3f} | {table['mean_delay_seconds']:.3f} | {static['mean_delay_seconds']:.3f} | "
          f"{saving(table, dag):.1f}% | {saving(table, static):.1f}% | {r['static']:.1f}% | {r['chain']:.1f}% | {r['server-only']:.1f}% | "
          f"{dag['plan_changes']} / {table['plan_changes']} | {dag['migration_seconds']:.0f} / {table['migration_seconds']:.0f} |")

print("\n### Re-planning every iteration (0.001 s) against every 10 s, jetson, markov\n")
print("| model | static | dag every 10 s, free moves | every iteration, free moves | change | dag every 10 s, charged | every iteration, charged | change | changes (10 s / every) | migration s (10 s / every) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for model in ["resnet50", "densenet121", "googlenet", "vgg16", "mobilenet_v2"]:
    cells = {}
    for every in ("10", "0.001"):
        for mode in ("free", "charged"):
            cells[(every, mode)] = load(f"{out}/replan.{model}.{every}.{mode}.json")
    mean = lambda k: policy(cells[k], "dag")["mean_delay_seconds"]
    static = policy(cells[("10", "free")], "static")["mean_delay_seconds"]
    change = lambda a, b: (mean(b) - mean(a)) / mean(a) * 100
    charged10, chargedEvery = policy(cells[("10", "charged")], "dag"), policy(cells[("0.001", "charged")], "dag")
    print(f"| {model} | {static:.3f} | {mean(('10', 'free')):.3f} | {mean(('0.001', 'free')):.3f} | {change(('10', 'free'), ('0.001', 'free')):+.1f}% | "
          f"{mean(('10', 'charged')):.3f} | {mean(('0.001', 'charged')):.3f} | {change(('10', 'charged'), ('0.001', 'charged')):+.1f}% | "
          f"{charged10['plan_changes']} / {chargedEvery['plan_changes']} | {charged10['migration_seconds']:.0f} / {chargedEvery['migration_seconds']:.0f} |")

horizons = ["0", "1", "3", "10", "100", "1000000000"]
print("\n### The table policy's switching horizon (jetson; mean iteration delay s, plan changes)\n")
print("| model | trace | " + " | ".join("never (0)" if h == "0" else ("unbounded" if h == "1000000000" else f"H = {h}") for h in horizons) + " |")
print("|---|---|" + "---:|" * len(horizons))
for model in ["resnet50", "densenet121", "googlenet", "vgg16", "mobilenet_v2"]:
    for trace in ["random-walk", "markov", "steps"]:
        cells = []
        for h in horizons:
            t = policy(load(f"{out}/horizon.{model}.{trace}.{h}.json"), "table")
            cells.append(f"{t['mean_delay_seconds']:.3f} ({t['plan_changes']})")
        print(f"| {model} | {trace} | " + " | ".join(cells) + " |")
PY
