"""When a device leaves its split for a better one: ``SwitchingPolicy`` of ``Sources/SplitCore/Policy/``.

Two rules, selected by the ``rule`` field of the daemon's ``switching`` block:

- ``payback`` (``PaybackRule``, the daemon's default): per segment ``i`` of the plan table keep
  ``accrued[i]``, the training seconds it would have saved since it became better than the split
  in use. After ``dt`` seconds of training with the current split taking ``c`` s per iteration and
  segment ``i`` taking ``d_i`` (at the rates that held)::

      accrued[i] = max(0, accrued[i] + dt * (c - d_i - g*c) / c)

  Move once some segment is better now by more than the allowance (``d_i < (1 - g) * c``) and
  ``accrued[i] >= theta * migration_i``, to the fastest such segment; every accrued saving restarts
  at 0 after a move (and whenever the table changes).
- ``horizon`` (``SwitchingRule``, the first rule): move to the table's segment for the rates when
  ``horizon_iterations * saving > migration`` and the saving is at least ``g * c``; no state.

Either way a split that cannot run (``c`` not finite: a new model version, a split the table
cannot price) is left at once for the table's segment, whatever the cost. Every decision is a
``SwitchDecision`` with its reason. ``Tests/Fixtures/payback_cases.json`` and
``python/tests/switching_cases.json`` hold cases the Swift and Python suites both check.
"""

import math
import numbers
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from .estimator import ConfigurationError, LinkEstimate, LinkEstimator, require_number

DEFAULT_HORIZON_ITERATIONS = 1
"""The Swift default (``SwitchingRule.defaultHorizonIterations``)."""

DEFAULT_PAYBACK_FACTOR = 1.0
"""The Swift default (``PaybackRule.defaultPaybackFactor``): move when the savings equal the migration."""

# SwitchDecision.Reason raw values (what the daemon records).
FIRST_PLAN = "first plan"
INVALIDATED = "invalidated"
PAID_FOR = "paid for"
BEST = "best"
BELOW_MINIMUM_GAIN = "below minimum gain"
NOT_YET_PAID_FOR = "not yet paid for"
HORIZON_TOO_SHORT = "horizon too short"
REASONS = (FIRST_PLAN, INVALIDATED, PAID_FOR, BEST, BELOW_MINIMUM_GAIN, NOT_YET_PAID_FOR, HORIZON_TOO_SHORT)


def _check_gain(gain: float, field: str = "minimum_relative_gain") -> float:
    if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not 0 <= gain < 1:
        raise ConfigurationError(field, f"must be a number in [0, 1), got {gain!r}")
    return float(gain)


class SwitchingRule:
    """The horizon rule: when to leave the current split for the table's.

    Switch if the current split is invalidated (or its delay is not finite); otherwise only if
    the saving per iteration ``current - candidate`` is positive, at least
    ``minimum_relative_gain * current``, and ``horizon_iterations * saving > migration_seconds``.
    """

    name = "horizon"

    def __init__(self, horizon_iterations: int = DEFAULT_HORIZON_ITERATIONS, minimum_relative_gain: float = 0.0):
        if isinstance(horizon_iterations, bool) or not isinstance(horizon_iterations, numbers.Integral) or horizon_iterations < 0:
            raise ConfigurationError("horizon_iterations", f"must be an integer >= 0 iterations, got {horizon_iterations!r}")
        self.horizon_iterations = int(horizon_iterations)
        self.minimum_relative_gain = _check_gain(minimum_relative_gain)

    def should_switch(self, current_seconds: float, candidate_seconds: float, migration_seconds: float,
                      current_invalidated: bool = False) -> bool:
        """Whether to move from the current split to the candidate, the move taking ``migration_seconds``."""
        if current_invalidated or not math.isfinite(current_seconds):
            return True
        saving = current_seconds - candidate_seconds
        if not (saving > 0 and saving >= self.minimum_relative_gain * current_seconds):
            return False
        return self.horizon_iterations * saving > migration_seconds

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SwitchingRule) and \
            (self.horizon_iterations, self.minimum_relative_gain) == (other.horizon_iterations, other.minimum_relative_gain)

    def __repr__(self) -> str:
        return f"SwitchingRule(horizon_iterations={self.horizon_iterations}, minimum_relative_gain={self.minimum_relative_gain})"


