"""Which fx nodes each layer of a plan stands for.

Rules, in order, for every layer of the splitgraph/1 graph (when one is given):

1. ``"fx_node"``: the layer is the fx node of that name;
2. ``"module"`` (a dotted module path such as ``features.4.0.block.3.0``; ONNX imports carry
   it): the layer stands for every computing fx node (a node producing tensors from the
   inputs; model inputs are matched by rule 3) whose module path (``call_module`` target, or the module whose ``forward`` traced
   it) has that module as its longest prefix among the graph's module paths. Several layers may
   share a module (an ONNX ``Conv`` and ``Relu`` both in ``layer1.0.conv1``... or several
   operators of one block): they then stand for the same nodes, and must be on the same side.
   Limits: a split inside one module's fx nodes cannot be expressed (raises); nodes outside
   every listed module (top-level functional operations when no layer carries ``"module": ""``)
   are placed by need like folded nodes;
3. otherwise the layer's ``name`` is the fx node name (graphs from ops/export-torch and
   ops/models); an ``"op": "input"`` layer whose name is not a node is the model input of the
   same position (the i-th input layer is the i-th ``forward`` argument).

Without a graph, plan layer names are fx node names, and every other computing node is on the
server.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set

import torch.fx

from .tracing import module_path


class PartitionError(ValueError):
    """A plan that cannot be applied to this model: names the layer and what is wrong."""


@dataclass
class LayerNodes:
    """The fx nodes of each plan layer, and the computing nodes no layer names."""

    nodes_of: Dict[str, List[str]] = field(default_factory=dict)
    """Layer name -> fx node names, in graph order."""
    by_module: bool = False
    """True when some layer was mapped through its module path (cut order then follows the fx graph)."""


def _is_prefix(prefix: str, path: str) -> bool:
    return prefix == "" or path == prefix or path.startswith(prefix + ".")


def map_layers(module: torch.fx.GraphModule, graph: Optional[Mapping[str, Any]], plan_layers: Sequence[str],
               dynamic: Set[str]) -> LayerNodes:
    """Maps every layer (the graph's, or without a graph the plan's) to its fx nodes.

    Raises PartitionError naming the first layer that has no fx node.
    """
    nodes = {node.name: node for node in module.graph.nodes}
    order = {node.name: index for index, node in enumerate(module.graph.nodes)}
    result = LayerNodes()
    if graph is None:
        for name in plan_layers:
            if name not in nodes:
                raise PartitionError(f"layer {name!r} of the plan is not a node of the traced model")
            result.nodes_of[name] = [name]
        return result
    layers = graph.get("layers")
    if not isinstance(layers, list):
        raise PartitionError("graph has no 'layers' list (expected splitgraph/1)")
    modules = sorted({str(layer["module"]) for layer in layers if "fx_node" not in layer and "module" in layer},
                     key=len, reverse=True)
    members: Dict[str, List[str]] = {path: [] for path in modules}
    if modules:
        result.by_module = True
        for node in module.graph.nodes:
            if node.name not in dynamic or node.op == "placeholder":
                continue
            path = module_path(node)
            owner = next((candidate for candidate in modules if _is_prefix(candidate, path)), None)
            if owner is not None:
                members[owner].append(node.name)
    placeholders = [node.name for node in module.graph.nodes if node.op == "placeholder"]
    input_index = 0
    for layer in layers:
        name = str(layer["name"])
        if layer.get("op") == "input":
            input_index += 1
            if "fx_node" not in layer and name not in nodes and input_index <= len(placeholders):
                result.nodes_of[name] = [placeholders[input_index - 1]]
                continue
        if "fx_node" in layer:
            target = str(layer["fx_node"])
            if target not in nodes:
                raise PartitionError(f"layer {name!r}: fx_node {target!r} is not a node of the traced model")
            result.nodes_of[name] = [target]
        elif "module" in layer:
            path = str(layer["module"])
            if not members[path]:
                raise PartitionError(f"layer {name!r}: module {path!r} has no computing fx node in the traced model")
            result.nodes_of[name] = members[path]
        else:
            if name not in nodes:
                raise PartitionError(f"layer {name!r} of the graph is not a node of the traced model "
                                     "(give it an \"fx_node\" or \"module\" field, or re-export the graph)")
            result.nodes_of[name] = [name]
    for name in plan_layers:
        if name not in result.nodes_of:
            raise PartitionError(f"layer {name!r} of the plan is not a layer of the graph")
    for names in result.nodes_of.values():
        names.sort(key=order.__getitem__)
    return result
