"""The link estimate a device decides at: ``LinkEstimator`` of ``Sources/SplitCore/Policy/LinkEstimator.swift``.

Measurements are folded one at a time into an exponentially weighted moving average over time.
For a sample ``s`` and an estimate ``e``:

1. no estimate yet: ``e = s`` (rates floored at ``MINIMUM_BPS`` when the mean is geometric);
2. ``s`` not newer than ``e.measured_at``: ``e`` unchanged (late samples are not folded in);
3. otherwise, with ``dt = s.measured_at - e.measured_at`` and ``w = 1 - exp(-dt / tau)``
   (``w = 1`` when ``tau <= 0``):

   - rates, ``arithmetic``: ``e + w * (s - e)``; ``geometric``: ``exp(log e + w * (log s - log e))``,
     both rates first floored at ``MINIMUM_BPS`` (an outage sample has no logarithm);
   - rtt: ``e + w * (s - e)``; compute: geometric as above, or ``s`` if the estimate has none;
     memory: ``s`` when the sample reports it;
   - ``samples + 1``, ``measured_at = s.measured_at``.

Decisions are made at ``planning_rates(e)``: the rates floored at ``MINIMUM_BPS`` (and at that
floor when not finite). ``Tests/Fixtures/estimator_cases.json`` holds cases the Swift and Python
suites both check.
"""

import math
from typing import Any, Dict, Mapping, Optional, Tuple

MINIMUM_BPS = 1.0
"""The lowest rate an estimate plans for, bit/s (``LinkEstimator.minimumBitsPerSecond``)."""

MEANS = ("arithmetic", "geometric")


