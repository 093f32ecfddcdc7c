"""Cutting a traced model into a device part and a server part at a plan's split.

Every fx node of the traced model lands on one side (or, for folded nodes, on each side that
needs it):

- nodes of device layers run on the device, nodes of other layers on the server; model inputs
  are always on the device;
- folded nodes (no layer of their own: parameter reads, shape arithmetic, tensors computed from
  parameters alone) run on every side that reads them, computed again there; one the server
  reads but cannot compute (it derives from a device value that is not cut, such as the batch
  size read off the input) is computed on the device and sent after the cut values (a "side
  value": ints and sizes, a few bytes);
- the device part returns, as a tuple: the value of every cut layer in the plan's
  ``cut_layers`` order (each sent once, however many server nodes read it), then model outputs
  computed on the device that ``cut_layers`` does not list (only hand-made plans put outputs on
  the device), then side values; the server part takes those values, in that order, and
  returns the model's outputs.

A device layer reading a server layer, a cut layer that is not on the device, a device value the
server reads that is not cut, or a model input on the server raise ``PartitionError`` naming the
layers.
"""

from dataclasses import dataclass, field
import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple, Union

import torch
import torch.fx

from .layer_mapping import LayerNodes, PartitionError, map_layers
from .plan import SplitLayers, split_layers
from .tracing import NodeFacts, as_inputs, record, trace


@dataclass
class Partition:
    """The two parts of a split model and what crosses between them."""

    device: torch.fx.GraphModule
    """Takes the model's inputs; returns the crossing values (a tuple, order below)."""
    server: torch.fx.GraphModule
    """Takes the crossing values; returns the model's outputs."""
    split: SplitLayers
    """The plan's device and cut layers."""
    crossing: List[str]
    """fx node names of the values the device sends, in order: cut values, device outputs, side values."""
    cut_count: int
    """How many of ``crossing`` are the plan's cut layers (the first ones)."""
    side_values: List[str]
    """fx nodes computed on the device only because the server reads them (the last of ``crossing``)."""
    crossing_forms: List[Any]
    """``values.describe`` of each crossing value in the example run (dtype and shape of tensors)."""
    device_nodes: List[str] = field(default_factory=list)
    """fx nodes the device part computes."""
    server_nodes: List[str] = field(default_factory=list)
    """fx nodes the server part computes."""

    @property
    def parts(self) -> Tuple[torch.fx.GraphModule, torch.fx.GraphModule]:
        """``(device, server)``."""
        return self.device, self.server


GraphSource = Union[None, str, Mapping[str, Any]]


def load_graph(graph: GraphSource) -> Optional[Mapping[str, Any]]:
    """A splitgraph/1 document from a dict or a file path (None stays None)."""
    if graph is None or isinstance(graph, Mapping):
        return graph
    with open(graph) as file:
        return json.load(file)


