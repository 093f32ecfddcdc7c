"""device∘server equals the unsplit model on the ops/models samples, at every split of the
plan table the real splitctl computes and at random valid splits: outputs, parameter
gradients and batch-norm buffers within 1e-6 (CPU, float32, training mode without dropout)."""

import os
import random
import unittest

import torch

from splitd.torch import Partitioner

from .support import MODELS, EquivalenceCheck, random_valid_split, sample_graph, splitctl, splitctl_table, without_dropout
from splitd.torch.compat import torchvision_models

TOLERANCE = 1e-6
# name -> (builder keyword arguments, image side, batch). Small images: a split does not depend
# on the input size. GoogLeNet without its training-only auxiliary heads, as ops/models traced it.
# GoogLeNet at batch 4: a split that leaves some readers of an inception module's input on each
# side sums that input's gradient in two parts, a different float32 summation order; batch
# norm's backward at batch 2 amplifies those last-bit differences to ~1.5e-6 on gradients of
# ~1.3, at batch 4 they stay under 1e-6 (measured: at most 8e-7).
SAMPLES = {
    "resnet18": ({}, 64, 2), "resnet50": ({}, 64, 2), "vgg16": ({}, 32, 2),
    "googlenet": ({"aux_logits": False, "init_weights": True}, 64, 4), "mobilenet_v2": ({}, 32, 2),
    "densenet121": ({}, 32, 2), "vit_b_16": ({"image_size": 32}, 32, 2),
}
RANDOM_SPLITS = 4
SKIP_SPLITCTL = os.environ.get("SPLITD_PY_SKIP_SPLITCTL") == "1"


def build(name):
    """(partitioner, equivalence check, graph) of a sample model."""
    torch.manual_seed(0)
    keywords, side, batch = SAMPLES[name]
    model = without_dropout(getattr(torchvision_models(), name)(**keywords))
    inputs = (torch.randn(batch, 3, side, side),)
    graph = sample_graph(name)
    partitioner = Partitioner(model, inputs, graph)
    return partitioner, EquivalenceCheck(partitioner, inputs), graph


class SampleModelTests(unittest.TestCase):
    def check_model(self, name):
        partitioner, check, graph = build(name)
        layers = [layer["name"] for layer in graph["layers"]]
        inputs_of = {layer["name"]: list(layer["inputs"]) for layer in graph["layers"]}
        plans = []
        if splitctl() is not None:
            table = splitctl_table(os.path.join(MODELS, f"{name}.json"))
            self.assertGreater(len(table["segments"]), 0)
            plans += [(f"table segment {index}", segment) for index, segment in enumerate(table["segments"])]
        elif not SKIP_SPLITCTL:
            self.fail("no splitctl binary: build it (swift build -c release --product splitctl), set SPLITCTL=/path/to/splitctl, "
                      "or set SPLITD_PY_SKIP_SPLITCTL=1 to run without the plan-table splits")
        rng = random.Random(f"{name}-splits")
        plans += [(f"random split {index}", random_valid_split(layers, inputs_of, rng, pinned=[layers[0]]))
                  for index in range(RANDOM_SPLITS)]
        everything = {"device_layers": layers, "cut_layers": list(graph["outputs"])}
        only_input = {"device_layers": [layers[0]], "cut_layers": [layers[0]]}
        plans += [("all on the device", everything), ("only the input on the device", only_input)]
        for label, plan in plans:
            with self.subTest(split=label, cut=plan["cut_layers"][:6]):
                difference, where = check.difference(plan)
                self.assertLessEqual(difference, TOLERANCE, f"{name}, {label}: {where} differs by {difference}")

    def test_resnet18(self):
        self.check_model("resnet18")

    def test_resnet50(self):
        self.check_model("resnet50")

    def test_vgg16(self):
        self.check_model("vgg16")

    def test_googlenet_inception_branches(self):
        self.check_model("googlenet")

    def test_mobilenet_v2(self):
        self.check_model("mobilenet_v2")

    def test_densenet121(self):
        self.check_model("densenet121")

    def test_vit_b_16(self):
        self.check_model("vit_b_16")


