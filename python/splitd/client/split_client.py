"""SplitClient: keeps the newest plan table from verified webhooks and picks each iteration's split.

splitd pushes a ``split_plan.updated`` webhook whose ``data`` carries, next to the current split,
the plan table it came from and how the daemon decides (``switching``: the rule, payback or
horizon, with its parameters, the link estimator, and the device's optimizer with the bytes a
migration moves per parameter byte), so the device decides exactly as the daemon's SplitCore
would (``DevicePlanningSettings.decideOnDevice``):

- every measurement of the link (``observe``, or the rates given to ``split_for``) is folded into
  the device's estimate by the daemon's ``LinkEstimator``;
- at the end of every training iteration (``decide``, or ``split_for``) the training time since
  the previous decision, with the split in use, accrues into the switching state at the estimate's
  rates, and the rule decides at the same rates: move, or stay and why (``SwitchDecision``).

A ``split_plan.infeasible`` notice (no split of the model fits the device's memory) ends the
plan: ``infeasible`` says what memory the smallest split needs, and ``split_for`` answers None
until a newer plan arrives.
"""

import json
import math
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

from .estimator import ConfigurationError, LinkEstimate, LinkEstimator, TelemetrySample, require_number, require_object
from .signature import DEFAULT_REPLAY_WINDOW_SECONDS, SignatureError, secret_key, verify
from .switching import PaybackRule, SwitchDecision, SwitchingPolicy, SwitchingRule, SwitchingState, decide_on_device
from .table import MIGRATION_BYTES_PER_PARAMETER_BYTE, PlanTable


class Split:
    """The answer of ``split_for`` / ``decide``: the split to train with, whether layers must move
    first, and the rule's ``decision`` (its ``reason``, savings accrued and required, ...)."""

    def __init__(self, device_layers: List[str], cut_layers: List[str], segment: Optional[int], moved: bool,
                 migration_seconds: float, decision: Optional[SwitchDecision] = None):
        self.device_layers = device_layers
        self.cut_layers = cut_layers
        self.segment = segment
        self.moved = moved
        self.migration_seconds = migration_seconds
        self.decision = decision

    @property
    def reason(self) -> Optional[str]:
        """The decision's reason (``paid for``, ``not yet paid for``, ``best``, ...), None without one."""
        return None if self.decision is None else self.decision.reason

    def __repr__(self) -> str:
        return (f"Split(segment={self.segment}, cut={self.cut_layers}, moved={self.moved}, "
                f"migration={self.migration_seconds:.3f} s, reason={self.reason!r})")


class Switching:
    """The ``switching`` block of a ``split_plan.updated`` payload, parsed (``Switching`` in
    ``Sources/SplitServer/Delivery/WebhookPayload.swift``)::

        {"rule": "payback", "payback_factor": 1.0, "minimum_relative_gain": 0.0,
         "estimator": {"mean": "arithmetic", "time_constant_seconds": 10.0},
         "optimizer": "adam", "migration_bytes_per_parameter_byte": 3.0}

    (``"rule": "horizon"`` carries ``horizon_iterations`` instead of ``payback_factor``). Every
    field is required: ``from_json`` raises ``ConfigurationError`` naming the first one missing or
    invalid (``switching.estimator.time_constant_seconds``), and an unknown rule.
    """

    def __init__(self, policy: SwitchingPolicy, estimator: LinkEstimator, optimizer: str, migration_bytes_per_parameter_byte: float):
        self.policy = policy
        self.estimator = estimator
        self.optimizer = optimizer
        self.migration_bytes_per_parameter_byte = migration_bytes_per_parameter_byte

    @classmethod
    def from_json(cls, document: Any, prefix: str = "switching.") -> "Switching":
        if not isinstance(document, Mapping):
            raise ConfigurationError(prefix.rstrip("."), f"must be an object, got {document!r}")
        policy = SwitchingPolicy.from_json(document, prefix)
        estimator = LinkEstimator.from_json(require_object(document, "estimator", prefix), prefix + "estimator.")
        if "optimizer" not in document:
            raise ConfigurationError(prefix + "optimizer", "missing")
        optimizer = document["optimizer"]
        if not isinstance(optimizer, str) or not optimizer:
            raise ConfigurationError(prefix + "optimizer", f"must be an optimizer name, got {optimizer!r}")
        factor = require_number(document, "migration_bytes_per_parameter_byte", prefix)
        if factor < 0:
            raise ConfigurationError(prefix + "migration_bytes_per_parameter_byte", f"must be a number >= 0, got {factor!r}")
        return cls(policy, estimator, optimizer, factor)

    def to_json(self) -> Dict[str, Any]:
        return dict(self.policy.to_json(), estimator=self.estimator.to_json(), optimizer=self.optimizer,
                    migration_bytes_per_parameter_byte=self.migration_bytes_per_parameter_byte)


