#!/usr/bin/env bash
# One planning cycle of a million new devices (issue 15's goal: <= 20 s on the 2-core machine):
# claim, plan, store 1,000,000 plans and enqueue 1,000,000 webhooks, as the daemon runs it (its
# default SPLITD_PLAN_BATCH and two workers), then a cycle after 10% of the links moved 8x.
# Each run seeds a fresh database in a private, durable PostgreSQL cluster under /tmp (or on
# SPLITD_BENCH_DATABASE_URL's server): about 2 minutes and 3 GB of disk per run.
# Usage: ops/bench/fleet.sh [runs] [devices]. JSON lines on stdout, saved to out/bench-fleet.jsonl.
set -euo pipefail
cd "$(dirname "$0")/../.."
source ops/lib/bench-setup
for _ in $(seq 1 "${1:-3}"); do
  .build/release/splitd bench fleet --devices "${2:-1000000}" --workers 2 "${database[@]}"
done 2>/dev/null | grep '^{' | tee out/bench-fleet.jsonl
