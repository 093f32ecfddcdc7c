"""Partition rules on random DAG modules and hand-made cases: equivalence at random splits,
the accepted plan forms, the module mapping, and the errors that name the layer."""

import random
import unittest

import torch
from torch import nn

from splitd.client import Split
from splitd.torch import PartitionError, Partitioner, partition

from .support import EquivalenceCheck, RandomDag, dynamic_layers, random_valid_split

TOLERANCE = 1e-6


class Chain(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)
        self.c = nn.Linear(4, 2)

    def forward(self, x):
        h = torch.relu(self.a(x))
        return self.c(self.b(h) + h)


class RandomDagTests(unittest.TestCase):
    def test_random_dags_at_random_splits_equal_the_unsplit_model(self):
        checked = 0
        for seed in range(12):
            torch.manual_seed(seed)
            model = RandomDag(seed).train()
            inputs = (torch.randn(3, RandomDag.WIDTH), torch.randn(3, RandomDag.WIDTH))
            partitioner = Partitioner(model, inputs)
            check = EquivalenceCheck(partitioner, inputs, seed)
            layers, inputs_of = dynamic_layers(partitioner)
            rng = random.Random(seed)
            for index in range(6):
                plan = random_valid_split(layers, inputs_of, rng, pinned=["x", "y"])
                with self.subTest(seed=seed, split=index, cut=plan["cut_layers"]):
                    difference, where = check.difference(plan)
                    self.assertLessEqual(difference, TOLERANCE, f"{where} differs by {difference}")
                    checked += 1
        self.assertEqual(checked, 72)

    def test_side_values_carry_shapes_the_server_cannot_compute(self):
        torch.manual_seed(0)

        class Reshaper(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(4, 8)

            def forward(self, x):
                batch = x.shape[0]
                return self.a(x).reshape(batch, 2, 4).sum(1)

        model = Reshaper()
        x = torch.randn(3, 4)
        part = Partitioner(model, x).split({"device_layers": ["x", "a"], "cut_layers": ["a"]})
        self.assertEqual(part.side_values, ["getitem"])
        self.assertEqual(part.crossing, ["a", "getitem"])
        values = part.device(x)
        self.assertEqual(values[1], 3)
        self.assertTrue(torch.equal(part.server(*values), model(x)))


class PlanFormTests(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.model = Chain()
        self.x = torch.randn(2, 4)
        self.expected = self.model(self.x)

    def run_parts(self, plan):
        device, server = partition(self.model, plan, self.x)
        return server(*device(self.x))

    def test_every_plan_form_gives_the_same_parts(self):
        layers = {"device_layers": ["x", "a", "relu"], "cut_layers": ["relu"]}
        forms = [layers, {"type": "split_plan.updated", "data": dict(layers, sequence=3)},
                 dict(layers, server_layers=["b", "add", "c"], transfer_bytes=32),
                 dict(layers, min_effective_bps=0, max_effective_bps=None, fixed_seconds=1.0),
                 Split(layers["device_layers"], layers["cut_layers"], 0, False, 0.0)]
        for form in forms:
            with self.subTest(form=type(form).__name__):
                self.assertTrue(torch.equal(self.run_parts(form), self.expected))

    def test_cut_values_come_in_cut_layers_order(self):
        plan = {"device_layers": ["x", "a", "relu", "b"], "cut_layers": ["b", "relu"]}
        device, _ = partition(self.model, plan, self.x)
        b, relu = device(self.x)
        h = torch.relu(self.model.a(self.x))
        self.assertTrue(torch.equal(relu, h))
        self.assertTrue(torch.equal(b, self.model.b(h)))
        self.assertTrue(torch.equal(self.run_parts(plan), self.expected))

    def test_empty_server_side_and_input_only_device_side(self):
        everything = {"device_layers": ["x", "a", "relu", "b", "add", "c"], "cut_layers": []}
        device, server = partition(self.model, everything, self.x)
        self.assertTrue(torch.equal(server(*device(self.x)), self.expected))
        self.assertEqual(len(device(self.x)), 1)  # the model output, sent after the (empty) cut
        only_input = {"device_layers": ["x"], "cut_layers": ["x"]}
        device, server = partition(self.model, only_input, self.x)
        (sent,) = device(self.x)
        self.assertTrue(torch.equal(sent, self.x))
        self.assertTrue(torch.equal(server(sent), self.expected))

    def test_parts_share_the_original_parameters(self):
        device, server = partition(self.model, {"device_layers": ["x", "a", "relu"], "cut_layers": ["relu"]}, self.x)
        self.assertIs(device.get_submodule("a").weight, self.model.a.weight)
        self.assertIs(server.get_submodule("c").weight, self.model.c.weight)


class PartitionErrorTests(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.model = Chain()
        self.x = torch.randn(2, 4)

    def assert_refused(self, plan, *fragments, graph=None):
        with self.assertRaises(PartitionError) as caught:
            Partitioner(self.model, self.x, graph).split(plan)
        for fragment in fragments:
            self.assertIn(fragment, str(caught.exception))

    def test_unknown_layer_is_named(self):
        self.assert_refused({"device_layers": ["x", "conv9"], "cut_layers": ["conv9"]}, "'conv9'")

    def test_device_layer_reading_a_server_layer_is_named(self):
        self.assert_refused({"device_layers": ["x", "a", "relu", "add"], "cut_layers": ["add"]}, "'add'", "'b'", "on the server")

    def test_cut_layer_not_on_the_device(self):
        self.assert_refused({"device_layers": ["x", "a"], "cut_layers": ["relu"]}, "'relu'", "not a device layer")

    def test_device_value_read_by_the_server_must_be_cut(self):
        self.assert_refused({"device_layers": ["x", "a", "relu", "b"], "cut_layers": ["b"]}, "'relu'", "not in cut_layers")

    def test_model_input_on_the_server(self):
        graph = {"format": "splitgraph/1", "layers": [{"name": n, "inputs": []} for n in ["x", "a", "relu", "b", "add", "c"]]}
        self.assert_refused({"device_layers": ["a"], "cut_layers": ["a"]}, "'x'", "model input", graph=graph)

    def test_graph_layer_missing_from_the_trace(self):
        graph = {"format": "splitgraph/1", "layers": [{"name": "x"}, {"name": "stem"}]}
        self.assert_refused({"device_layers": ["x"], "cut_layers": ["x"]}, "'stem'", graph=graph)

    def test_not_a_plan(self):
        with self.assertRaises(ValueError):
            Partitioner(self.model, self.x).split({"layers": []})


class TiedWeightTests(unittest.TestCase):
    def test_partition_allows_a_parameter_on_both_sides_split_training_refuses_it(self):
        from splitd.torch.session import SplitModel

        class Tied(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Embedding(10, 4)
                self.mix = nn.Linear(4, 4)

            def forward(self, tokens):
                return self.mix(self.embed(tokens)) @ self.embed.weight.t()

        torch.manual_seed(0)
        model = Tied()
        tokens = torch.randint(0, 10, (2, 3))
        plan = {"device_layers": ["tokens", "embed"], "cut_layers": ["embed"]}
        device, server = partition(model, plan, tokens)
        self.assertTrue(torch.equal(server(*device(tokens)), model(tokens)))
        with self.assertRaisesRegex(PartitionError, "'embed.weight' is read on both sides"):
            SplitModel(model, tokens, lambda parameters: torch.optim.SGD(parameters, lr=0.1)).placement(plan)


class ModuleMappingTests(unittest.TestCase):
    """Layers that carry only a module path (as ONNX imports do) map through the modules."""

    def graph_by_modules(self, partitioner):
        from splitd.torch.tracing import module_path

        layers = []
        for node in partitioner.traced.graph.nodes:
            if node.name in partitioner.facts.dynamic:
                layer = {"name": f"onnx::{node.name}", "inputs": []}
                if node.op == "placeholder":
                    layer["op"] = "input"
                else:
                    layer["module"] = module_path(node)
                layers.append(layer)
        return {"format": "splitgraph/1", "layers": layers}

    def test_module_paths_give_the_same_split_as_node_names(self):
        models = __import__("splitd.torch.compat", fromlist=["torchvision_models"]).torchvision_models()
        torch.manual_seed(0)
        model = models.resnet18().train()
        x = torch.randn(2, 3, 32, 32)
        plain = Partitioner(model, x)
        graph = self.graph_by_modules(plain)
        by_module = Partitioner(model, x, graph)
        check = EquivalenceCheck(by_module, (x,))
        # Everything up to layer2 on the device: the conv, batch-norm and relu modules of the
        # stem and layer1 (functional adds map to their block's module, layer1.0 ...).
        prefixes = ("conv1", "bn1", "relu", "maxpool", "layer1")
        device = [layer["name"] for layer in graph["layers"] if layer.get("op") == "input" or layer["module"].startswith(prefixes)]
        plan = {"device_layers": device, "cut_layers": ["onnx::layer1_1_relu_1"]}
        part = by_module.split(plan)
        self.assertEqual(part.crossing, ["layer1_1_relu_1"])
        difference, where = check.difference(plan)
        self.assertLessEqual(difference, TOLERANCE, where)

    def test_a_split_inside_one_module_is_refused(self):
        torch.manual_seed(0)
        model = Chain()
        x = torch.randn(2, 4)
        graph = {"format": "splitgraph/1", "layers": [
            {"name": "input", "op": "input", "inputs": []}, {"name": "Gemm_a", "module": "a", "inputs": ["input"]},
            {"name": "Relu_a", "module": "a", "inputs": ["Gemm_a"]}, {"name": "rest", "module": "", "inputs": ["Relu_a"]}]}
        with self.assertRaisesRegex(PartitionError, "inside one module"):
            Partitioner(model, x, graph).split({"device_layers": ["input", "Gemm_a"], "cut_layers": ["Gemm_a"]})


if __name__ == "__main__":
    unittest.main()