class GPT2Tests(unittest.TestCase):
    """GPT-2 (transformers, default configuration, dropout off) through torch.export, as
    ops/models/gpt2.json was made: the exported GraphModule is partitioned as it is."""

    def test_gpt2_via_torch_export(self):
        torchvision_models()  # transformers imports torchvision when it is installed
        try:
            from transformers import GPT2Config, GPT2LMHeadModel
        except ImportError as error:
            if os.environ.get("SPLITD_PY_SKIP_TRANSFORMERS") == "1":
                self.skipTest(f"transformers is not importable ({error}) and SPLITD_PY_SKIP_TRANSFORMERS=1")
            self.fail(f"transformers is not importable ({error}): ops/install-python installs it (the [test] extra)")
        torch.manual_seed(0)
        config = GPT2Config(use_cache=False, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
        tokens = torch.randint(0, config.vocab_size, (2, 16))
        exported = torch.export.export(GPT2LMHeadModel(config).train(), (tokens,)).module()
        graph = sample_graph("gpt2")
        nodes = {node.name for node in exported.graph.nodes}
        self.assertEqual([layer["name"] for layer in graph["layers"] if layer["name"] not in nodes], [],
                         "gpt2.json layers that are not nodes of torch.export's graph")
        partitioner = Partitioner(exported, (tokens,), graph)
        check = EquivalenceCheck(partitioner, (tokens,))
        layers = [layer["name"] for layer in graph["layers"]]
        inputs_of = {layer["name"]: list(layer["inputs"]) for layer in graph["layers"]}
        plans = []
        if splitctl() is not None:
            table = splitctl_table(os.path.join(MODELS, "gpt2.json"))
            plans += [(f"table segment {index}", segment) for index, segment in enumerate(table["segments"])]
        elif not SKIP_SPLITCTL:
            self.fail("no splitctl binary: build it, set SPLITCTL, or set SPLITD_PY_SKIP_SPLITCTL=1")
        rng = random.Random("gpt2-splits")
        plans += [(f"random split {index}", random_valid_split(layers, inputs_of, rng, pinned=[layers[0]])) for index in range(3)]
        for label, plan in plans:
            with self.subTest(split=label, cut=plan["cut_layers"][:6]):
                difference, where = check.difference(plan)
                self.assertLessEqual(difference, TOLERANCE, f"gpt2, {label}: {where} differs by {difference}")


class GraphDriftTests(unittest.TestCase):
    """ops/models' layer names must be the fx node names of torchvision's trace, and its edges
    the fx graph's: fails loudly when the samples drift from torchvision."""

    def test_sample_layers_are_fx_nodes_with_the_same_edges(self):
        models = torchvision_models()
        for name, (keywords, _, _) in SAMPLES.items():
            with self.subTest(model=name):
                graph = sample_graph(name)
                traced = torch.fx.symbolic_trace(getattr(models, name)(**keywords).eval())
                nodes = {node.name: node for node in traced.graph.nodes}
                layer_names = {layer["name"] for layer in graph["layers"]}
                missing = [layer["name"] for layer in graph["layers"] if layer["name"] not in nodes]
                self.assertEqual(missing, [], f"{name}: graph layers that are not fx nodes of torchvision's trace")
                for layer in graph["layers"]:
                    reads = set()
                    stack = list(nodes[layer["name"]].all_input_nodes)
                    while stack:  # through folded nodes (parameters, shapes) to the layers read
                        source = stack.pop()
                        if source.name not in reads:
                            reads.add(source.name)
                            if source.name not in layer_names:
                                stack.extend(source.all_input_nodes)
                    self.assertTrue(set(layer["inputs"]) <= reads, f"{name}: {layer['name']} reads {layer['inputs']} in the graph")
                computing = [node.name for node in traced.graph.nodes
                             if node.op == "call_module" and node.name not in layer_names]
                self.assertEqual(computing, [], f"{name}: module calls of the trace missing from the graph")


if __name__ == "__main__":
    unittest.main()
