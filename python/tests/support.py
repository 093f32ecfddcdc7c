"""Shared test helpers: torchvision's model definitions (``splitd.torch.compat``), the splitctl
binary, random models and splits."""

import json
import os
import random
import subprocess
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple


import torch
from torch import nn

# One intra-op thread: the results do not depend on it, and OpenMP threads spinning on a shared
# 2-core machine make every test several times slower.
torch.set_num_threads(1)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.path.join(ROOT, "ops", "models")


def sample_graph(name: str) -> Dict[str, Any]:
    """An ops/models splitgraph/1 document."""
    with open(os.path.join(MODELS, f"{name}.json")) as file:
        return json.load(file)


def splitctl() -> Optional[str]:
    """The splitctl binary: $SPLITCTL, else .build/release, else .build/debug (None if none exists)."""
    candidates = [os.environ.get("SPLITCTL", ""), os.path.join(ROOT, ".build", "release", "splitctl"),
                  os.path.join(ROOT, ".build", "debug", "splitctl")]
    return next((path for path in candidates if path and os.access(path, os.X_OK)), None)


def splitctl_table(graph_path: str) -> Dict[str, Any]:
    """``splitctl table GRAPH --batch 32 --device-flops 100G --server-flops 20T --format json``."""
    binary = splitctl()
    assert binary is not None
    run = subprocess.run([binary, "table", graph_path, "--batch", "32", "--device-flops", "100G",
                          "--server-flops", "20T", "--format", "json"], capture_output=True, text=True, timeout=300)
    if run.returncode != 0:
        raise AssertionError(f"splitctl table {graph_path} failed ({run.returncode}): {run.stderr}")
    return json.loads(run.stdout)


def random_valid_split(layers: Sequence[str], inputs_of: Dict[str, List[str]], rng: random.Random,
                       pinned: Sequence[str] = ()) -> Dict[str, List[str]]:
    """A random split closed under predecessors (no device layer reads a server layer): the
    ancestors of a few random seeds plus ``pinned``; cut = device layers with a server successor
    (splitd's definition)."""
    seeds = rng.sample(list(layers), k=min(len(layers), rng.randint(1, 4)))
    device: Set[str] = set()
    stack = list(seeds) + list(pinned)
    while stack:
        name = stack.pop()
        if name not in device:
            device.add(name)
            stack.extend(inputs_of.get(name, []))
    successors: Dict[str, List[str]] = {}
    for name in layers:
        for source in inputs_of.get(name, []):
            successors.setdefault(source, []).append(name)
    ordered = [name for name in layers if name in device]
    cut = [name for name in ordered if any(s not in device for s in successors.get(name, []))]
    return {"device_layers": ordered, "cut_layers": cut}


class RandomDag(nn.Module):
    """An fx-traceable module built from a seeded random program over a list of values:
    linear layers, batch norm, activations, residual adds, products, concatenations (merges),
    chunking (a tuple-valued node), a reshape by the batch size read off a value (shape
    arithmetic), a free parameter (``get_attr``), two inputs and several outputs."""

    WIDTH = 6

    def __init__(self, seed: int, length: int = 14):
        super().__init__()
        rng = random.Random(seed)
        width = self.WIDTH
        self.program: List[Tuple[str, Tuple[int, ...]]] = []
        self.linears = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.scales = nn.Parameter(torch.randn(length, width))
        count = 2
        for step in range(length):
            pick = lambda: rng.randrange(count)  # noqa: E731 - a tiny local helper
            op = rng.choice(["linear", "linear", "norm", "tanh", "add", "mul", "cat", "chunk", "reshape", "scale"])
            if op == "linear":
                self.linears.append(nn.Linear(width, width))
                self.program.append((op, (pick(), len(self.linears) - 1)))
            elif op == "norm":
                self.norms.append(nn.BatchNorm1d(width))
                self.program.append((op, (pick(), len(self.norms) - 1)))
            elif op in ("add", "mul"):
                self.program.append((op, (pick(), pick())))
            elif op == "cat":
                self.linears.append(nn.Linear(2 * width, width))
                self.program.append((op, (pick(), pick(), len(self.linears) - 1)))
            elif op == "scale":
                self.program.append((op, (pick(), step)))
            else:
                self.program.append((op, (pick(),)))
            count += 1
        self.outputs = sorted(set(rng.sample(range(2, count), k=min(3, count - 2))) | {count - 1})

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        values = [x, y]
        for op, arguments in self.program:
            a = values[arguments[0]]
            if op == "linear":
                values.append(self.linears[arguments[1]](a))
            elif op == "norm":
                values.append(self.norms[arguments[1]](a))
            elif op == "tanh":
                values.append(torch.tanh(a))
            elif op == "add":
                values.append(a + values[arguments[1]])
            elif op == "mul":
                values.append(a * values[arguments[1]])
            elif op == "cat":
                values.append(self.linears[arguments[2]](torch.cat([a, values[arguments[1]]], dim=1)))
            elif op == "chunk":
                first, second = torch.chunk(a, 2, dim=1)
                values.append(torch.cat([second, first], dim=1))
            elif op == "reshape":
                values.append(a.reshape(a.shape[0], 2, -1).flip(1).reshape(x.shape[0], -1))
            else:
                values.append(a * self.scales[arguments[1]])
        return tuple(values[index] for index in self.outputs)