class Partitioner:
    """Traces a model once and splits it at any number of plans.

    ``example_inputs`` (a tensor or a tuple of the ``forward`` arguments) runs the model once,
    with its buffers and the random state restored afterwards, to learn what each node produces.
    """

    def __init__(self, model: torch.nn.Module, example_inputs: Any, graph: GraphSource = None):
        self.model = model
        self.traced = trace(model)
        self.example_inputs = as_inputs(example_inputs)
        self.graph = load_graph(graph)
        self.facts: NodeFacts = record(self.traced, self.example_inputs)
        self.nodes = [node for node in self.traced.graph.nodes if node.op != "output"]
        self.output = next(node for node in self.traced.graph.nodes if node.op == "output")

    def layer_of(self, mapping: LayerNodes) -> Dict[str, str]:
        """fx node name -> the (first) layer standing for it."""
        owners: Dict[str, str] = {}
        for layer, names in mapping.nodes_of.items():
            for name in names:
                owners.setdefault(name, layer)
        return owners

    def split(self, plan: Any) -> Partition:
        """The partition at ``plan`` (see ``split_layers`` for the accepted forms)."""
        split = split_layers(plan)
        mapping = map_layers(self.traced, self.graph, list(split.device_layers) + list(split.cut_layers), self.facts.dynamic)
        owners = self.layer_of(mapping)

        def label(name: str) -> str:
            layer = owners.get(name)
            if layer is None:
                return f"fx node {name!r}"
            return f"layer {layer!r}" if layer == name else f"layer {layer!r} (fx node {name!r})"

        device_layer_set = set(split.device_layers)
        device: Set[str] = set()
        for layer in split.device_layers:
            device.update(mapping.nodes_of[layer])
        server: Set[str] = set()
        if self.graph is not None:
            for layer, names in mapping.nodes_of.items():
                if layer not in device_layer_set:
                    for name in names:
                        if name in device:
                            other = next(candidate for candidate in split.device_layers if name in mapping.nodes_of[candidate])
                            raise PartitionError(f"layers {other!r} (device) and {layer!r} (server) both stand for fx node "
                                                 f"{name!r}: a split inside one module cannot be applied")
                        server.add(name)
        else:
            server = {name for name in self.facts.dynamic if name not in device}
        placeholders = [node.name for node in self.nodes if node.op == "placeholder"]
        for name in placeholders:
            if name in server:
                raise PartitionError(f"{label(name)} is a model input and must be on the device")
            device.add(name)
        cut_nodes: List[str] = []
        for layer in split.cut_layers:
            if layer not in device_layer_set:
                raise PartitionError(f"cut layer {layer!r} is not a device layer")
            for name in mapping.nodes_of[layer]:
                if name not in cut_nodes:
                    cut_nodes.append(name)
        cut_set = set(cut_nodes)

        server_available: Set[str] = set()
        for node in self.nodes:
            if node.name in server or (node.name in device and node.name in cut_set):
                server_available.add(node.name)
            elif node.name not in device and all(source.name in server_available for source in node.all_input_nodes):
                server_available.add(node.name)
        device_available: Set[str] = set()
        for node in self.nodes:
            if node.name in device or (node.name not in server and all(source.name in device_available for source in node.all_input_nodes)):
                device_available.add(node.name)

        # Walking backwards, every reader is placed before what it reads: server_readers maps a
        # node the server needs to a server node reading it, device_readers likewise.
        server_readers: Dict[str, str] = {}
        device_readers: Dict[str, str] = {}
        outputs = {source.name for source in self.output.all_input_nodes}
        device_need: Set[str] = set(device)
        device_compute: Set[str] = set()
        server_compute: Set[str] = set()
        needed_crossing: List[str] = []
        side: List[str] = []
        for node in reversed(self.nodes):
            name = node.name
            folded = name not in device and name not in server
            if folded and not node.users:
                # Nothing reads it (an assertion, say): run it where its inputs are.
                if name in device_available:
                    device_need.add(name)
                elif name in server_available:
                    outputs.add(name)  # not an output, but computed on the server all the same
            needed_by_server = name in server_readers or name in outputs
            if name in server or (needed_by_server and folded and name in server_available):
                server_compute.add(name)
                for source in node.all_input_nodes:
                    server_readers.setdefault(source.name, name)
            elif needed_by_server and name in device:
                needed_crossing.append(name)
                if name not in cut_set and name in server_readers and not mapping.by_module:
                    raise PartitionError(f"{label(name)} is on the device and read by {label(server_readers[name])} on the "
                                         f"server, but is not in cut_layers {list(split.cut_layers)}")
            elif needed_by_server and folded:
                side.append(name)
                device_need.add(name)
            if name in device_need:
                device_compute.add(name)
                for source in node.all_input_nodes:
                    if source.name in server:
                        reader = name
                        while reader not in device and reader in device_readers:
                            reader = device_readers[reader]
                        raise PartitionError(f"{label(reader)} is on the device but reads {label(source.name)}, which is on the server")
                    device_need.add(source.name)
                    device_readers.setdefault(source.name, name)

        order = {node.name: index for index, node in enumerate(self.nodes)}
        if mapping.by_module:
            hint = {name: index for index, name in reversed(list(enumerate(cut_nodes)))}
            crossing = sorted(set(needed_crossing), key=lambda n: (hint.get(n, len(hint)), order[n]))
            cut_count = len(crossing)
            extra: List[str] = []
        else:
            crossing = list(cut_nodes)
            cut_count = len(crossing)
            extra = sorted((name for name in needed_crossing if name not in cut_set), key=order.__getitem__)
        side.sort(key=order.__getitem__)
        crossing = crossing + extra + side
        device_part = self._device_graph(device_compute, crossing)
        server_part = self._server_graph(server_compute, crossing)
        return Partition(device_part, server_part, split, crossing, cut_count, side,
                         [self.facts.forms[name] for name in crossing],
                         [n.name for n in self.nodes if n.name in device_compute],
                         [n.name for n in self.nodes if n.name in server_compute])

    def _device_graph(self, compute: Set[str], crossing: Sequence[str]) -> torch.fx.GraphModule:
        graph = torch.fx.Graph()
        values: Dict[str, torch.fx.Node] = {}
        for node in self.nodes:
            if node.name in compute or node.op == "placeholder":
                values[node.name] = graph.node_copy(node, lambda source: values[source.name])
        graph.output(tuple(values[name] for name in crossing))
        graph.lint()
        return torch.fx.GraphModule(self.traced, graph, "DevicePart")

    def _server_graph(self, compute: Set[str], crossing: Sequence[str]) -> torch.fx.GraphModule:
        graph = torch.fx.Graph()
        values: Dict[str, torch.fx.Node] = {}
        for name in crossing:
            values[name] = graph.placeholder(name)
        for node in self.nodes:
            if node.name in compute and node.name not in values:
                values[node.name] = graph.node_copy(node, lambda source: values[source.name])
        graph.output(torch.fx.map_arg(self.output.args[0], lambda source: values[source.name]))
        graph.lint()
        return torch.fx.GraphModule(self.traced, graph, "ServerPart")


def partition(model: torch.nn.Module, plan: Any, example_inputs: Any,
              graph: GraphSource = None) -> Tuple[torch.fx.GraphModule, torch.fx.GraphModule]:
    """``(device_part, server_part)``: GraphModules sharing ``model``'s parameters, with
    ``server_part(*device_part(*inputs))`` equal to ``model(*inputs)``.

    ``plan``: a webhook's data, a plan JSON, a table segment or a ``Split``; ``graph``: the
    splitgraph/1 document (dict or path) the plan was made from, needed when its layers carry
    ``fx_node`` or ``module`` fields. See the module documentation for the rules.
    """
    return Partitioner(model, example_inputs, graph).split(plan).parts
