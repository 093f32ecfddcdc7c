#!/usr/bin/env bash
# Restarts under load: a real splitd (the release build) restarted while RATE one-sample telemetry
# POSTs a second (400) arrive from 1,000 devices, each with its own token, over a client pool of at
# most 64 keep-alive connections. The load is an open loop (requests start on schedule whatever
# the server does) and nothing is retried: every request not answered 2xx counts as failed, with
# its reason. The restart comes once a third of the requests are answered:
#   activation  SIGTERM, then the next process on the same listening socket, which the benchmark
#               holds as systemd holds splitd.socket (LISTEN_FDS=1, LISTEN_PID, descriptor 3);
#   plain       SIGTERM, then the next process binds the port itself (no socket unit);
#   kill-9      kill -9, then the next process on the same socket (for comparison).
# The client reuses idle connections most recent first (lifo, as client libraries do) or in turn
# (fifo: every connection busy, so each has a request near the moment the drain starts); both run.
# Each mode and pool runs RUNS times (3), each on a fresh database. JSON lines on stdout, also saved to
# out/bench-restart.jsonl; progress on stderr. BINARY=path restarts another splitd build instead
# (an older one, to compare; `plain` only, as older builds cannot take a socket).
# Usage: ops/bench/restart.sh   (RATE, DURATION seconds, RUNS, MODES="activation plain kill-9",
#                                POOLS="lifo fifo", BINARY)
set -euo pipefail
cd "$(dirname "$0")/../.."
source ops/lib/bench-setup
rate="${RATE:-400}"
duration="${DURATION:-15}"
runs="${RUNS:-3}"
read -r -a modes <<< "${MODES:-activation plain kill-9}"
read -r -a pools <<< "${POOLS:-lifo fifo}"
binary=()
if [ -n "${BINARY:-}" ]; then binary=(--binary "$BINARY"); fi
for mode in "${modes[@]}"; do
  for pool in "${pools[@]}"; do
    for _ in $(seq "$runs"); do
      .build/release/splitd bench restart --mode "$mode" --pool "$pool" --rate "$rate" --seconds "$duration" --devices 1000 \
        --connections 64 "${binary[@]}" "${database[@]}"
    done
  done
done | grep '^{' | tee out/bench-restart.jsonl
