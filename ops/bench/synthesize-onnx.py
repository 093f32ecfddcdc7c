#!/usr/bin/env python3
"""Writes a synthetic TorchScript-style ONNX graph (no value_info, weights external and absent)
with about N nodes, for import-speed measurements. Pure Python: no onnx package needed.

Usage: ops/bench/synthesize-onnx.py NODES OUT.onnx

Each transformer-like layer has 19 nodes: LayerNormalization, MatMul + Add (bias), a Shape ->
Gather -> Unsqueeze -> Concat -> Reshape chain (shape plumbing to fold), Transpose, Softmax,
Transpose, Reshape back, MatMul + Add, Erf-GELU pieces and the residual Add.
"""
import struct
import sys


def varint(value):
    value &= (1 << 64) - 1
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def key(field, wire):
    return varint(field << 3 | wire)


def ld(field, payload):
    return key(field, 2) + varint(len(payload)) + payload


def s(field, text):
    return ld(field, text.encode())


def i(field, value):
    return key(field, 0) + varint(value)


def packed(field, values):
    return ld(field, b"".join(varint(v) for v in values))


def attr_ints(name, values):
    return ld(5, s(1, name) + packed(8, values) + i(20, 7))


def attr_int(name, value):
    return ld(5, s(1, name) + i(3, value) + i(20, 2))


def attr_float(name, value):
    return ld(5, s(1, name) + key(2, 5) + struct.pack("<f", value) + i(20, 1))


def attr_tensor(values, scalar=False):
    tensor = (b"" if scalar else packed(1, [len(values)])) + i(2, 7) + packed(7, values)
    return ld(5, s(1, "value") + ld(5, tensor) + i(20, 4))


def node(op, name, inputs, outputs, attrs=b""):
    body = b"".join(s(1, x) for x in inputs) + b"".join(s(2, x) for x in outputs) + s(3, name) + s(4, op) + attrs
    return ld(1, body)


def initializer(name, dims):
    external = ld(13, s(1, "location") + s(2, "absent.weights"))
    return ld(5, packed(1, dims) + i(2, 1) + s(8, name) + external + i(14, 1))


def main():
    target, path = int(sys.argv[1]), sys.argv[2]
    seq, width, heads = 128, 256, 4
    nodes, inits = [], []
    x = "x"
    layer = 0
    while len(nodes) < target:
        p = f"/layers/layer_{layer}"
        w = f"layers.{layer}"
        inits += [initializer(f"{w}.ln.weight", [width]), initializer(f"{w}.ln.bias", [width]),
                  initializer(f"{w}.fc1.weight", [width, 4 * width]), initializer(f"{w}.fc1.bias", [4 * width]),
                  initializer(f"{w}.fc2.weight", [4 * width, width]), initializer(f"{w}.fc2.bias", [width])]
        nodes += [
            node("LayerNormalization", f"{p}/ln/LayerNormalization", [x, f"{w}.ln.weight", f"{w}.ln.bias"], [f"{p}/ln"], attr_int("axis", -1) + attr_float("epsilon", 1e-5)),
            node("MatMul", f"{p}/fc1/MatMul", [f"{p}/ln", f"{w}.fc1.weight"], [f"{p}/mm1"]),
            node("Add", f"{p}/fc1/Add", [f"{w}.fc1.bias", f"{p}/mm1"], [f"{p}/h"]),
            node("Shape", f"{p}/Shape", [f"{p}/h"], [f"{p}/shape"]),
            node("Constant", f"{p}/Constant", [], [f"{p}/zero"], attr_tensor([0], scalar=True)),
            node("Gather", f"{p}/Gather", [f"{p}/shape", f"{p}/zero"], [f"{p}/batch"], attr_int("axis", 0)),
            node("Constant", f"{p}/Constant_2", [], [f"{p}/axes"], attr_tensor([0])),
            node("Unsqueeze", f"{p}/Unsqueeze", [f"{p}/batch", f"{p}/axes"], [f"{p}/batch1"]),
            node("Constant", f"{p}/Constant_1", [], [f"{p}/rest"], attr_tensor([seq, heads, 4 * width // heads])),
            node("Concat", f"{p}/Concat", [f"{p}/batch1", f"{p}/rest"], [f"{p}/target"], attr_int("axis", 0)),
            node("Reshape", f"{p}/Reshape", [f"{p}/h", f"{p}/target"], [f"{p}/heads"]),
            node("Transpose", f"{p}/Transpose", [f"{p}/heads"], [f"{p}/t"], attr_ints("perm", [0, 2, 1, 3])),
            node("Softmax", f"{p}/Softmax", [f"{p}/t"], [f"{p}/sm"], attr_int("axis", -1)),
            node("Transpose", f"{p}/Transpose_1", [f"{p}/sm"], [f"{p}/t2"], attr_ints("perm", [0, 2, 1, 3])),
            node("Reshape", f"{p}/Reshape_1", [f"{p}/t2", f"{p}/shape"], [f"{p}/flat"]),
            node("MatMul", f"{p}/fc2/MatMul", [f"{p}/flat", f"{w}.fc2.weight"], [f"{p}/mm2"]),
            node("Add", f"{p}/fc2/Add", [f"{w}.fc2.bias", f"{p}/mm2"], [f"{p}/o"]),
            node("Erf", f"{p}/act/Erf", [f"{p}/o"], [f"{p}/e"]),
            node("Add", f"{p}/Add", [x, f"{p}/e"], [f"{p}/out"]),
        ]
        x = f"{p}/out"
        layer += 1
    shape = ld(2, b"".join(ld(1, i(1, d)) for d in [1, seq, width]))
    graph_input = ld(11, s(1, "x") + ld(2, ld(1, i(1, 1) + shape)))
    graph_output = ld(12, s(1, x) + ld(2, ld(1, i(1, 1) + shape)))
    graph = b"".join(nodes) + s(2, "synthetic") + b"".join(inits) + graph_input + graph_output
    model = i(1, 8) + s(2, "synthesize-onnx.py") + ld(8, s(1, "") + i(2, 17)) + ld(7, graph)
    with open(path, "wb") as f:
        f.write(model)
    print(f"{path}: {len(nodes)} nodes, {layer} layers, {len(model)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
