"""How much of the machine other processes took while the testbed measured.

The machine is shared. Its two vCPUs behave like SMT siblings: a process computing on one slows
a training step on the other by up to 2x (measured: ResNet-18's step went from 0.31 s to 0.67 s
with a matrix multiply on the other vCPU, and to 0.31-0.33 s with a pure-Python loop). So what
matters is the load other processes put on the machine *while the testbed computes*, which is
what ``Window`` measures: busy time of all cores (/proc/stat) minus the CPU time of the
testbed's own processes, per second of the window, in cores.
"""

import os
import time
from typing import Iterable, Optional, Tuple

TICKS = os.sysconf("SC_CLK_TCK")
QUIET_CORES = 0.1
"""Other processes' load (cores) under which a measurement counts as undisturbed."""
QUIET_MACHINE = 0.15
"""Busy share of the whole machine under which a run starts without waiting more."""


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (steal included, idle and iowait not)."""
    with open("/proc/stat") as file:
        values = [int(value) for value in file.readline().split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / TICKS


def process_cpu_seconds(pid: Optional[int] = None) -> float:
    """User plus system CPU seconds of a process (this one by default); 0 if it is gone."""
    try:
        with open(f"/proc/{pid or 'self'}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


class Window:
    """Other processes' load over a window: ``start()``, then ``stop()`` returns it in cores."""

    def __init__(self, pids: Iterable[Optional[int]] = (None,), children: bool = False):
        self.pids = list(pids)
        self.children = children
        self._start: Optional[Tuple[float, float, float]] = None
        self.cores = 0.0

    def _ours(self) -> float:
        ours = sum(process_cpu_seconds(pid) for pid in self.pids)
        if self.children:
            import resource
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            ours += usage.ru_utime + usage.ru_stime
        return ours

    def start(self) -> None:
        """Opens the window."""
        self._start = (machine_busy_seconds(), self._ours(), time.monotonic())

    def stop(self) -> float:
        """Closes the window; other processes' cores over it (also kept in ``cores``)."""
        assert self._start is not None, "start() first"
        busy, ours, wall = machine_busy_seconds(), self._ours(), time.monotonic()
        elapsed = wall - self._start[2]
        # /proc counts in ticks (10 ms): a short window is rounded, so clamp at zero.
        self.cores = max(0.0, (busy - self._start[0]) - (ours - self._start[1])) / elapsed if elapsed > 0 else 0.0
        return self.cores


def busy_fraction(seconds: float = 2.0) -> float:
    """Share of the machine busy over the next ``seconds`` (our own process idles meanwhile)."""
    window = Window()
    window.start()
    time.sleep(seconds)
    return window.stop() / (os.cpu_count() or 1)


class BuildLock:
    """Waits for an idle machine, then holds the machine's build lock (``flock``, the one the
    project's Swift builds and tests take) while the testbed measures one model, so no build or
    test starts beside it; builds queued meanwhile go in between models. A path of None holds
    nothing (only the wait for an idle machine)."""

    def __init__(self, path: Optional[str], wait_seconds: float):
        self.path = path
        self.wait_seconds = wait_seconds
        self.file = None
        self.held = False
        self.waited = 0.0

    def __enter__(self) -> "BuildLock":
        """Waits for a moment when the machine is idle and the lock free, and takes the lock then
        (so it is never held while waiting for others' work to end); after ``wait_seconds``
        takes it as soon as it is free, still polling, or gives up."""
        import fcntl
        began = time.monotonic()
        self.file = open(self.path, "a") if self.path is not None else None
        while True:
            quiet = busy_fraction(2.0) <= QUIET_MACHINE
            late = time.monotonic() - began >= self.wait_seconds
            if self.file is None:
                if quiet or late:
                    break
                continue
            if quiet or late:
                try:
                    fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    self.held = True
                    break
                except BlockingIOError:
                    if time.monotonic() - began >= 2 * self.wait_seconds:
                        break
            time.sleep(1.0)
        self.waited = time.monotonic() - began
        return self

    def __exit__(self, *exception: object) -> None:
        if self.file is not None:
            if self.held:
                import fcntl
                fcntl.flock(self.file, fcntl.LOCK_UN)
            self.file.close()
            self.file = None
        self.held = False