class PaybackRule:
    """The rent-or-buy rule: move once the savings a better split would have earned since it became
    better reach ``payback_factor`` (theta) x the migration seconds; ``minimum_relative_gain`` (g)
    is the CUSUM's allowance."""

    name = "payback"

    def __init__(self, payback_factor: float = DEFAULT_PAYBACK_FACTOR, minimum_relative_gain: float = 0.0):
        if isinstance(payback_factor, bool) or not isinstance(payback_factor, (int, float)) \
                or not math.isfinite(payback_factor) or payback_factor < 0:
            raise ConfigurationError("payback_factor", f"must be a number >= 0, got {payback_factor!r}")
        self.payback_factor = float(payback_factor)
        self.minimum_relative_gain = _check_gain(minimum_relative_gain)

    def saving_rate(self, current_seconds: float, candidate_seconds: float) -> float:
        """Seconds saved per second of training, ``(c - d - g*c) / c`` (0 when ``c`` is not a positive
        finite number or ``d`` is not finite)."""
        if not (math.isfinite(current_seconds) and current_seconds > 0 and math.isfinite(candidate_seconds)):
            return 0.0
        return (current_seconds - candidate_seconds - self.minimum_relative_gain * current_seconds) / current_seconds

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PaybackRule) and \
            (self.payback_factor, self.minimum_relative_gain) == (other.payback_factor, other.minimum_relative_gain)

    def __repr__(self) -> str:
        return f"PaybackRule(payback_factor={self.payback_factor}, minimum_relative_gain={self.minimum_relative_gain})"


class SwitchingState:
    """Per table segment, the training seconds it would have saved (the payback rule's CUSUM)."""

    def __init__(self, segments: int = 0, accrued_saving_seconds: Optional[Sequence[float]] = None):
        self.accrued_saving_seconds: List[float] = \
            [float(value) for value in accrued_saving_seconds] if accrued_saving_seconds is not None else [0.0] * max(0, segments)

    def reset(self, segments: int) -> None:
        """Restarts every accrued saving at 0 for a table of ``segments`` segments."""
        self.accrued_saving_seconds = [0.0] * max(0, segments)

    def __repr__(self) -> str:
        return f"SwitchingState({self.accrued_saving_seconds})"


class SwitchDecision:
    """What the rule decided at one moment, and why (``SwitchDecision`` in Swift).

    ``target``: the segment to run next (None: stay); ``reason``: one of ``REASONS``;
    ``candidate``: the segment moved to or refused; ``current_seconds`` / ``candidate_seconds``:
    predicted delays per iteration at the rates; ``migration_seconds``: moving to the candidate;
    ``accrued_saving_seconds`` / ``required_saving_seconds``: what the payback rule has and asks for;
    ``revisit_after_seconds``: while a better split accrues, the seconds of training until it
    would pay for the move at these rates (payback only, else None).
    """

    __slots__ = ("target", "reason", "candidate", "current_seconds", "candidate_seconds", "migration_seconds",
                 "accrued_saving_seconds", "required_saving_seconds", "revisit_after_seconds")

    def __init__(self, target: Optional[int], reason: str, candidate: int, current_seconds: float, candidate_seconds: float,
                 migration_seconds: float, accrued_saving_seconds: float = 0.0, required_saving_seconds: float = 0.0,
                 revisit_after_seconds: Optional[float] = None):
        self.target = target
        self.reason = reason
        self.candidate = candidate
        self.current_seconds = current_seconds
        self.candidate_seconds = candidate_seconds
        self.migration_seconds = migration_seconds
        self.accrued_saving_seconds = accrued_saving_seconds
        self.required_saving_seconds = required_saving_seconds
        self.revisit_after_seconds = revisit_after_seconds

    @property
    def moves(self) -> bool:
        return self.target is not None

    @property
    def saving_seconds_per_iteration(self) -> float:
        return self.current_seconds - self.candidate_seconds

    @property
    def is_refusal(self) -> bool:
        """Whether a better split was refused (what the daemon records as a refused move)."""
        return self.target is None and self.reason != BEST

    def __repr__(self) -> str:
        return (f"SwitchDecision(target={self.target}, reason={self.reason!r}, candidate={self.candidate}, "
                f"accrued={self.accrued_saving_seconds:.6g} s of {self.required_saving_seconds:.6g} s, "
                f"revisit_after={self.revisit_after_seconds})")


