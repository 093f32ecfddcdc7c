#!/usr/bin/env bash
# Regenerates splitgraph/1 sample graphs from ONNX exports with `splitctl import` (no PyTorch).
# For each model, the TorchScript-exporter file (NAME.ts.onnx) is used where present, else the
# dynamo one (NAME.dynamo.onnx), else NAME.onnx.
# Usage: ops/models/from-onnx.sh [ONNX_DIR (default ../shared/onnx)] [OUT_DIR (default out/models-onnx)]
#   e.g. ops/models/from-onnx.sh ../shared/onnx ops/models   # replace the shipped graphs
set -euo pipefail
cd "$(dirname "$0")/../.."
onnx_dir="${1:-../shared/onnx}"
out_dir="${2:-out/models-onnx}"
ops/lib/build-release splitctl
mkdir -p "$out_dir"
for file in "$onnx_dir"/*.onnx; do
  base="$(basename "$file")"
  name="${base%%.*}"
  case "$base" in
    *.ts.onnx) ;;
    *.dynamo.onnx) [[ -e "$onnx_dir/$name.ts.onnx" ]] && continue ;;
    *) [[ -e "$onnx_dir/$name.ts.onnx" || -e "$onnx_dir/$name.dynamo.onnx" ]] && continue ;;
  esac
  .build/release/splitctl import "$file" --name "$name" --output "$out_dir/$name.json"
done
