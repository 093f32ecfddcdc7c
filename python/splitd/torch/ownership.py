"""Which parameters and buffers each part of a split uses, and moving them with optimizer state.

A parameter is owned by the part whose nodes read it (through a ``call_module`` of its module or
a ``get_attr``). Split training needs each parameter on one side only: a parameter read on both
sides (tied weights) would need its gradients summed across the link, which ``SplitTrainer``
does not do, and is refused naming the parameter.

When layers change sides they move with:
- their parameters (the bytes splitd's cost model prices: ``parameter_bytes``),
- the optimizer's state of each parameter: SGD none, momentum one buffer, Adam two (priced as
  ``parameter_bytes`` x 1, 2, 3 for sgd, momentum, adam), plus Adam's per-parameter ``step``
  counter (a scalar, not priced),
- their modules' buffers (batch-norm running mean and variance and ``num_batches_tracked``):
  moved too, and not priced by the cost model (extra bytes, small next to the weights).
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Set, Tuple

import torch
import torch.fx

from .layer_mapping import PartitionError
from .values import StructureError, flatten, unflatten


@dataclass(frozen=True)
class Holdings:
    """Qualified names of the parameters and buffers one part reads."""

    parameters: frozenset
    buffers: frozenset


def holdings(part: torch.fx.GraphModule, model: torch.nn.Module) -> Holdings:
    """The parameters and buffers ``part`` reads, by their qualified names in ``model``."""
    parameter_names = {id(parameter): name for name, parameter in model.named_parameters()}
    buffer_names = {id(buffer): name for name, buffer in model.named_buffers()}
    parameters: Set[str] = set()
    buffers: Set[str] = set()
    for node in part.graph.nodes:
        if node.op == "call_module":
            submodule = part.get_submodule(node.target)
            parameters.update(parameter_names[id(p)] for p in submodule.parameters() if id(p) in parameter_names)
            buffers.update(buffer_names[id(b)] for b in submodule.buffers() if id(b) in buffer_names)
        elif node.op == "get_attr":
            attribute = part
            for component in str(node.target).split("."):
                attribute = getattr(attribute, component)
            if id(attribute) in parameter_names:
                parameters.add(parameter_names[id(attribute)])
            elif id(attribute) in buffer_names:
                buffers.add(buffer_names[id(attribute)])
    return Holdings(frozenset(parameters), frozenset(buffers))


def check_disjoint(device: Holdings, server: Holdings) -> None:
    """Raises PartitionError naming a parameter both sides read."""
    shared = sorted(device.parameters & server.parameters)
    if shared:
        raise PartitionError(f"parameter {shared[0]!r} is read on both sides of the split ({len(shared)} shared); "
                             "split training needs every parameter on one side")


def optimizer_kind(optimizer: torch.optim.Optimizer) -> str:
    """``sgd``, ``momentum`` or ``adam``: how many bytes per parameter byte a move costs (1, 2, 3)."""
    if isinstance(optimizer, (torch.optim.Adam, torch.optim.AdamW)):
        return "adam"
    if isinstance(optimizer, torch.optim.SGD):
        return "momentum" if any(group.get("momentum", 0) for group in optimizer.param_groups) else "sgd"
    raise ValueError(f"optimizer {type(optimizer).__name__} is not supported (SGD, SGD with momentum, Adam, AdamW)")


@dataclass
class MovedState:
    """What a move carries, as JSON entries referencing tensors, and its byte counts."""

    entries: List[Dict[str, Any]]
    tensors: List[torch.Tensor]
    parameter_bytes: int = 0
    optimizer_bytes: int = 0
    buffer_bytes: int = 0


def pack(model: torch.nn.Module, optimizer: torch.optim.Optimizer, parameters: List[str], buffers: List[str]) -> MovedState:
    """The weights, optimizer state and buffers of the named parameters and buffers."""
    named_parameters = dict(model.named_parameters())
    named_buffers = dict(model.named_buffers())
    moved = MovedState([], [])
    for name in parameters:
        parameter = named_parameters[name]
        before = len(moved.tensors)
        moved.tensors.append(parameter.detach())
        moved.parameter_bytes += parameter.numel() * parameter.element_size()
        state = optimizer.state.get(parameter, {})
        structure = flatten(dict(state), moved.tensors)
        moved.optimizer_bytes += sum(t.numel() * t.element_size() for t in moved.tensors[before + 1:])
        moved.entries.append({"parameter": name, "tensor": before, "optimizer": structure})
    for name in buffers:
        buffer = named_buffers[name]
        moved.tensors.append(buffer.detach())
        moved.buffer_bytes += buffer.numel() * buffer.element_size()
        moved.entries.append({"buffer": name, "tensor": len(moved.tensors) - 1})
    return moved


def unpack(model: torch.nn.Module, optimizer: torch.optim.Optimizer, entries: Any, tensors: List[torch.Tensor],
           expected_parameters: Set[str], expected_buffers: Set[str]) -> Tuple[List[str], List[str]]:
    """Checks a received move against what was expected, then installs it; returns the names.

    Everything is checked before anything is written, so a bad move changes nothing. Raises
    ValueError naming the first parameter or buffer that is missing, unexpected or misshapen.
    """
    named_parameters = dict(model.named_parameters())
    named_buffers = dict(model.named_buffers())
    if not isinstance(entries, list):
        raise ValueError("move: 'state' must be a list")
    plan: List[Tuple[str, torch.Tensor, torch.Tensor, Any]] = []
    seen_parameters: Set[str] = set()
    seen_buffers: Set[str] = set()
    for entry in entries:
        if not isinstance(entry, dict):
            raise ValueError("move: entries must be objects")
        kind = "parameter" if "parameter" in entry else "buffer"
        name = entry.get(kind)
        targets = named_parameters if kind == "parameter" else named_buffers
        expected = expected_parameters if kind == "parameter" else expected_buffers
        if name not in expected or name not in targets:
            raise ValueError(f"move: {kind} {name!r} was not expected to move here")
        index = entry.get("tensor")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(tensors):
            raise ValueError(f"move: {kind} {name!r} references tensor {index!r}, out of range")
        value, target = tensors[index], targets[name]
        if value.dtype != target.dtype or value.shape != target.shape:
            raise ValueError(f"move: {kind} {name!r} is {value.dtype} {list(value.shape)}, "
                             f"expected {target.dtype} {list(target.shape)}")
        state = None
        if kind == "parameter":
            try:
                state = unflatten(entry.get("optimizer", {}), tensors)
            except StructureError as error:
                raise ValueError(f"move: optimizer state of {name!r}: {error}") from None
            if not isinstance(state, dict):
                raise ValueError(f"move: optimizer state of {name!r} must be a dict")
            for key, item in state.items():
                if isinstance(item, torch.Tensor) and item.dim() > 0 and item.shape != target.shape:
                    raise ValueError(f"move: optimizer state {key!r} of {name!r} has shape {list(item.shape)}, "
                                     f"expected {list(target.shape)}")
            seen_parameters.add(name)
        else:
            seen_buffers.add(name)
        plan.append((kind, target, value, state))
    missing = sorted((expected_parameters - seen_parameters) | (expected_buffers - seen_buffers))
    if missing:
        raise ValueError(f"move: {missing[0]!r} should have moved here but is missing ({len(missing)} missing)")
    with torch.no_grad():
        for kind, target, value, state in plan:
            target.copy_(value)
            if kind == "parameter":
                optimizer.state.pop(target, None)
                if state:
                    optimizer.state[target] = {key: item.clone() if isinstance(item, torch.Tensor) else item
                                               for key, item in state.items()}
    return sorted(seen_parameters), sorted(seen_buffers)


def forget(model: torch.nn.Module, optimizer: torch.optim.Optimizer, parameters: List[str]) -> None:
    """Drops the optimizer state and gradients of parameters that moved away."""
    named_parameters = dict(model.named_parameters())
    for name in parameters:
        parameter = named_parameters[name]
        optimizer.state.pop(parameter, None)
        parameter.grad = None
