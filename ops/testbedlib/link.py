"""The testbed's link: each sender paces its own frames, like a shaped link of one rate or a trace.

A frame of N bytes offered at time t leaves the sender chunk by chunk; chunk i is released when
the link would have finished serialising it (the rate integrated from the moment the link is
free) plus the one-way delay. The receiver therefore holds the last byte at
``t + (time to serialise N bytes) + delay``, which is what splitd's cost model charges for a
transfer. This is a token bucket of depth zero: no burst credit builds up while the link is idle.
Both sides read the rates from one small JSON file (``LinkControl``), so a test can change them
while it runs and both replay a trace against the same clock (``CLOCK_MONOTONIC``, shared by
every process on the machine).
"""

import bisect
import json
import math
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from splitd.torch import wire

CHUNK_BYTES = 64 << 10
"""Bytes handed to the socket at once: small enough that a late wake-up costs microseconds."""


def clock() -> float:
    """The clock both processes share (``CLOCK_MONOTONIC``)."""
    return time.monotonic()


class RateSchedule:
    """A rate in bit/s over time, piecewise constant: ``rates[i]`` from ``times[i]`` to
    ``times[i + 1]``, the last step lasting until ``period`` after which the schedule repeats.
    A rate of 0 is an outage; ``math.inf`` an unshaped link."""

    def __init__(self, times: Sequence[float], rates: Sequence[float], period: Optional[float] = None):
        if not times or len(times) != len(rates) or times[0] != 0:
            raise ValueError("a schedule needs steps starting at time 0, one rate per step")
        if any(b <= a for a, b in zip(times, times[1:])):
            raise ValueError("schedule times must increase")
        if any(rate < 0 or math.isnan(rate) for rate in rates):
            raise ValueError("rates must be >= 0")
        self.times = list(times)
        self.rates = list(rates)
        self.period = period if period is not None else (times[-1] + 1.0 if len(times) > 1 else math.inf)
        if self.period <= self.times[-1]:
            raise ValueError("the period must end after the last step starts")
        if not any(rate > 0 for rate in rates):
            raise ValueError("a schedule whose rate is always 0 never delivers anything")

    @classmethod
    def constant(cls, bits_per_second: float) -> "RateSchedule":
        """One rate forever (``math.inf``: unshaped)."""
        return cls([0.0], [bits_per_second], math.inf)

    def _step(self, offset: float) -> int:
        return bisect.bisect_right(self.times, offset) - 1

    def rate_at(self, seconds: float) -> float:
        """The rate ``seconds`` after the schedule's start."""
        offset = seconds % self.period if math.isfinite(self.period) else seconds
        return self.rates[self._step(max(0.0, offset))]

    def finish(self, start: float, bits: float) -> float:
        """When ``bits`` offered at ``start`` (seconds into the schedule) have been serialised."""
        if bits <= 0:
            return start
        if not math.isfinite(self.period):
            rate = self.rates[0]
            return start if math.isinf(rate) else start + bits / rate
        base = math.floor(start / self.period) * self.period
        offset = start - base
        index = self._step(offset)
        while True:
            end = self.times[index + 1] if index + 1 < len(self.times) else self.period
            rate = self.rates[index]
            if math.isinf(rate):
                return base + offset
            if rate > 0:
                capacity = rate * (end - offset)
                if bits <= capacity:
                    return base + offset + bits / rate
                bits -= capacity
            offset = end
            index += 1
            if index == len(self.times):
                base, offset, index = base + self.period, 0.0, 0

    def mean_rate(self) -> float:
        """Time-averaged rate over one period (the constant for a constant schedule)."""
        if not math.isfinite(self.period):
            return self.rates[0]
        ends = self.times[1:] + [self.period]
        return sum(rate * (end - start) for start, end, rate in zip(self.times, ends, self.rates)) / self.period


def schedule_from_spec(spec: Dict[str, Any]) -> RateSchedule:
    """``{"bps": 5e6}``, ``{"bps": null}`` (unshaped) or ``{"times": [...], "rates": [...], "period": s}``."""
    if "times" in spec:
        return RateSchedule(spec["times"], spec["rates"], spec.get("period"))
    rate = spec.get("bps")
    return RateSchedule.constant(math.inf if rate is None else float(rate))


@dataclass
class LinkState:
    """What the control file says: each direction's schedule and when the schedules started."""

    uplink: RateSchedule
    downlink: RateSchedule
    epoch: float
    one_way_delay: float