class ConfigurationError(ValueError):
    """A switching or estimator setting that is missing or invalid; ``field`` names it (``switching.estimator.mean``)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def require_number(document: Mapping[str, Any], key: str, prefix: str) -> float:
    """``document[key]`` as a finite float, or ConfigurationError naming ``prefix + key``."""
    field = prefix + key
    if key not in document:
        raise ConfigurationError(field, "missing")
    value = document[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigurationError(field, f"must be a finite number, got {value!r}")
    return float(value)


def require_object(document: Mapping[str, Any], key: str, prefix: str) -> Mapping[str, Any]:
    """``document[key]`` as a JSON object, or ConfigurationError naming ``prefix + key``."""
    field = prefix + key
    if key not in document:
        raise ConfigurationError(field, "missing")
    value = document[key]
    if not isinstance(value, Mapping):
        raise ConfigurationError(field, f"must be an object, got {value!r}")
    return value


class TelemetrySample:
    """One measurement of the link (``measured_at`` in seconds, any epoch as long as it is one clock)."""

    __slots__ = ("measured_at", "uplink_bps", "downlink_bps", "rtt_seconds", "compute_flops", "memory_bytes")

    def __init__(self, measured_at: float, uplink_bps: float, downlink_bps: float, rtt_seconds: float = 0.0,
                 compute_flops: Optional[float] = None, memory_bytes: Optional[float] = None):
        self.measured_at = float(measured_at)
        self.uplink_bps = float(uplink_bps)
        self.downlink_bps = float(downlink_bps)
        self.rtt_seconds = float(rtt_seconds)
        self.compute_flops = None if compute_flops is None else float(compute_flops)
        self.memory_bytes = None if memory_bytes is None else float(memory_bytes)


class LinkEstimate:
    """The smoothed link (``LinkEstimate``): what decisions are made at."""

    __slots__ = ("uplink_bps", "downlink_bps", "rtt_seconds", "compute_flops", "memory_bytes", "samples", "measured_at")

    def __init__(self, uplink_bps: float, downlink_bps: float, rtt_seconds: float, compute_flops: Optional[float],
                 memory_bytes: Optional[float], samples: int, measured_at: float):
        self.uplink_bps = uplink_bps
        self.downlink_bps = downlink_bps
        self.rtt_seconds = rtt_seconds
        self.compute_flops = compute_flops
        self.memory_bytes = memory_bytes
        self.samples = samples
        self.measured_at = measured_at

    def copy(self) -> "LinkEstimate":
        return LinkEstimate(self.uplink_bps, self.downlink_bps, self.rtt_seconds, self.compute_flops, self.memory_bytes,
                            self.samples, self.measured_at)

    def __repr__(self) -> str:
        return (f"LinkEstimate(up={self.uplink_bps:.6g} bit/s, down={self.downlink_bps:.6g} bit/s, "
                f"rtt={self.rtt_seconds:.6g} s, samples={self.samples}, at={self.measured_at})")


class LinkEstimator:
    """How measurements become the estimate: ``mean`` (``arithmetic``, the default, or ``geometric``)
    with time constant ``time_constant_seconds`` (tau, default 10 s; 0: each sample replaces the estimate)."""

    RECOMMENDED_MEAN = "arithmetic"
    RECOMMENDED_TIME_CONSTANT_SECONDS = 10.0

    def __init__(self, mean: str = RECOMMENDED_MEAN, time_constant_seconds: float = RECOMMENDED_TIME_CONSTANT_SECONDS):
        if mean not in MEANS:
            raise ConfigurationError("mean", f"must be arithmetic or geometric, got {mean!r}")
        if isinstance(time_constant_seconds, bool) or not isinstance(time_constant_seconds, (int, float)) \
                or not math.isfinite(time_constant_seconds) or time_constant_seconds < 0:
            raise ConfigurationError("time_constant_seconds", f"must be a number of seconds >= 0, got {time_constant_seconds!r}")
        self.mean = mean
        self.time_constant_seconds = float(time_constant_seconds)

    @classmethod
    def from_json(cls, document: Mapping[str, Any], prefix: str = "") -> "LinkEstimator":
        """``{"mean": "arithmetic", "time_constant_seconds": 10}``; every field required
        (ConfigurationError naming ``prefix + field`` otherwise)."""
        if not isinstance(document, Mapping):
            raise ConfigurationError(prefix.rstrip(".") or "estimator", f"must be an object, got {document!r}")
        if "mean" not in document:
            raise ConfigurationError(prefix + "mean", "missing")
        mean = document["mean"]
        if mean not in MEANS:
            raise ConfigurationError(prefix + "mean", f"must be arithmetic or geometric, got {mean!r}")
        tau = require_number(document, "time_constant_seconds", prefix)
        if tau < 0:
            raise ConfigurationError(prefix + "time_constant_seconds", f"must be a number of seconds >= 0, got {tau!r}")
        return cls(mean, tau)

    def to_json(self) -> Dict[str, Any]:
        return {"mean": self.mean, "time_constant_seconds": self.time_constant_seconds}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LinkEstimator) and (self.mean, self.time_constant_seconds) == (other.mean, other.time_constant_seconds)

    def __repr__(self) -> str:
        return f"LinkEstimator(mean={self.mean!r}, time_constant_seconds={self.time_constant_seconds!r})"

    def weight(self, elapsed_seconds: float) -> float:
        """The weight ``1 - exp(-dt / tau)`` a sample ``elapsed_seconds`` after the estimate gets (1 when tau <= 0)."""
        return 1 - math.exp(-elapsed_seconds / self.time_constant_seconds) if self.time_constant_seconds > 0 else 1.0

    def fold(self, sample: TelemetrySample, estimate: Optional[LinkEstimate]) -> LinkEstimate:
        """The estimate after folding ``sample`` into ``estimate`` (or starting from it); ``estimate`` is not modified."""
        floor = MINIMUM_BPS
        geometric = self.mean == "geometric"
        if estimate is None:
            uplink = max(sample.uplink_bps, floor) if geometric else sample.uplink_bps
            downlink = max(sample.downlink_bps, floor) if geometric else sample.downlink_bps
            return LinkEstimate(uplink, downlink, sample.rtt_seconds, sample.compute_flops, sample.memory_bytes, 1,
                                sample.measured_at)
        if not sample.measured_at > estimate.measured_at:
            return estimate
        weight = self.weight(sample.measured_at - estimate.measured_at)

        def log_blend(old: float, new: float) -> float:
            return math.exp(math.log(old) + weight * (math.log(new) - math.log(old)))

        def blend(old: float, new: float) -> float:
            if geometric:
                return log_blend(max(old, floor), max(new, floor))
            return old + weight * (new - old)

        result = estimate.copy()
        result.uplink_bps = blend(estimate.uplink_bps, sample.uplink_bps)
        result.downlink_bps = blend(estimate.downlink_bps, sample.downlink_bps)
        result.rtt_seconds = estimate.rtt_seconds + weight * (sample.rtt_seconds - estimate.rtt_seconds)
        if sample.compute_flops is not None:
            result.compute_flops = sample.compute_flops if estimate.compute_flops is None \
                else log_blend(estimate.compute_flops, sample.compute_flops)
        if sample.memory_bytes is not None:
            result.memory_bytes = sample.memory_bytes
        result.samples = estimate.samples + 1
        result.measured_at = sample.measured_at
        return result

    @staticmethod
    def planning_rate(bps: float) -> float:
        """One rate floored for planning: ``max(bps, MINIMUM_BPS)``, ``MINIMUM_BPS`` when not finite."""
        return max(bps, MINIMUM_BPS) if math.isfinite(bps) else MINIMUM_BPS

    @staticmethod
    def planning_rates(estimate: LinkEstimate) -> Tuple[float, float]:
        """The (uplink, downlink) bit/s to decide at under ``estimate``."""
        return LinkEstimator.planning_rate(estimate.uplink_bps), LinkEstimator.planning_rate(estimate.downlink_bps)
