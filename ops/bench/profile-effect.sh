#!/usr/bin/env bash
# How much measured per-layer times move the plan compared with FLOP estimates.
# For each sample model with a measured H200 server profile and three uplink rates, plans twice:
# with FLOP estimates (server 2e13 FLOP/s) and with the measured server profile; then evaluates
# the FLOP-estimate plan under the measured times to show what planning on estimates costs.
# Second table: the measured 2-core-CPU device profiles against FLOP estimates at the *same* total
# throughput (the device's FLOP/s calibrated so both give the same all-device time), i.e. whether
# per-layer measurements beat one throughput number.
# Usage: ops/bench/profile-effect.sh   → Markdown tables on stdout
set -euo pipefail
cd "$(dirname "$0")/../.."
ops/lib/build-release splitctl
python3 - <<'PY'
import json, subprocess
bin = ".build/release/splitctl"
common = ["--batch", "32", "--device-flops", "1e11", "--server-flops", "2e13", "--rtt", "10m"]
def run(*args):
    return json.loads(subprocess.run([bin, *args, "--format", "json"], check=True, capture_output=True, text=True).stdout)
print("| model | uplink | cut (FLOP estimates) | cut (measured H200) | delay predicted from FLOPs | delay with measured times | FLOP plan under measured times | cost of planning on estimates |")
print("|---|---:|---|---|---:|---:|---:|---:|")
for model in ["resnet18", "resnet50", "vgg16", "googlenet", "mobilenet_v2", "vit_b_16", "densenet121"]:
    graph = f"ops/models/{model}.json"; profile = f"ops/profiles/{model}.h200.json"
    for up in ["20M", "100M", "500M"]:
        rates = ["--uplink", up, "--downlink", up]
        estimated = run("plan", graph, *common, *rates)
        measured = run("plan", graph, *common, *rates, "--server-profile", profile)
        path = f"/tmp/splitd-flop-plan-{model}.json"
        open(path, "w").write(json.dumps(estimated))
        replay = run("evaluate", graph, "--plan", path, *common, *rates, "--server-profile", profile)
        regret = (replay["delay_seconds"] - measured["delay_seconds"]) / replay["delay_seconds"] * 100
        cut = lambda plan: ", ".join(plan["cut_layers"][:2]) + (" …" if len(plan["cut_layers"]) > 2 else "")
        print(f"| {model} | {up} | {cut(estimated)} | {cut(measured)} | {estimated['delay_seconds']:.3f} s | {measured['delay_seconds']:.3f} s | {replay['delay_seconds']:.3f} s | {regret:.1f}% |")

print()
print("| model | uplink | calibrated device FLOP/s | cut (FLOP estimates) | cut (measured CPU) | FLOP plan under measured times | measured plan | cost of planning on estimates |")
print("|---|---:|---:|---|---|---:|---:|---:|")
for model in ["resnet18", "resnet50", "googlenet", "mobilenet_v2"]:
    graph = f"ops/models/{model}.json"; device = f"ops/profiles/{model}.cpu2.json"; server = f"ops/profiles/{model}.h200.json"
    layers = {l["name"]: l for l in json.load(open(graph))["layers"]}
    profile = json.load(open(device))
    measured_seconds = sum(t["forward_ms"] + t["backward_ms"] for t in profile["layers"].values()) / 1000 / profile["batch_size"]
    flops = sum(layers[n]["forward_flops"] + layers[n]["backward_flops"] for n in profile["layers"])
    calibrated = f"{flops / measured_seconds:.4g}"
    for up in ["20M", "100M", "500M"]:
        base = ["--batch", "32", "--device-flops", calibrated, "--server-flops", "2e13", "--rtt", "10m",
                "--uplink", up, "--downlink", up, "--server-profile", server]
        estimated = run("plan", graph, *base)
        measured = run("plan", graph, *base, "--device-profile", device)
        path = f"/tmp/splitd-flop-plan-{model}.json"
        open(path, "w").write(json.dumps(estimated))
        replay = run("evaluate", graph, "--plan", path, *base, "--device-profile", device)
        regret = (replay["delay_seconds"] - measured["delay_seconds"]) / replay["delay_seconds"] * 100
        cut = lambda plan: ", ".join(plan["cut_layers"][:2]) + (" …" if len(plan["cut_layers"]) > 2 else "")
        print(f"| {model} | {up} | {calibrated} | {cut(estimated)} | {cut(measured)} | {replay['delay_seconds']:.3f} s | {measured['delay_seconds']:.3f} s | {regret:.1f}% |")
PY