class Infeasible:
    """A ``split_plan.infeasible`` notice: no split of ``model`` fits the device's memory; the smallest
    valid split needs ``required_device_memory_bytes`` (the device reported ``device_memory_limit_bytes``)."""

    def __init__(self, data: Mapping[str, Any]):
        self.sequence = int(data["sequence"])
        if "required_device_memory_bytes" not in data:
            raise ConfigurationError("required_device_memory_bytes", "missing")
        required = data["required_device_memory_bytes"]
        if isinstance(required, bool) or not isinstance(required, (int, float)) or not math.isfinite(required):
            raise ConfigurationError("required_device_memory_bytes", f"must be a number of bytes, got {required!r}")
        self.required_device_memory_bytes = int(required)
        limit = data.get("device_memory_limit_bytes")
        self.device_memory_limit_bytes = None if limit is None else int(limit)
        self.model = data.get("model")
        self.model_version = data.get("model_version")
        self.reason = data.get("reason", "device_memory")
        self.detail = str(data.get("detail", ""))

    def __repr__(self) -> str:
        return (f"Infeasible(model={self.model!r}, required_device_memory_bytes={self.required_device_memory_bytes}, "
                f"device_memory_limit_bytes={self.device_memory_limit_bytes})")


RuleArgument = Union[SwitchingPolicy, PaybackRule, SwitchingRule, None]


