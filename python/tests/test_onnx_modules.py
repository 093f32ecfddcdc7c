"""ONNX imports name the torch module of every layer, and those modules exist in the model.

Every sample export in ../shared/onnx (both torch exporters) is imported with the real
``splitctl import``; for every split of its plan table, each cut layer's ``module`` must be a module
of the torchvision (or transformers) model the file was exported from, so a plan made from an
imported graph can be applied to the torch model (``splitd.torch.partition(..., graph=...)``).
"""

import json
import os
import subprocess
import tempfile
import unittest

from torch import nn

from splitd.torch.compat import torchvision_models
from tests.support import ROOT, splitctl, splitctl_table

ONNX = os.path.join(os.path.dirname(ROOT), "shared", "onnx")


def torch_model(stem: str) -> nn.Module:
    """The model a sample file was exported from (module names only: weights do not matter)."""
    if stem == "gpt2":
        from transformers import GPT2Config, GPT2LMHeadModel

        class Wrapped(nn.Module):
            """The dynamo export wrapped the model as attribute ``m`` (its scopes say ``m.transformer``)."""

            def __init__(self) -> None:
                super().__init__()
                self.m = GPT2LMHeadModel(GPT2Config())

        return Wrapped()
    return getattr(torchvision_models(), stem)(**({"aux_logits": False, "init_weights": False} if stem == "googlenet" else {}))


class ImportedModuleTests(unittest.TestCase):
    def test_every_cut_layer_of_every_sample_export_names_a_module_of_its_model(self):
        binary = splitctl()
        if binary is None:
            if os.environ.get("SPLITD_PY_SKIP_SPLITCTL") == "1":
                self.skipTest("no splitctl (SPLITD_PY_SKIP_SPLITCTL=1)")
            self.fail("no splitctl binary: build it (swift build) or set SPLITCTL")
        files = sorted(name for name in os.listdir(ONNX) if name.endswith(".onnx")) if os.path.isdir(ONNX) else []
        self.assertGreaterEqual(len(files), 10, f"sample exports not found in {ONNX}")
        for name in files:
            stem = name.split(".")[0]
            with self.subTest(file=name), tempfile.TemporaryDirectory() as directory:
                graph_path = os.path.join(directory, "graph.json")
                run = subprocess.run([binary, "import", os.path.join(ONNX, name), "--output", graph_path],
                                     capture_output=True, text=True, timeout=300)
                self.assertEqual(run.returncode, 0, run.stderr)
                with open(graph_path) as file:
                    layers = {layer["name"]: layer for layer in json.load(file)["layers"]}
                modules = {module_name for module_name, _ in torch_model(stem).named_modules()}
                # Most layers know their module; those that do not sit at the model's top level.
                with_module = [layer for layer in layers.values() if layer.get("module")]
                self.assertGreater(len(with_module), 0.9 * len(layers), "too few layers carry a module")
                unknown = sorted({layer["module"] for layer in with_module} - modules)
                self.assertEqual(unknown, [], f"{name}: modules the model does not have")
                table = splitctl_table(graph_path)
                for segment in table["segments"]:
                    for cut in segment["cut_layers"]:
                        module = layers[cut].get("module")
                        self.assertTrue(module is None or module in modules, f"{name}: cut layer {cut} names module {module}")


if __name__ == "__main__":
    unittest.main()
