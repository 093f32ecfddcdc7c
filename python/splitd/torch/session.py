"""What the device and the server share in a split-training session: the model's partitions,
the optimizer, and the handshake that makes both sides agree on the split."""

import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

import torch

from .ownership import Holdings, check_disjoint, holdings, optimizer_kind
from .partition import GraphSource, Partition, Partitioner
from .plan import SplitLayers, split_layers

PROTOCOL = "splitd-train/1"
"""Protocol name both sides put in the handshake."""

OptimizerFactory = Callable[[Any], torch.optim.Optimizer]
"""Builds the optimizer from ``model.parameters()``; both sides must use the same one."""


class ProtocolError(RuntimeError):
    """The peer disagrees on the split, the model or the protocol (names what differs)."""


@dataclass
class Placement:
    """One split of the model and what each side holds under it."""

    split: SplitLayers
    partition: Partition
    device: Holdings
    server: Holdings

    @property
    def fingerprint(self) -> str:
        """Identifies the split in every frame."""
        return self.split.fingerprint()


def model_signature(model: torch.nn.Module) -> str:
    """A hash of the model's parameter and buffer names, shapes and dtypes (not their values)."""
    text = "\n".join(f"{kind} {name} {list(t.shape)} {t.dtype}"
                     for kind, items in (("p", model.named_parameters()), ("b", model.named_buffers())) for name, t in items)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def without_batch(form: Any) -> Any:
    """A value form with every tensor's first dimension dropped (the batch may differ)."""
    if isinstance(form, dict) and "dtype" in form:
        return {"dtype": form["dtype"], "shape": list(form["shape"])[1:]}
    if isinstance(form, dict):
        return {key: without_batch(value) for key, value in form.items()}
    if isinstance(form, list):
        return [without_batch(item) for item in form]
    return form


class SplitModel:
    """The model on one side: the partitioner, the optimizer, and the placements seen so far."""

    def __init__(self, model: torch.nn.Module, example_inputs: Any, optimizer: OptimizerFactory,
                 graph: GraphSource = None):
        self.model = model
        self.partitioner = Partitioner(model, example_inputs, graph)
        self.optimizer = optimizer(model.parameters())
        self.kind = optimizer_kind(self.optimizer)
        self.signature = model_signature(model)
        self._placements: Dict[str, Placement] = {}

    def placement(self, plan: Any) -> Placement:
        """The placement of a plan's split (cached); raises PartitionError when it cannot train."""
        split = split_layers(plan)
        key = split.fingerprint()
        if key not in self._placements:
            partition = self.partitioner.split(split)
            device, server = holdings(partition.device, self.model), holdings(partition.server, self.model)
            check_disjoint(device, server)
            self._placements[key] = Placement(split, partition, device, server)
        return self._placements[key]

    def hello(self, placement: Placement) -> Dict[str, Any]:
        """The handshake meta describing this side's model and split."""
        return {"protocol": PROTOCOL, "model": self.signature, "optimizer": self.kind,
                "split": {"device_layers": list(placement.split.device_layers), "cut_layers": list(placement.split.cut_layers)},
                "fingerprint": placement.fingerprint, "crossing": placement.partition.crossing,
                "forms": without_batch(placement.partition.crossing_forms)}

    def check_hello(self, meta: Dict[str, Any]) -> Placement:
        """The placement a peer's handshake names, after checking both sides agree on everything."""
        if meta.get("protocol") != PROTOCOL:
            raise ProtocolError(f"peer speaks {meta.get('protocol')!r}, this side {PROTOCOL!r}")
        if meta.get("model") != self.signature:
            raise ProtocolError(f"model mismatch: peer's parameters hash to {meta.get('model')!r}, ours to {self.signature!r}")
        if meta.get("optimizer") != self.kind:
            raise ProtocolError(f"optimizer mismatch: peer uses {meta.get('optimizer')!r}, this side {self.kind!r}")
        placement = self.placement(meta.get("split"))
        self.check_split(placement, meta)
        return placement

    @staticmethod
    def check_split(placement: Placement, meta: Dict[str, Any]) -> None:
        """Raises ProtocolError when the peer's fingerprint or crossing values differ from ours."""
        if meta.get("fingerprint") != placement.fingerprint:
            raise ProtocolError(f"split mismatch: peer's fingerprint {meta.get('fingerprint')!r}, ours {placement.fingerprint!r}")
        if "crossing" in meta and meta["crossing"] != placement.partition.crossing:
            raise ProtocolError(f"cut mismatch: peer sends {meta['crossing']}, this side expects {placement.partition.crossing}")
        if "forms" in meta and meta["forms"] != without_batch(placement.partition.crossing_forms):
            raise ProtocolError("cut value forms differ between the sides (dtype or shape of a cut tensor)")


def moves(old: Placement, new: Placement) -> Tuple[Tuple[list, list], Tuple[list, list]]:
    """``((parameters, buffers) device -> server, (parameters, buffers) server -> device)``, sorted."""
    up = (sorted(old.device.parameters - new.device.parameters), sorted(old.device.buffers - new.device.buffers))
    down = (sorted(new.device.parameters - old.device.parameters), sorted(new.device.buffers - old.device.buffers))
    return up, down


def optional_float(value: Any) -> Optional[float]:
    """A JSON number as float, or None."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
