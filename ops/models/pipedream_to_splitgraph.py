#!/usr/bin/env python3
"""Converts a PipeDream profiler graph (profiles/<model>/graph.txt) into splitgraph/1 JSON.

Used once to make nasnet_a_mobile.json and nasnet_a_large.json (see README.md); not part of
splitd. Usage: pipedream_to_splitgraph.py GRAPH_TXT NAME PROFILE BATCH OUTPUT... > out.json

PipeDream records, per node and per minibatch of BATCH samples: forward/backward time (ms),
activation_size (bytes) and parameter_size (bytes). splitgraph/1 wants per-sample FLOPs and
bytes, so times become FLOPs at a nominal 10 TFLOP/s (the relative costs stay the measured
ones) and sizes are divided by BATCH. The Input node's time (data loading) counts as zero.
"""
import json
import re
import sys

NOMINAL_FLOPS_PER_SECOND = 1e13
NODE = re.compile(r"^(node\d+) -- (.*) -- forward_compute_time=([\d.]+), backward_compute_time=([\d.]+), "
                  r"activation_size=([\d.]+), parameter_size=([\d.]+)$")
EDGE = re.compile(r"^\t(node\d+) -- (node\d+)$")


def main():
    path, name, profile, batch, outputs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
    layers, inputs = {}, {}
    for line in open(path):
        line = line.rstrip("\n")
        if match := NODE.match(line):
            node, description, forward, backward, activation, parameters = match.groups()
            op = re.split(r"[(]", description, maxsplit=1)[0].strip().lower().replace("__", "")
            scale = NOMINAL_FLOPS_PER_SECOND / 1000 / batch if op != "input" else 0
            layers[node] = {
                "name": node, "op": op, "inputs": [],
                "forward_flops": round(float(forward) * scale),
                "backward_flops": round(float(backward) * scale),
                "output_bytes": round(float(activation) / batch),
                "param_bytes": round(float(parameters)),
            }
        elif match := EDGE.match(line):
            inputs.setdefault(match.group(2), []).append(match.group(1))
        elif line.strip():
            sys.exit(f"{path}: unrecognised line: {line!r}")
    for node, producers in inputs.items():
        layers[node]["inputs"] = producers
    ordered = sorted(layers.values(), key=lambda layer: int(layer["name"][4:]))
    json.dump({"format": "splitgraph/1", "name": name,
               "source": f"msr-fiddle/pipedream profiler/image_classification/profiles/{profile}/graph.txt, batch {batch}",
               "outputs": outputs, "layers": ordered}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
