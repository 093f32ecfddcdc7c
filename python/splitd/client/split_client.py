"""SplitClient: keeps the newest plan table from verified webhooks and picks each iteration's split.

splitd pushes a ``split_plan.updated`` webhook whose ``data`` carries, next to the current split,
the plan table it came from and the switching rule the daemon applies (``switching``: the
daemon's ``SPLITD_SWITCH_HORIZON`` and ``SPLITD_MIN_GAIN`` and the device's optimizer), so the
device decides exactly as the daemon records. ``split_for(uplink_bps, downlink_bps)`` answers
with no round trip.
"""

import json
import math
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .signature import DEFAULT_REPLAY_WINDOW_SECONDS, SignatureError, secret_key, verify
from .table import MIGRATION_BYTES_PER_PARAMETER_BYTE, PlanTable, SwitchingRule


class Split:
    """The answer of ``split_for``: the split to train with, and whether layers must move first."""

    def __init__(self, device_layers: List[str], cut_layers: List[str], segment: Optional[int], moved: bool,
                 migration_seconds: float):
        self.device_layers = device_layers
        self.cut_layers = cut_layers
        self.segment = segment
        self.moved = moved
        self.migration_seconds = migration_seconds

    def __repr__(self) -> str:
        return (f"Split(segment={self.segment}, cut={self.cut_layers}, moved={self.moved}, "
                f"migration={self.migration_seconds:.3f} s)")


class SplitClient:
    """Keeps the latest plan table from verified webhooks and picks the split for each iteration."""

    def __init__(self, secret: str, device: Optional[str] = None, optimizer: str = "momentum",
                 rule: Optional[SwitchingRule] = None, replay_window_seconds: float = DEFAULT_REPLAY_WINDOW_SECONDS):
        if optimizer not in MIGRATION_BYTES_PER_PARAMETER_BYTE:
            raise ValueError(f"optimizer must be one of {sorted(MIGRATION_BYTES_PER_PARAMETER_BYTE)}")
        try:
            secret_key(secret)
        except ValueError:
            raise ValueError("secret must be whsec_ followed by base64") from None
        self.secret = secret
        self.device = device
        self.factor = MIGRATION_BYTES_PER_PARAMETER_BYTE[optimizer]
        self.rule = rule or SwitchingRule()
        self.replay_window_seconds = replay_window_seconds
        self.table: Optional[PlanTable] = None
        self.sequence: Optional[int] = None
        self.model: Optional[Tuple[Any, Any]] = None
        self._lock = threading.Lock()
        self._seen: Dict[str, float] = {}  # webhook-id -> time accepted, pruned after the replay window
        # ((model, model_version), device_layers, cut_layers) the device runs.
        self._current: Optional[Tuple[Tuple[Any, Any], List[str], List[str]]] = None
        self._invalidated = False

    def handle_webhook(self, headers: Mapping[str, str], body: bytes, now: Optional[float] = None) -> Tuple[int, str]:
        """Verifies and applies one delivery; returns (HTTP status, reason)."""
        now = time.time() if now is None else now
        try:
            message_id = verify(self.secret, headers, body, now, self.replay_window_seconds)
        except SignatureError as error:
            return 401, str(error)
        with self._lock:
            self._seen = {key: seen for key, seen in self._seen.items() if now - seen <= self.replay_window_seconds}
            if message_id in self._seen:
                return 200, "duplicate delivery"
            try:
                event = json.loads(body)
                data = event["data"]
                if event.get("type") != "split_plan.updated":
                    return 200, f"ignored event type {event.get('type')!r}"
                if self.device is not None and data.get("device") != self.device:
                    return 200, f"ignored plan for device {data.get('device')!r}"
                sequence = int(data["sequence"])
                table = PlanTable(data["table"])
                model = (data.get("model"), data.get("model_version"))
                switching = data.get("switching")
                rule, factor = self.rule, self.factor
                if switching is not None:
                    # The daemon sends the rule it applies, so the device decides as it does.
                    rule = SwitchingRule(int(switching["horizon_iterations"]), float(switching["minimum_relative_gain"]))
                    factor = float(switching["migration_bytes_per_parameter_byte"])
            except (ValueError, KeyError, TypeError) as error:
                return 400, f"malformed payload: {error!r}"
            self._seen[message_id] = now
            if self.sequence is not None and sequence <= self.sequence:
                return 200, f"stale sequence {sequence} (have {self.sequence})"
            self.sequence = sequence
            self.table = table
            self.rule, self.factor = rule, factor
            if self._current is None:
                # The daemon's current split is the one the device is expected to run.
                self._current = (model, list(data.get("device_layers", [])), list(data.get("cut_layers", [])))
            elif self._current[0] != model:
                self._invalidated = True
            self.model = model
            return 200, "applied"

    def split_for(self, uplink_bps: float, downlink_bps: float) -> Optional[Split]:
        """The split to train the next iteration with at these rates (bit/s), or None before any table."""
        with self._lock:
            if self.table is None or self._current is None:
                return None
            table = self.table
            candidate = table.segment_index(PlanTable.effective_bps(uplink_bps, downlink_bps))
            target = table.segments[candidate]
            _, layers, cut = self._current
            current = table.index_of_split(layers)
            if current == candidate and not self._invalidated:
                return Split(layers, cut, candidate, False, 0.0)
            migration = table.migration_seconds(layers, target.device_layers, self.factor, uplink_bps, downlink_bps)
            invalidated = self._invalidated or current is None
            current_seconds = math.inf if current is None else table.segments[current].delay_seconds(uplink_bps, downlink_bps)
            if not self.rule.should_switch(current_seconds, target.delay_seconds(uplink_bps, downlink_bps), migration, invalidated):
                return Split(layers, cut, current, False, 0.0)
            assert self.model is not None
            self._current = (self.model, target.device_layers, target.cut_layers)
            self._invalidated = False
            moved = set(layers) != set(target.device_layers)
            return Split(target.device_layers, target.cut_layers, candidate, moved, migration if moved else 0.0)