class LinkControl:
    """The shared JSON file of link settings. Writers replace it atomically; readers reload it
    when its modification time changes (one ``stat`` per frame)."""

    def __init__(self, path: str):
        self.path = path
        self._stamp: Optional[int] = None
        self._state: Optional[LinkState] = None

    def write(self, uplink: Dict[str, Any], downlink: Dict[str, Any], epoch: Optional[float] = None,
              one_way_delay: float = 0.0) -> None:
        """Sets both directions (specs as ``schedule_from_spec`` reads them) from ``epoch`` (now if None)."""
        document = {"uplink": uplink, "downlink": downlink, "epoch": clock() if epoch is None else epoch,
                    "one_way_delay": one_way_delay}
        temporary = f"{self.path}.{os.getpid()}.tmp"
        with open(temporary, "w") as file:
            json.dump(document, file)
        os.replace(temporary, self.path)

    def state(self) -> LinkState:
        """The current settings (reloaded if the file changed)."""
        stamp = os.stat(self.path).st_mtime_ns
        if stamp != self._stamp or self._state is None:
            with open(self.path) as file:
                document = json.load(file)
            self._state = LinkState(schedule_from_spec(document["uplink"]), schedule_from_spec(document["downlink"]),
                                    float(document["epoch"]), float(document.get("one_way_delay", 0.0)))
            self._stamp = stamp
        return self._state


@dataclass
class FrameRecord:
    """One paced frame: bytes, when its first byte was offered, the link's share of its time."""

    kind: int
    called: float = 0.0
    """When the frame was handed to the connection (before its meta was encoded)."""
    bytes: int = 0
    offered: float = 0.0
    released: float = 0.0
    link_seconds: float = 0.0
    """Serialisation plus delay the link model charged (waiting for a busy or down link included)."""


class ShapedSocket:
    """A socket whose ``sendall`` paces bytes as the link of ``direction`` in ``control`` would."""

    def __init__(self, sock: socket.socket, control: LinkControl, direction: str):
        if direction not in ("uplink", "downlink"):
            raise ValueError("direction is uplink or downlink")
        self.socket = sock
        self.control = control
        self.direction = direction
        self.link_free_at = 0.0
        self.frames: List[FrameRecord] = []
        self._frame: Optional[FrameRecord] = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.socket, name)

    def begin_frame(self, kind: int) -> None:
        """Marks the start of a frame: its first ``sendall`` is the moment it is offered."""
        self._frame = FrameRecord(kind, called=clock())
        self.frames.append(self._frame)

    def sendall(self, data: Any) -> None:
        """Sends ``data`` chunk by chunk, each when the link has serialised it."""
        view = memoryview(data).cast("B")
        state = self.control.state()
        schedule = state.uplink if self.direction == "uplink" else state.downlink
        frame = self._frame
        now = clock()
        if frame is not None and frame.bytes == 0:
            frame.offered = now
        offered = frame.offered if frame is not None else now
        for start in range(0, len(view), CHUNK_BYTES):
            chunk = view[start:start + CHUNK_BYTES]
            begin = max(offered, self.link_free_at)
            end = state.epoch + schedule.finish(begin - state.epoch, 8.0 * len(chunk))
            self.link_free_at = end
            release = end + state.one_way_delay
            while True:
                remaining = release - clock()
                if remaining <= 0:
                    break
                time.sleep(remaining)
            self.socket.sendall(chunk)
            if frame is not None:
                frame.bytes += len(chunk)
                frame.released = release
                frame.link_seconds = release - frame.offered


class ShapedConnection(wire.Connection):
    """A ``wire.Connection`` over a ``ShapedSocket``: every frame paced, and recorded."""

    def __init__(self, sock: socket.socket, control: LinkControl, direction: str, limits: Optional[wire.Limits] = None):
        super().__init__(ShapedSocket(sock, control, direction), limits)  # type: ignore[arg-type]

    @property
    def frames(self) -> List[FrameRecord]:
        """Every frame sent so far."""
        return self.socket.frames  # type: ignore[attr-defined]

    def send(self, kind: int, meta: Dict[str, Any], tensors: Sequence[Any] = ()) -> int:
        self.socket.begin_frame(kind)  # type: ignore[attr-defined]
        return super().send(kind, meta, tensors)