class SwitchingPolicy:
    """Which rule decides: ``SwitchingPolicy(PaybackRule(...))`` or ``SwitchingPolicy(SwitchingRule(...))``."""

    def __init__(self, rule: Union[PaybackRule, SwitchingRule, None] = None):
        rule = PaybackRule() if rule is None else rule
        if not isinstance(rule, (PaybackRule, SwitchingRule)):
            raise TypeError(f"rule must be a PaybackRule or a SwitchingRule, got {rule!r}")
        self.rule = rule

    @classmethod
    def payback(cls, payback_factor: float = DEFAULT_PAYBACK_FACTOR, minimum_relative_gain: float = 0.0) -> "SwitchingPolicy":
        return cls(PaybackRule(payback_factor, minimum_relative_gain))

    @classmethod
    def horizon(cls, horizon_iterations: int = DEFAULT_HORIZON_ITERATIONS, minimum_relative_gain: float = 0.0) -> "SwitchingPolicy":
        return cls(SwitchingRule(horizon_iterations, minimum_relative_gain))

    @property
    def name(self) -> str:
        """``payback`` or ``horizon``."""
        return self.rule.name

    @property
    def minimum_relative_gain(self) -> float:
        return self.rule.minimum_relative_gain

    @classmethod
    def from_json(cls, document: Mapping[str, Any], prefix: str = "") -> "SwitchingPolicy":
        """``{"rule": "payback", "payback_factor": 1, "minimum_relative_gain": 0}`` or
        ``{"rule": "horizon", "horizon_iterations": 1000, "minimum_relative_gain": 0.05}``. Unlike the
        Swift decoder nothing defaults: a missing or bad field, or an unknown rule, raises
        ConfigurationError naming ``prefix + field``."""
        if not isinstance(document, Mapping):
            raise ConfigurationError(prefix.rstrip(".") or "switching", f"must be an object, got {document!r}")
        if "rule" not in document:
            raise ConfigurationError(prefix + "rule", "missing")
        rule = document["rule"]
        if rule not in ("payback", "horizon"):
            raise ConfigurationError(prefix + "rule", f"unknown rule {rule!r}; expected payback or horizon")
        gain = require_number(document, "minimum_relative_gain", prefix)
        try:
            if rule == "payback":
                return cls(PaybackRule(require_number(document, "payback_factor", prefix), gain))
            if "horizon_iterations" not in document:
                raise ConfigurationError(prefix + "horizon_iterations", "missing")
            horizon = document["horizon_iterations"]
            if isinstance(horizon, float) and horizon.is_integer():
                horizon = int(horizon)
            return cls(SwitchingRule(horizon, gain))
        except ConfigurationError as error:
            if error.field.startswith(prefix):
                raise
            # The rules' own checks name the bare field.
            raise ConfigurationError(prefix + error.field, str(error).split(": ", 1)[1]) from None

    def to_json(self) -> Dict[str, Any]:
        if isinstance(self.rule, PaybackRule):
            return {"rule": "payback", "payback_factor": self.rule.payback_factor,
                    "minimum_relative_gain": self.rule.minimum_relative_gain}
        return {"rule": "horizon", "horizon_iterations": self.rule.horizon_iterations,
                "minimum_relative_gain": self.rule.minimum_relative_gain}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SwitchingPolicy) and self.rule == other.rule

    def __repr__(self) -> str:
        return f"SwitchingPolicy({self.rule!r})"

    def accrue(self, state: SwitchingState, elapsed_seconds: float, current_seconds: float,
               segment_seconds: Sequence[float]) -> None:
        """Folds ``elapsed_seconds`` of training with the current split into ``state``: at the rates
        that held, the current split took ``current_seconds`` per iteration and segment ``i``
        ``segment_seconds[i]``. The horizon rule keeps no state; a state sized for another table restarts."""
        if not isinstance(self.rule, PaybackRule):
            return
        if len(state.accrued_saving_seconds) != len(segment_seconds):
            state.reset(len(segment_seconds))
        if not (elapsed_seconds > 0 and math.isfinite(elapsed_seconds)):
            return
        for index, candidate in enumerate(segment_seconds):
            rate = self.rule.saving_rate(current_seconds, candidate)
            state.accrued_saving_seconds[index] = max(0.0, state.accrued_saving_seconds[index] + elapsed_seconds * rate)

    def decide(self, state: SwitchingState, current: Optional[int], current_seconds: float, segment_seconds: Sequence[float],
               migration_seconds: Sequence[float], best: int) -> SwitchDecision:
        """The decision for a device running segment ``current`` (None: none of the table's) at
        ``current_seconds`` per iteration, given each segment's delay and migration seconds at the
        same rates, the table's segment ``best`` for them and the accrued ``state``."""

        def decision(target: Optional[int], reason: str, candidate: int, accrued: float = 0.0, required: float = 0.0,
                     revisit: Optional[float] = None) -> SwitchDecision:
            return SwitchDecision(target, reason, candidate, current_seconds, segment_seconds[candidate],
                                  migration_seconds[candidate], accrued, required, revisit)

        if not math.isfinite(current_seconds):
            return decision(best, INVALIDATED, best)
        best_saving = current_seconds - segment_seconds[best]
        rule = self.rule
        if isinstance(rule, SwitchingRule):
            if best == current or not best_saving > 0:
                return decision(None, BEST, best, required=migration_seconds[best])
            if best_saving < rule.minimum_relative_gain * current_seconds:
                return decision(None, BELOW_MINIMUM_GAIN, best, required=migration_seconds[best])
            moves = rule.should_switch(current_seconds, segment_seconds[best], migration_seconds[best])
            return decision(best if moves else None, PAID_FOR if moves else HORIZON_TOO_SHORT, best,
                            required=migration_seconds[best])
        accrued = list(state.accrued_saving_seconds) if len(state.accrued_saving_seconds) == len(segment_seconds) \
            else [0.0] * len(segment_seconds)
        chosen: Optional[int] = None
        for index in range(len(segment_seconds)):
            if index == current:
                continue
            if not (rule.saving_rate(current_seconds, segment_seconds[index]) > 0
                    and accrued[index] >= rule.payback_factor * migration_seconds[index]):
                continue
            if chosen is not None and segment_seconds[chosen] <= segment_seconds[index]:
                continue
            chosen = index
        if chosen is not None:
            return decision(chosen, PAID_FOR, chosen, accrued[chosen], rule.payback_factor * migration_seconds[chosen])
        required = rule.payback_factor * migration_seconds[best]
        if best == current or not best_saving > 0:
            return decision(None, BEST, best, accrued[best], required)
        rate = rule.saving_rate(current_seconds, segment_seconds[best])
        if not rate > 0:
            return decision(None, BELOW_MINIMUM_GAIN, best, accrued[best], required)
        return decision(None, NOT_YET_PAID_FOR, best, accrued[best], required, max(0.0, required - accrued[best]) / rate)


