#!/usr/bin/env bash
# Planner solve-time benchmark over every sample model (release build).
# Usage: ops/bench/planners.sh [ITERATIONS]   → JSON lines on stdout, also saved to out/bench-planners.jsonl
set -euo pipefail
cd "$(dirname "$0")/../.."
iterations="${1:-10000}"
ops/lib/build-release splitctl
mkdir -p out
.build/release/splitctl bench ops/models/*.json --algorithm dag,block --iterations "$iterations" --format json | tee out/bench-planners.jsonl