@dataclass
class Trace:
    """A link trace as rate steps per direction (bit/s), read from one of the formats below."""

    name: str
    step_seconds: float
    uplink: List[float] = field(default_factory=list)
    downlink: List[float] = field(default_factory=list)

    @property
    def duration(self) -> float:
        """Seconds the trace lasts."""
        return self.step_seconds * len(self.uplink)

    def schedule_spec(self, direction: str, scale: float = 1.0) -> Dict[str, Any]:
        """The direction as a ``schedule_from_spec`` spec, rates times ``scale``."""
        rates = self.uplink if direction == "uplink" else self.downlink
        return {"times": [i * self.step_seconds for i in range(len(rates))], "rates": [r * scale for r in rates],
                "period": self.duration}

    def window(self, start: float, seconds: float) -> "Trace":
        """The part of the trace from ``start`` lasting ``seconds``."""
        first, count = int(round(start / self.step_seconds)), int(round(seconds / self.step_seconds))
        if first + count > len(self.uplink) or count < 1:
            raise ValueError(f"window {start}+{seconds} s lies outside the trace ({self.duration} s)")
        return Trace(self.name, self.step_seconds, self.uplink[first:first + count], self.downlink[first:first + count])


def _mahimahi_rates(path: str, step_seconds: float) -> List[float]:
    """Rates of a mahimahi file: one 1500-byte delivery opportunity per line (millisecond stamps)."""
    stamps = []
    with open(path) as file:
        for number, line in enumerate(file, 1):
            text = line.strip()
            if text:
                try:
                    stamps.append(int(text))
                except ValueError:
                    raise ValueError(f"{path}:{number}: expected an integer millisecond, got {text[:40]!r}") from None
    if not stamps:
        raise ValueError(f"{path}: no delivery opportunities")
    steps = int(math.ceil((stamps[-1] + 1) / 1000.0 / step_seconds))
    counts = [0] * steps
    for stamp in stamps:
        counts[min(steps - 1, int(stamp / 1000.0 / step_seconds))] += 1
    return [count * 1500 * 8 / step_seconds for count in counts]


def read_trace(path: str, step_seconds: float = 1.0, uplink_ratio: float = 1.0) -> Trace:
    """Reads a trace into ``step_seconds`` steps.

    - mahimahi: ``NAME.up`` / ``NAME.down`` (either path, or ``NAME``): one line per 1500-byte
      delivery opportunity; rate of a step = opportunities in it x 12,000 bits / step;
    - Pensieve: two columns ``time_seconds throughput_Mbit_per_s``, downlink only: the uplink is
      ``uplink_ratio`` x the downlink;
    - splitd CSV: ``time_seconds,uplink_bps,downlink_bps[,rtt_seconds]`` (rtt ignored).
    Steps are sampled at their start (Pensieve, CSV: the last sample at or before it).
    """
    base = path[:-3] if path.endswith(".up") else path[:-5] if path.endswith(".down") else path
    if os.path.exists(base + ".up") and os.path.exists(base + ".down"):
        up, down = _mahimahi_rates(base + ".up", step_seconds), _mahimahi_rates(base + ".down", step_seconds)
        length = min(len(up), len(down))
        return Trace(os.path.basename(base), step_seconds, up[:length], down[:length])
    samples = []
    with open(path) as file:
        for number, line in enumerate(file, 1):
            text = line.strip()
            if not text or text.startswith("time"):
                continue
            fields = text.replace(",", " ").split()
            try:
                values = [float(value) for value in fields]
            except ValueError:
                raise ValueError(f"{path}:{number}: expected numbers, got {text[:60]!r}") from None
            if len(values) == 2:
                samples.append((values[0], values[1] * 1e6 * uplink_ratio, values[1] * 1e6))
            elif len(values) in (3, 4):
                samples.append((values[0], values[1], values[2]))
            else:
                raise ValueError(f"{path}:{number}: expected 2 (Pensieve) or 3-4 (splitd CSV) columns")
    if not samples:
        raise ValueError(f"{path}: no samples")
    start = samples[0][0]
    steps = max(1, int(math.ceil((samples[-1][0] - start) / step_seconds)))
    up, down, index = [], [], 0
    for step in range(steps):
        moment = start + step * step_seconds
        while index + 1 < len(samples) and samples[index + 1][0] <= moment:
            index += 1
        up.append(samples[index][1])
        down.append(samples[index][2])
    return Trace(os.path.basename(path), step_seconds, up, down)