class SplitClient:
    """Keeps the latest plan table from verified webhooks and picks the split for each iteration.

    ``optimizer``, ``rule`` (a ``SwitchingPolicy``, ``PaybackRule`` or ``SwitchingRule``; default the
    payback rule with theta = 1, no minimum gain) and ``estimator`` (default arithmetic, tau = 10 s)
    are used until a payload carries the daemon's ``switching`` block, which then replaces them.
    ``clock`` (seconds, monotonic) measures the training time between decisions when the caller
    does not give it.
    """

    def __init__(self, secret: str, device: Optional[str] = None, optimizer: str = "momentum",
                 rule: RuleArgument = None, replay_window_seconds: float = DEFAULT_REPLAY_WINDOW_SECONDS,
                 estimator: Optional[LinkEstimator] = None, clock: Callable[[], float] = time.monotonic):
        if optimizer not in MIGRATION_BYTES_PER_PARAMETER_BYTE:
            raise ValueError(f"optimizer must be one of {sorted(MIGRATION_BYTES_PER_PARAMETER_BYTE)}")
        try:
            secret_key(secret)
        except ValueError:
            raise ValueError("secret must be whsec_ followed by base64") from None
        self.secret = secret
        self.device = device
        self.optimizer = optimizer
        self.factor = MIGRATION_BYTES_PER_PARAMETER_BYTE[optimizer]
        self.policy = rule if isinstance(rule, SwitchingPolicy) else SwitchingPolicy(rule)
        self.estimator = estimator or LinkEstimator()
        self.replay_window_seconds = replay_window_seconds
        self.table: Optional[PlanTable] = None
        self.sequence: Optional[int] = None
        self.model: Optional[Tuple[Any, Any]] = None
        # The device's link estimate (None before its first measurement).
        self.estimate: Optional[LinkEstimate] = None
        # The payback rule's accrued savings per segment of `table`; restarted by a move and a new table.
        self.switching_state = SwitchingState(0)
        # The latest decision, and the latest split_plan.infeasible notice while it holds.
        self.last_decision: Optional[SwitchDecision] = None
        self.infeasible: Optional[Infeasible] = None
        self._clock = clock
        self._decided_at: Optional[float] = None
        self._table_document: Any = None
        self._lock = threading.RLock()
        self._seen: Dict[str, float] = {}  # webhook-id -> time accepted, pruned after the replay window
        # ((model, model_version), device_layers, cut_layers) the device runs.
        self._current: Optional[Tuple[Tuple[Any, Any], List[str], List[str]]] = None
        self._invalidated = False

    @property
    def rule(self):
        """The rule in force: a ``PaybackRule`` (``payback_factor``, ``minimum_relative_gain``) or a
        ``SwitchingRule`` (``horizon_iterations``, ``minimum_relative_gain``); ``policy.name`` says which."""
        return self.policy.rule

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
                kind = event.get("type")
                if kind not in ("split_plan.updated", "split_plan.infeasible"):
                    return 200, f"ignored event type {kind!r}"
                if self.device is not None and data.get("device") != self.device:
                    return 200, f"ignored plan for device {data.get('device')!r}"
                if kind == "split_plan.infeasible":
                    notice = Infeasible(data)
                    sequence = notice.sequence
                else:
                    sequence = int(data["sequence"])
                    table = PlanTable(data["table"])
                    model = (data.get("model"), data.get("model_version"))
                    switching = None if data.get("switching") is None else Switching.from_json(data["switching"])
            except ConfigurationError as error:
                return 400, f"malformed payload: {error}"
            except (ValueError, KeyError, TypeError) as error:
                return 400, f"malformed payload: {error!r}"
            self._seen[message_id] = now
            if self.sequence is not None and sequence <= self.sequence:
                return 200, f"stale sequence {sequence} (have {self.sequence})"
            self.sequence = sequence
            if kind == "split_plan.infeasible":
                # The plan in force ended: no split runs until a newer plan arrives.
                self.infeasible = notice
                self.table = None
                self._table_document = None
                self._current = None
                self._invalidated = False
                self.switching_state.reset(0)
                return 200, f"infeasible: no split fits; the smallest needs {notice.required_device_memory_bytes} bytes"
            self.infeasible = None
            if data["table"] != self._table_document:
                self.switching_state.reset(len(table.segments))
            self.table = table
            self._table_document = data["table"]
            if switching is not None:
                # The daemon sends how it decides, so the device decides as it does.
                self.policy, self.estimator = switching.policy, switching.estimator
                self.optimizer, self.factor = switching.optimizer, switching.migration_bytes_per_parameter_byte
            if self._current is None:
                # The daemon's current split is the one the device is expected to run.
                self._current = (model, list(data.get("device_layers", [])), list(data.get("cut_layers", [])))
            elif self._current[0] != model:
                self._invalidated = True
            self.model = model
            return 200, "applied"

    def observe(self, uplink_bps: float, downlink_bps: float, rtt_seconds: Optional[float] = None,
                measured_at: Optional[float] = None, compute_flops: Optional[float] = None,
                memory_bytes: Optional[float] = None) -> LinkEstimate:
        """Folds one measurement of the link into the estimate with the daemon's estimator and
        returns the estimate (a copy). ``measured_at``: seconds on one clock for all measurements
        (default ``time.time()``); a measurement not newer than the estimate is not folded in.
        ``rtt_seconds`` defaults to the estimate's (0 before any)."""
        with self._lock:
            if rtt_seconds is None:
                rtt_seconds = self.estimate.rtt_seconds if self.estimate is not None else 0.0
            sample = TelemetrySample(time.time() if measured_at is None else measured_at, uplink_bps, downlink_bps,
                                     rtt_seconds, compute_flops, memory_bytes)
            self.estimate = self.estimator.fold(sample, self.estimate)
            return self.estimate.copy()

    def decide(self, elapsed_seconds: Optional[float] = None) -> Optional[Split]:
        """The split to train the next iteration with, decided at the current estimate: the
        ``elapsed_seconds`` trained with the split in use since the previous decision accrue into the
        switching state, then the rule decides (``decideOnDevice``). ``elapsed_seconds`` defaults to
        the client's clock since its previous decision (0 for the first): pass the iteration's
        measured duration to exclude anything else. None before a table and a measurement, and
        while the device is infeasible."""
        with self._lock:
            if self.table is None or self._current is None or self.estimate is None:
                return None
            now = self._clock()
            if elapsed_seconds is None:
                elapsed_seconds = 0.0 if self._decided_at is None else max(0.0, now - self._decided_at)
            self._decided_at = now
            table, factor = self.table, self.factor
            _, layers, cut = self._current

            def migration(to: int, uplink_bps: float, downlink_bps: float) -> float:
                return table.migration_seconds(layers, table.segments[to].device_layers, factor, uplink_bps, downlink_bps)

            current = table.index_of_split(layers)
            decision = decide_on_device(self.policy, table, current, elapsed_seconds, self.estimate, self.switching_state,
                                        migration, current_invalidated=self._invalidated)
            self.last_decision = decision
            if decision.target is None:
                return Split(layers, cut, current, False, 0.0, decision)
            target = table.segments[decision.target]
            assert self.model is not None
            self._current = (self.model, target.device_layers, target.cut_layers)
            self._invalidated = False
            moved = set(layers) != set(target.device_layers)
            return Split(target.device_layers, target.cut_layers, decision.target, moved,
                         decision.migration_seconds if moved else 0.0, decision)

    def split_for(self, uplink_bps: float, downlink_bps: float, elapsed_seconds: Optional[float] = None,
                  rtt_seconds: Optional[float] = None, measured_at: Optional[float] = None) -> Optional[Split]:
        """``observe(uplink_bps, downlink_bps, rtt_seconds, measured_at)`` then ``decide(elapsed_seconds)``:
        call it once per training iteration with the link measured; None before any table."""
        with self._lock:
            self.observe(uplink_bps, downlink_bps, rtt_seconds, measured_at)
            return self.decide(elapsed_seconds)