def segment_seconds(table: Any, uplink_bps: float, downlink_bps: float, rtt_seconds: float = 0.0) -> List[float]:
    """Every segment's predicted delay per iteration at these rates (plus ``rtt_seconds``)."""
    return [segment.delay_seconds(uplink_bps, downlink_bps, rtt_seconds) for segment in table.segments]


def decide_on_device(policy: SwitchingPolicy, table: Any, current: Optional[int], elapsed_seconds: float,
                     estimate: LinkEstimate, state: SwitchingState,
                     migration_seconds: Callable[[int, float, float], float],
                     current_invalidated: bool = False) -> SwitchDecision:
    """What a device holding its table does at the end of each iteration
    (``DevicePlanningSettings.decideOnDevice``): fold the ``elapsed_seconds`` it trained with segment
    ``current`` (at the rates of ``estimate``) into ``state``, then decide at the same rates; a move
    restarts ``state``. Delays are ``fixed + 8 * transfer * (1/up + 1/down) + rtt`` at the
    estimate's planning rates and rtt; the move to segment ``to`` is priced by
    ``migration_seconds(to, uplink_bps, downlink_bps)`` (0 for ``current`` itself).

    Beyond the Swift function: ``current`` may be None (a split none of the table's segments) and
    ``current_invalidated`` True (a new model version); either makes the current delay infinite,
    so nothing accrues and the device leaves for the table's segment whatever the cost."""
    up, down = LinkEstimator.planning_rates(estimate)
    seconds = segment_seconds(table, up, down, estimate.rtt_seconds)
    current_seconds = math.inf if current is None or current_invalidated else seconds[current]
    policy.accrue(state, elapsed_seconds, current_seconds, seconds)
    best = table.segment_index(table.effective_bps(up, down))
    migrations = [0.0 if index == current else migration_seconds(index, up, down) for index in range(len(seconds))]
    decision = policy.decide(state, current, current_seconds, seconds, migrations, best)
    if decision.moves:
        state.reset(len(seconds))
    return decision
