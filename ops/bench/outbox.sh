#!/usr/bin/env bash
# The outbox under churn: a million devices with a delivery each, 150 new deliveries a second
# claimed, delivered and trimmed 60 s after they finish, for 20 minutes; rows, dead rows and size
# on disk every 15 s. Run twice: with migration 0009's autovacuum settings for webhook_deliveries,
# and with PostgreSQL's defaults (what the table had before 0009). JSON lines on stdout, saved to
# out/bench-outbox.jsonl. Usage: ops/bench/outbox.sh [devices] [rate] [seconds]
set -euo pipefail
cd "$(dirname "$0")/../.."
source ops/lib/bench-setup
devices=${1:-1000000}
rate=${2:-150}
seconds=${3:-1200}
{
  for settings in default outbox; do
    .build/release/splitd bench outbox --devices "$devices" --rate "$rate" --seconds "$seconds" --outbox-autovacuum "$settings" \
      --model ops/models/resnet18.json "${database[@]}"
  done
} 2>/dev/null | grep '^{' | tee out/bench-outbox.jsonl
