#!/usr/bin/env bash
# Plan history at scale: 10 million plans of 100,000 devices (one a day for 100 days) and 10 million
# webhook deliveries, then every docs/sql.md query and one device's history timed (median, p99), then
# the outbox trimmed to a week (SPLITD_DELIVERY_RETENTION's default) and the queries timed again.
# Runs on a fresh database in a private, durable PostgreSQL cluster under /tmp (or on
# SPLITD_BENCH_DATABASE_URL's server); needs about 10 GB of disk and 10-20 minutes on 2 vCPUs.
# JSON lines on stdout, saved to out/bench-history.jsonl; progress (and, with --explain, every
# query's EXPLAIN ANALYZE) on stderr, saved to out/bench-history.log. Extra arguments go to
# `splitd bench history` (e.g. --plans 1000000 --devices 10000, --runs 5, --explain).
# Usage: ops/bench/history.sh [ARGS...]
set -euo pipefail
cd "$(dirname "$0")/../.."
source ops/lib/bench-setup
.build/release/splitd bench history --plans 10000000 --devices 100000 "${database[@]}" "$@" \
  2> >(tee out/bench-history.log >&2) | grep '^{' | tee out/bench-history.jsonl
