"""The split a plan describes, whatever shape the plan comes in."""

import hashlib
from dataclasses import dataclass
from typing import Any, Mapping, Tuple


@dataclass(frozen=True)
class SplitLayers:
    """Which layers run on the device, and which of them send their output to the server.

    ``device_layers`` in the plan's (topological) order; ``cut_layers`` in the plan's order,
    which is the order the device part returns the cut values in.
    """

    device_layers: Tuple[str, ...]
    cut_layers: Tuple[str, ...]

    def fingerprint(self) -> str:
        """A short stable text naming this split (sorted device layers, cut order kept)."""
        text = "\n".join(sorted(self.device_layers)) + "\n--\n" + "\n".join(self.cut_layers)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def split_layers(plan: Any) -> SplitLayers:
    """The ``SplitLayers`` of a plan.

    ``plan`` may be a webhook event (``{"type": ..., "data": {...}}``), its ``data``, a plan JSON
    (``splitctl plan --format json``, ``GET /v1/devices/{id}/plan``), a plan table segment, a
    ``SplitLayers``, or any object with ``device_layers`` and ``cut_layers`` attributes (the
    ``Split`` that ``SplitClient.split_for`` returns).
    """
    if isinstance(plan, SplitLayers):
        return plan
    if isinstance(plan, Mapping):
        if "device_layers" not in plan and isinstance(plan.get("data"), Mapping):
            plan = plan["data"]
        try:
            device, cut = plan["device_layers"], plan["cut_layers"]
        except KeyError as missing:
            raise ValueError(f"plan has no {missing} field (expected a plan, a webhook's data or a table segment)") from None
    else:
        try:
            device, cut = plan.device_layers, plan.cut_layers
        except AttributeError:
            raise ValueError(f"{type(plan).__name__} is not a plan: it has no device_layers and cut_layers") from None
    if isinstance(device, (str, bytes)) or isinstance(cut, (str, bytes)):
        raise ValueError("device_layers and cut_layers must be lists of layer names")
    device_layers, cut_layers = tuple(str(name) for name in device), tuple(str(name) for name in cut)
    if len(set(cut_layers)) != len(cut_layers):
        raise ValueError(f"cut_layers lists a layer twice: {list(cut_layers)}")
    return SplitLayers(device_layers, cut_layers)
