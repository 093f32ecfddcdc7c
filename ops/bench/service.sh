#!/usr/bin/env bash
# Store and service throughput: telemetry COPY and ingest, link-estimate reads, plan writes,
# a 100k-device re-planning cycle, telemetry over HTTP (collector batches, and devices posting one
# sample at a time with their own tokens), webhook deliveries.
# Each benchmark runs on a fresh database in a private, durable PostgreSQL cluster under /tmp
# (or on SPLITD_BENCH_DATABASE_URL's server). JSON lines on stdout, saved to out/bench-service.jsonl.
# Usage: ops/bench/service.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source ops/lib/bench-setup
{
  .build/release/splitd bench store --rows 1000000 --devices 100000 "${database[@]}"
  .build/release/splitd bench fleet --devices 100000 --workers 2 "${database[@]}"
  for devices in 10000 1000; do
    .build/release/splitd bench telemetry --rows 300000 --devices "$devices" --workers 4 "${database[@]}"
  done
  # Devices reporting their own telemetry: 10,000 devices with their own tokens, one sample per
  # request, 200 keep-alive HTTP/1.1 connections, 20 s measured after a 5 s warm-up.
  .build/release/splitd bench telemetry --per-device --devices 10000 --connections 200 --seconds 20 "${database[@]}"
  .build/release/splitd bench webhooks --devices 20000 --workers 2 "${database[@]}"
} 2>/dev/null | grep '^{' | tee out/bench-service.jsonl
