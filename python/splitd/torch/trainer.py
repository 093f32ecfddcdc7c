"""SplitTrainer: the device side of split training over TCP."""

from typing import Any, List, Optional, Sequence, Tuple

import torch

from . import wire
from .ownership import forget, pack, unpack
from .session import OptimizerFactory, Placement, ProtocolError, SplitModel, moves, optional_float
from .partition import GraphSource
from .timings import IterationTimings, MigrationReport
from .values import StructureError, flatten
from .wire import Connection, FrameError, Limits

FACTORS = {"sgd": 1, "momentum": 2, "adam": 3}


class SplitTrainer:
    """Trains the device part of ``model`` at ``plan``'s split against a ``SplitServer``.

    ``optimizer`` builds the optimizer from ``model.parameters()`` (the server uses the same
    factory); only the parameters of the device's layers get gradients and steps here.
    Each ``train_step`` sends the cut values and the labels, receives the cut gradients and the
    loss, backpropagates and steps; if the gradients never arrive (peer closed, stalled, bad
    frame) it raises ``wire.TransportError`` and nothing is stepped. ``set_plan`` moves to another
    split, moving layers with their weights, optimizer state and buffers.
    """

    def __init__(self, model: torch.nn.Module, plan: Any, example_inputs: Any, optimizer: OptimizerFactory,
                 address: Tuple[str, int], graph: GraphSource = None, limits: Optional[Limits] = None):
        self.side = SplitModel(model, example_inputs, optimizer, graph)
        self.placement: Placement = self.side.placement(plan)
        self.address = address
        self.limits = limits or Limits()
        self.connection: Optional[Connection] = None
        self.iteration = 0
        self.timings: List[IterationTimings] = []
        self.migrations: List[MigrationReport] = []
        self._pending_migration: Optional[MigrationReport] = None

    @property
    def model(self) -> torch.nn.Module:
        """The model (its device-side parameters are the ones trained here)."""
        return self.side.model

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The device's optimizer."""
        return self.side.optimizer

    def connect(self) -> "SplitTrainer":
        """Connects and agrees on the model, optimizer and split with the server."""
        self.connection = wire.connect(self.address[0], self.address[1], self.limits)
        try:
            self.connection.send(wire.HELLO, self.side.hello(self.placement))
            frame = self.connection.receive([wire.HELLO_OK], idle_timeout=self.limits.timeout_seconds)
            if frame.meta.get("fingerprint") != self.placement.fingerprint:
                raise ProtocolError(f"server acknowledged split {frame.meta.get('fingerprint')!r}, not ours {self.placement.fingerprint!r}")
        except Exception:
            self.connection.close()
            self.connection = None
            raise
        return self

    def __enter__(self) -> "SplitTrainer":
        return self.connect() if self.connection is None else self

    def __exit__(self, *exception: Any) -> None:
        self.close()

    def close(self) -> None:
        """Ends the session (the server's reply is awaited briefly) and closes the socket."""
        if self.connection is None:
            return
        try:
            self.connection.send(wire.CLOSE, {})
            self.connection.receive([wire.CLOSE], idle_timeout=self.limits.timeout_seconds)
        except wire.TransportError:
            pass
        finally:
            self.connection.close()
            self.connection = None

    def _require_connection(self) -> Connection:
        if self.connection is None:
            raise wire.TransportError("not connected: call connect() first")
        return self.connection

    def train_step(self, inputs: Any, labels: Any) -> IterationTimings:
        """One iteration; returns its timings (``loss`` included). See the class documentation."""
        connection = self._require_connection()
        inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
        timings = IterationTimings(self.iteration, self.placement.fingerprint)
        if self._pending_migration is not None:
            timings.migration = self._pending_migration.seconds
            timings.migration_bytes = self._pending_migration.wire_bytes
            self._pending_migration = None
        self.optimizer.zero_grad(set_to_none=True)

        start = wire.monotonic()
        values = self.placement.partition.device(*inputs)
        tensors: List[torch.Tensor] = []
        structure = flatten(tuple(values), tensors)
        leaves = tensors[:]
        label_structure = flatten(labels, tensors)
        sent = [tensor.detach() for tensor in tensors]
        timings.device_forward = wire.monotonic() - start

        start = wire.monotonic()
        timings.uplink_bytes = connection.send(wire.ACTIVATIONS, {
            "iteration": self.iteration, "split": self.placement.fingerprint,
            "values": structure, "labels": label_structure}, sent)
        sent_at = wire.monotonic()
        timings.uplink = sent_at - start

        frame = connection.receive([wire.GRADIENTS], idle_timeout=self.limits.idle_timeout_seconds)
        waited = wire.monotonic() - sent_at
        gradients = self._check_gradients(frame, leaves)
        server_seconds = optional_float(frame.meta.get("server_seconds")) or 0.0
        timings.server_compute = server_seconds
        timings.downlink = max(0.0, waited - server_seconds)
        timings.downlink_bytes = frame.wire_bytes
        timings.loss = float(frame.meta["loss"])

        start = wire.monotonic()
        pairs = [(leaf, gradient) for leaf, gradient in zip(leaves, gradients) if gradient is not None and leaf.requires_grad]
        if pairs:
            torch.autograd.backward([leaf for leaf, _ in pairs], [gradient for _, gradient in pairs])
        timings.device_backward = wire.monotonic() - start
        start = wire.monotonic()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        timings.device_step = wire.monotonic() - start
        self.iteration += 1
        self.timings.append(timings)
        return timings

    def _check_gradients(self, frame: wire.Frame, leaves: Sequence[torch.Tensor]) -> List[Optional[torch.Tensor]]:
        meta = frame.meta
        if meta.get("iteration") != self.iteration:
            raise FrameError(f"GRADIENTS frame for iteration {meta.get('iteration')!r}, expected {self.iteration}")
        if meta.get("split") != self.placement.fingerprint:
            raise ProtocolError(f"GRADIENTS frame for split {meta.get('split')!r}, expected {self.placement.fingerprint!r}")
        if optional_float(meta.get("loss")) is None:
            raise FrameError("GRADIENTS frame without a numeric loss")
        references = meta.get("gradients")
        if not isinstance(references, list) or len(references) != len(leaves):
            raise FrameError(f"GRADIENTS frame: expected {len(leaves)} gradient entries, got "
                             f"{len(references) if isinstance(references, list) else type(references).__name__}")
        gradients: List[Optional[torch.Tensor]] = []
        for index, (reference, leaf) in enumerate(zip(references, leaves)):
            if reference is None:
                gradients.append(None)
                continue
            if not isinstance(reference, int) or isinstance(reference, bool) or not 0 <= reference < len(frame.tensors):
                raise FrameError(f"GRADIENTS frame: gradient {index} references tensor {reference!r}, out of range")
            gradient = frame.tensors[reference]
            if gradient.dtype != leaf.dtype or gradient.shape != leaf.shape:
                raise FrameError(f"GRADIENTS frame: gradient of cut value {index} is {gradient.dtype} {list(gradient.shape)}, "
                                 f"expected {leaf.dtype} {list(leaf.shape)}")
            gradients.append(gradient)
        return gradients

    def set_plan(self, plan: Any) -> Optional[MigrationReport]:
        """Moves to ``plan``'s split (a plan, segment or ``Split``); None when it is the current one.

        Layers leaving the device send their weights, optimizer state and buffers up; layers
        joining it receive theirs down, in one SWITCH / SWITCH_OK exchange. The switch takes
        effect on both sides only once the exchange completed; if it fails, this side stays on
        the old split and raises.
        """
        connection = self._require_connection()
        new = self.side.placement(plan)
        old = self.placement
        if new.fingerprint == old.fingerprint:
            return None
        (up_parameters, up_buffers), (down_parameters, down_buffers) = moves(old, new)
        report = MigrationReport(old.fingerprint, new.fingerprint, len(up_parameters), len(down_parameters))
        start = wire.monotonic()
        moved = pack(self.model, self.optimizer, up_parameters, up_buffers)
        meta = self.side.hello(new)
        meta.update(state=moved.entries, iteration=self.iteration)
        report.wire_bytes = connection.send(wire.SWITCH, meta, moved.tensors)
        frame = connection.receive([wire.SWITCH_OK], idle_timeout=self.limits.idle_timeout_seconds)
        if frame.meta.get("fingerprint") != new.fingerprint:
            raise ProtocolError(f"server switched to {frame.meta.get('fingerprint')!r}, not {new.fingerprint!r}")
        try:
            unpack(self.model, self.optimizer, frame.meta.get("state"), frame.tensors, set(down_parameters), set(down_buffers))
        except (ValueError, StructureError) as error:
            raise FrameError(f"SWITCH_OK frame: {error}") from None
        forget(self.model, self.optimizer, up_parameters)
        self.placement = new
        report.wire_bytes += frame.wire_bytes
        report.seconds = wire.monotonic() - start
        named, buffers = dict(self.model.named_parameters()), dict(self.model.named_buffers())
        report.parameter_bytes_up = moved.parameter_bytes
        report.parameter_bytes_down = sum(_size(named[name]) for name in down_parameters)
        buffer_bytes_down = sum(_size(buffers[name]) for name in down_buffers)
        received = sum(_size(tensor) for tensor in frame.tensors)
        report.optimizer_bytes = moved.optimizer_bytes + received - report.parameter_bytes_down - buffer_bytes_down
        report.buffer_bytes = moved.buffer_bytes + buffer_bytes_down
        report.priced_bytes = float((report.parameter_bytes_up + report.parameter_bytes_down) * FACTORS[self.side.kind])
        self.migrations.append(report)
        self._pending_migration = report
        return report



def _size(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()
