"""Per-iteration timings of split training, measured with a monotonic clock (``time.perf_counter``)."""

from dataclasses import asdict, dataclass
from typing import Any, Dict


@dataclass
class IterationTimings:
    """Where one training iteration's time went, seen from the device (seconds and bytes).

    - ``device_forward``: the device part's forward, until the cut values are ready;
    - ``uplink``: writing the ACTIVATIONS frame (cut values and labels) into the socket; a frame
      larger than the socket buffers waits here for the peer to read it;
    - ``server_compute``: the server's own measure of validating the frame, its forward, the
      loss and its backward (its optimizer step runs after it replies, overlapping the device's
      backward: see ``SplitServer.timings``);
    - ``downlink``: from the end of the uplink write until the whole GRADIENTS frame was read,
      minus ``server_compute`` (so it holds the uplink's tail in flight, the gradient transfer
      and the reply's latency);
    - ``device_backward``, ``device_step``: autograd through the device part, its optimizer step;
    - ``migration``: a split switch made right before this iteration (weights, optimizer state
      and buffers both ways), 0 when none.
    """

    iteration: int
    split: str
    device_forward: float = 0.0
    uplink: float = 0.0
    server_compute: float = 0.0
    downlink: float = 0.0
    device_backward: float = 0.0
    device_step: float = 0.0
    migration: float = 0.0
    uplink_bytes: int = 0
    downlink_bytes: int = 0
    migration_bytes: int = 0
    loss: float = float("nan")

    @property
    def total(self) -> float:
        """Wall time of the iteration, migration included."""
        return (self.device_forward + self.uplink + self.server_compute + self.downlink + self.device_backward
                + self.device_step + self.migration)

    def as_dict(self) -> Dict[str, Any]:
        """A JSON-able copy."""
        return dict(asdict(self), total=self.total)


@dataclass
class ServerTimings:
    """One iteration seen from the server (seconds): waiting for and reading the ACTIVATIONS
    frame, computing (forward, loss, backward), writing the GRADIENTS frame, and the step."""

    iteration: int
    split: str
    receive: float = 0.0
    compute: float = 0.0
    send: float = 0.0
    step: float = 0.0


@dataclass
class MigrationReport:
    """One switch of split: what moved each way and how long the exchange took.

    ``priced_bytes`` is what splitd's cost model charges (parameter bytes x 1/2/3 for
    sgd/momentum/adam); ``optimizer_bytes`` is the optimizer state actually moved (equal to it
    except for Adam's ``step`` counters and a momentum buffer not yet created), ``buffer_bytes``
    the modules' buffers (batch-norm statistics), which the cost model does not price.
    """

    from_split: str
    to_split: str
    parameters_up: int = 0
    parameters_down: int = 0
    parameter_bytes_up: int = 0
    parameter_bytes_down: int = 0
    optimizer_bytes: int = 0
    buffer_bytes: int = 0
    priced_bytes: float = 0.0
    wire_bytes: int = 0
    seconds: float = 0.0
