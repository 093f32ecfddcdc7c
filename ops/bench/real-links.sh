#!/usr/bin/env bash
# Training delay on real links (docs/evaluation.md): every trace in ../shared/traces (4 mahimahi
# pairs, 127 Pensieve logs read with uplink = 0.5 x downlink), GoogLeNet, ResNet-50, MobileNetV2,
# DenseNet-121 and EfficientNet-B0, devices of 3e10 and 1e11 FLOP/s, server 2e13, batch 32, SGD
# with momentum, integrated physics, every policy against the hindsight and best-fixed bounds.
#   1. the links as measured (scale 1) and 10x and 30x faster (same fluctuations; the splits
#      start to matter from about 10 Mbit/s effective), all policies, daemon with its defaults;
#   2. the daemon under other switching rules and settings at each scale (is the default best?);
#   3. the estimators' prediction errors (what chose the daemon's estimator).
# Raw CSV in out/real-links/; the summary (Markdown) on stdout and in out/real-links/summary.md.
# Usage: ops/bench/real-links.sh   (SPLITCTL=path reuses a built binary; TRACES=dir, SCALES="1 10 30")
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ -z "${SPLITCTL:-}" ]]; then
  ${SWIFT_LOCK:+flock "$SWIFT_LOCK"} swift build -c release --product splitctl >&2
  SPLITCTL=.build/release/splitctl
fi
traces="${TRACES:-../shared/traces}"
read -r -a scales <<< "${SCALES:-1 10 30}"
models=(googlenet resnet50 mobilenet_v2 densenet121 efficientnet_b0)
devices=(3e10 1e11)
out=out/real-links
rm -rf "$out" && mkdir -p "$out/parts"
started=$(date +%s)

# One simulate run per (variant, scale, model, device), into a file of its own: CSV rows tagged with the run.
run() {
  local label=$1 scale=$2 model=$3 device=$4; shift 4
  "$SPLITCTL" simulate "ops/models/$model.json" --trace "$traces" --uplink-ratio 0.5 --rate-scale "$scale" \
    --batch 32 --device-flops "$device" --server-flops 2e13 --optimizer momentum --format csv "$@" 2>/dev/null \
    | tail -n +2 | sed "s/^/$label,$scale,$model,$device,/" > "$out/parts/$label.$scale.$model.$device.csv"
}
export -f run
export SPLITCTL traces out

jobs=()
for scale in "${scales[@]}"; do
  for model in "${models[@]}"; do
    for device in "${devices[@]}"; do
      jobs+=("all $scale $model $device --policies daemon,dag,block,chain,boundary,static,server-only,table")
      jobs+=("horizon-1 $scale $model $device --policies daemon --switching horizon --switch-horizon 1")
      jobs+=("horizon-10 $scale $model $device --policies daemon --switching horizon --switch-horizon 10")
      jobs+=("payback-2 $scale $model $device --policies daemon --payback 2")
      jobs+=("geometric-30s $scale $model $device --policies daemon --estimator geometric --smoothing 30s")
      jobs+=("push-split $scale $model $device --policies daemon --push split")
    done
  done
done
echo "variant,scale,model,device,trace,policy,iterations,mean_delay_seconds,p95_delay_seconds,plan_changes,migration_seconds,migration_bytes,ratio_to_hindsight,refused_moves,dag_reduction_percent" \
  > "$out/runs.csv"
# Two at a time (the machine has two cores).
printf '%s\n' "${jobs[@]}" | xargs -P "${PARALLEL:-2}" -I{} bash -c 'run {}'
cat "$out"/parts/*.csv >> "$out/runs.csv"
simulated=$(date +%s)

for scale in "${scales[@]}"; do
  "$SPLITCTL" trace estimators --trace "$traces" --uplink-ratio 0.5 --rate-scale "$scale" > "$out/estimators.scale-$scale.txt" 2>/dev/null
done
finished=$(date +%s)

python3 ops/bench/real-links-summary.py "$out/runs.csv" "$out" \
  --seconds "$((simulated - started))" --estimator-seconds "$((finished - simulated))" | tee "$out/summary.md"
