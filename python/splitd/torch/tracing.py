"""Tracing a model with torch.fx, and one recorded run that tells what each node produces."""

import contextlib
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Sequence, Set, Tuple

import torch
import torch.fx

from .values import describe


class ScopeTracer(torch.fx.Tracer):
    """``symbolic_trace`` that records on every node (``node.meta["scope"]``) the qualified
    name of the module whose ``forward`` created it; node names are those of ``symbolic_trace``."""

    def __init__(self) -> None:
        super().__init__()
        self.module_scopes: List[str] = []

    def call_module(self, module: torch.nn.Module, forward: Any, args: Any, kwargs: Any) -> Any:
        self.module_scopes.append(self.path_of_module(module))
        try:
            return super().call_module(module, forward, args, kwargs)
        finally:
            self.module_scopes.pop()

    def create_node(self, *args: Any, **kwargs: Any) -> torch.fx.Node:
        node = super().create_node(*args, **kwargs)
        node.meta["scope"] = self.module_scopes[-1] if self.module_scopes else ""
        return node


def trace(model: torch.nn.Module) -> torch.fx.GraphModule:
    """The model as a GraphModule sharing its parameters (a GraphModule is used as it is)."""
    if isinstance(model, torch.fx.GraphModule):
        return model
    tracer = ScopeTracer()
    graph = tracer.trace(model)
    return torch.fx.GraphModule(tracer.root, graph, model.__class__.__name__)


def module_path(node: torch.fx.Node) -> str:
    """The dotted path of the module a node belongs to (its own module for ``call_module``)."""
    if node.op == "call_module":
        return str(node.target)
    if "scope" in node.meta:
        return str(node.meta["scope"])
    stack = node.meta.get("nn_module_stack") or {}
    if stack:
        last = list(stack.values())[-1]
        return str(last[0] if isinstance(last, tuple) else last)
    return ""


@contextlib.contextmanager
def side_effects_undone(module: torch.nn.Module) -> Iterator[None]:
    """Runs a block with gradients off, then restores the module's buffers (batch-norm running
    statistics) and the CPU random state, so an analysis run changes nothing."""
    saved = {name: buffer.detach().clone() for name, buffer in module.named_buffers()}
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        try:
            yield
        finally:
            for name, buffer in module.named_buffers():
                if name in saved:
                    buffer.copy_(saved[name])


def _contains_tensor(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, (list, tuple)):
        return any(_contains_tensor(item) for item in value)
    if isinstance(value, dict):
        return any(_contains_tensor(item) for item in value.values())
    return False


@dataclass
class NodeFacts:
    """What one run with example inputs told about the graph's nodes."""

    forms: Dict[str, Any] = field(default_factory=dict)
    """Node name -> ``values.describe`` of its value."""
    dynamic: Set[str] = field(default_factory=set)
    """Nodes that are layers by export-torch's rule: inputs, and tensor-producing nodes reading one."""


class _Recorder(torch.fx.Interpreter):
    def __init__(self, module: torch.fx.GraphModule, facts: NodeFacts):
        super().__init__(module)
        self.facts = facts

    def run_node(self, node: torch.fx.Node) -> Any:
        value = super().run_node(node)
        if node.op != "output":
            self.facts.forms[node.name] = describe(value)
            if node.op == "placeholder" or (_contains_tensor(value) and node.op.startswith("call_")
                                            and any(source.name in self.facts.dynamic for source in node.all_input_nodes)):
                self.facts.dynamic.add(node.name)
        return value


def record(module: torch.fx.GraphModule, example_inputs: Sequence[Any]) -> NodeFacts:
    """Runs the graph once on the example inputs, undoing its side effects, and returns the facts."""
    facts = NodeFacts()
    with side_effects_undone(module):
        _Recorder(module, facts).run(*example_inputs)
    return facts


def as_inputs(example_inputs: Any) -> Tuple[Any, ...]:
    """Example inputs as a tuple (a lone tensor becomes a 1-tuple)."""
    return tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
