"""Plan tables (``splitctl table --format json``, the ``table`` of a ``split_plan.updated`` webhook)
and migration pricing.

The switching rules that move between a table's segments are in ``switching.py``
(``SwitchingRule``, the horizon rule, is re-exported here for older imports).
"""

from typing import Any, Dict, List, Mapping, Optional, Sequence

from .switching import DEFAULT_HORIZON_ITERATIONS, SwitchingRule

__all__ = ["MIGRATION_BYTES_PER_PARAMETER_BYTE", "DEFAULT_HORIZON_ITERATIONS", "SwitchingRule", "Segment", "PlanTable"]

MIGRATION_BYTES_PER_PARAMETER_BYTE = {"sgd": 1.0, "momentum": 2.0, "adam": 3.0}
"""Bytes moved per parameter byte of a layer changing sides (weights plus optimizer state)."""


class Segment:
    """One range of effective rates ``[min_effective_bps, max_effective_bps)`` and its split."""

    def __init__(self, data: Mapping[str, Any]):
        self.min_effective_bps = float(data["min_effective_bps"])
        self.max_effective_bps = None if data["max_effective_bps"] is None else float(data["max_effective_bps"])
        self.device_layers: List[str] = list(data["device_layers"])
        self.cut_layers: List[str] = list(data["cut_layers"])
        self.transfer_bytes = float(data["transfer_bytes"])
        self.fixed_seconds = float(data["fixed_seconds"])

    def delay_seconds(self, uplink_bps: float, downlink_bps: float, rtt_seconds: float = 0.0) -> float:
        """Predicted seconds of one iteration: ``fixed + transfer_bytes * 8 * (1/up + 1/down) + rtt``
        (``SplitCost.delaySeconds``, in its order of operations)."""
        return self.fixed_seconds + self.transfer_bytes * (8 * (1 / uplink_bps + 1 / downlink_bps)) + rtt_seconds


class PlanTable:
    """A plan table as ``splitctl table --format json`` prints it."""

    def __init__(self, data: Mapping[str, Any]):
        self.segments = [Segment(segment) for segment in data["segments"]]
        if not self.segments or self.segments[0].min_effective_bps != 0 or self.segments[-1].max_effective_bps is not None:
            raise ValueError("table segments must cover (0, infinity)")
        self.parameter_bytes: Dict[str, float] = {name: float(value) for name, value in data.get("parameter_bytes", {}).items()}

    @staticmethod
    def effective_bps(uplink_bps: float, downlink_bps: float) -> float:
        """The effective rate ``R = 1/(1/uplink + 1/downlink)`` that indexes the table."""
        return 1 / (1 / uplink_bps + 1 / downlink_bps)

    def segment_index(self, effective_bps: float) -> int:
        """The segment with ``min <= R < max`` (a breakpoint belongs to the faster segment)."""
        low, high = 0, len(self.segments) - 1
        while low < high:
            middle = (low + high) // 2
            upper = self.segments[middle].max_effective_bps
            if upper is not None and effective_bps >= upper:
                low = middle + 1
            else:
                high = middle
        return low

    def index_of_split(self, device_layers: Sequence[str]) -> Optional[int]:
        """The segment running exactly ``device_layers``, or None."""
        wanted = set(device_layers)
        return next((i for i, segment in enumerate(self.segments) if set(segment.device_layers) == wanted), None)

    def migration_seconds(self, from_layers: Sequence[str], to_layers: Sequence[str], factor: float,
                          uplink_bps: float, downlink_bps: float) -> float:
        """Seconds to move from one device part to another (layers listed in topological order).

        Layers leaving the device send ``parameter_bytes * factor`` up the uplink, layers joining
        it receive them down the downlink; summed in the Swift code's order.
        """
        from_set, to_set = set(from_layers), set(to_layers)
        up = down = 0.0
        for name in from_layers:
            if name not in to_set:
                up += self.parameter_bytes.get(name, 0.0) * factor
        for name in to_layers:
            if name not in from_set:
                down += self.parameter_bytes.get(name, 0.0) * factor
        return (8 * up / uplink_bps if up > 0 else 0.0) + (8 * down / downlink_bps if down > 0 else 0.0)