def dynamic_layers(partitioner: Any) -> Tuple[List[str], Dict[str, List[str]]]:
    """Layers (export-torch's rule) of a traced model in order, and each one's layer inputs."""
    layers = [node.name for node in partitioner.traced.graph.nodes if node.name in partitioner.facts.dynamic]
    layer_set = set(layers)
    inputs_of = {}
    for node in partitioner.traced.graph.nodes:
        if node.name in layer_set:
            # Inputs through folded nodes count (a reshape reads the value whose shape it uses).
            found, stack, seen = [], list(node.all_input_nodes), set()
            while stack:
                source = stack.pop()
                if source.name in seen:
                    continue
                seen.add(source.name)
                if source.name in layer_set:
                    found.append(source.name)
                else:
                    stack.extend(source.all_input_nodes)
            inputs_of[node.name] = found
    return layers, inputs_of



def without_dropout(model: nn.Module) -> nn.Module:
    """Training mode (batch norm on batch statistics) with dropout off, so runs are comparable."""
    model.train()
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.eval()
    return model


def outputs_as_tuple(outputs: Any) -> Tuple[torch.Tensor, ...]:
    """A model's outputs as a tuple of tensors (a transformers ModelOutput by its values)."""
    if hasattr(outputs, "to_tuple"):
        return tuple(outputs.to_tuple())
    return tuple(outputs) if isinstance(outputs, (tuple, list)) else (outputs,)


class EquivalenceCheck:
    """Runs a model unsplit once, then any partition of it, from the same state, and reports the
    largest difference in outputs, parameter gradients and buffers.

    The loss is a fixed random weighting of every output, so every output gets a gradient.
    """

    def __init__(self, partitioner: Any, inputs: Tuple[Any, ...], seed: int = 0):
        self.partitioner = partitioner
        self.model = partitioner.model
        self.inputs = inputs
        self.buffers = {name: buffer.clone() for name, buffer in self.model.named_buffers()}
        generator = torch.Generator().manual_seed(seed)
        self._restore()
        outputs = outputs_as_tuple(self.model(*inputs))
        # A mean-like weighting keeps gradients O(1), so 1e-6 is a meaningful absolute bound.
        self.weights = [torch.randn(out.shape, generator=generator) / max(1, out.numel()) for out in outputs]
        self._backward(self._loss(outputs))
        self.outputs = [out.detach().clone() for out in outputs]
        self.gradients = {name: None if p.grad is None else p.grad.clone() for name, p in self.model.named_parameters()}
        self.after = {name: buffer.clone() for name, buffer in self.model.named_buffers()}

    def _loss(self, outputs: Sequence[torch.Tensor]) -> torch.Tensor:
        return sum((out * weight).sum() for out, weight in zip(outputs, self.weights))

    @staticmethod
    def _backward(loss: torch.Tensor) -> None:
        if loss.requires_grad:  # a random DAG may compute its outputs without any parameter
            loss.backward()

    def _restore(self) -> None:
        with torch.no_grad():
            for name, buffer in self.model.named_buffers():
                buffer.copy_(self.buffers[name])
        for parameter in self.model.parameters():
            parameter.grad = None

    def difference(self, plan: Any) -> Tuple[float, str]:
        """(largest absolute difference, where) for the partition at ``plan``, run as the wire
        runs it: cut tensors detached, server backward first, device backward from their gradients."""
        from splitd.torch.values import flatten

        part = self.partitioner.split(plan)
        self._restore()
        sent = part.device(*self.inputs)
        leaves: List[torch.Tensor] = []
        structure_tensors: List[torch.Tensor] = []
        flatten(tuple(sent), leaves)
        received = []
        for value in sent:
            received.append(_detached(value, structure_tensors))
        outputs = outputs_as_tuple(part.server(*received))
        self._backward(self._loss(outputs))
        pairs = [(leaf, copy.grad) for leaf, copy in zip(leaves, structure_tensors)
                 if copy.grad is not None and leaf.requires_grad]
        if pairs:
            torch.autograd.backward([leaf for leaf, _ in pairs], [grad for _, grad in pairs])
        worst, where = 0.0, "nothing"
        for index, (out, expected) in enumerate(zip(outputs, self.outputs)):
            difference = (out.detach() - expected).abs().max().item() if out.numel() else 0.0
            if difference > worst or out.shape != expected.shape:
                worst, where = (difference if out.shape == expected.shape else float("inf")), f"output {index}"
        for name, parameter in self.model.named_parameters():
            expected = self.gradients[name]
            if (expected is None) != (parameter.grad is None):
                return float("inf"), f"gradient of {name} (present on one side only)"
            if expected is not None:
                difference = (parameter.grad - expected).abs().max().item()
                if difference > worst:
                    worst, where = difference, f"gradient of {name}"
        for name, buffer in self.model.named_buffers():
            difference = (buffer.double() - self.after[name].double()).abs().max().item()
            if difference > worst:
                worst, where = difference, f"buffer {name}"
        return worst, where


def _detached(value: Any, tensors: List[torch.Tensor]) -> Any:
    """A crossing value as the server receives it: tensors detached, floating ones requiring grad."""
    if isinstance(value, torch.Tensor):
        leaf = value.detach().clone()
        tensors.append(leaf)
        if leaf.is_floating_point():
            leaf.requires_grad_(True)
            return leaf.clone()  # not a leaf, so the server part may modify it in place
        return leaf
    if isinstance(value, torch.Size):
        return value
    if isinstance(value, (tuple, list)):
        return type(value)(_detached(item, tensors) for item in value)
    return value
