"""SplitServer: the edge-server side of split training over TCP."""

import socket
from typing import Any, Callable, List, Optional, Tuple

import torch

from . import wire
from .ownership import forget, pack, unpack
from .partition import GraphSource
from .session import OptimizerFactory, Placement, ProtocolError, SplitModel, moves
from .timings import ServerTimings
from .values import StructureError, conforms, flatten, unflatten
from .wire import Connection, FrameError, Limits

LossFunction = Callable[[Any, Any], torch.Tensor]
"""``loss(outputs, labels)`` -> a scalar tensor."""


class SessionError(RuntimeError):
    """A session ended because the device sent something wrong; the device was told why."""


class SplitServer:
    """Serves split-training sessions for one model: learns the split from the device's
    handshake, runs the server part, the loss, backward and its optimizer step.

    Step rule: the server steps an iteration only after its GRADIENTS reply was written to the
    socket; a reply it cannot write (peer gone, stalled) leaves it unstepped, and the session
    ends with the error. (A reply written but lost before the device reads it leaves the server
    one step ahead of a device that never stepped; both sides raise, so such a session must be
    restarted from a checkpoint.)
    """

    def __init__(self, model: torch.nn.Module, example_inputs: Any, optimizer: OptimizerFactory,
                 loss: LossFunction = torch.nn.functional.cross_entropy, graph: GraphSource = None,
                 host: str = "127.0.0.1", port: int = 0, limits: Optional[Limits] = None,
                 accept_timeout_seconds: float = 60.0):
        self.side = SplitModel(model, example_inputs, optimizer, graph)
        self.loss = loss
        self.limits = limits or Limits()
        self.accept_timeout_seconds = accept_timeout_seconds
        self.listener = socket.create_server((host, port))
        self.timings: List[ServerTimings] = []
        self.placement: Optional[Placement] = None
        self.iterations = 0

    @property
    def address(self) -> Tuple[str, int]:
        """(host, port) listened on."""
        host, port = self.listener.getsockname()[:2]
        return host, port

    @property
    def model(self) -> torch.nn.Module:
        """The model (its server-side parameters are the ones trained here)."""
        return self.side.model

    def close(self) -> None:
        """Stops listening."""
        self.listener.close()

    def serve(self, sessions: int = 1) -> None:
        """Accepts and runs ``sessions`` device sessions, one after the other."""
        for _ in range(sessions):
            self.listener.settimeout(self.accept_timeout_seconds)
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                raise wire.PeerStalledError(f"no device connected within {self.accept_timeout_seconds} s") from None
            self.run_session(Connection(sock, self.limits))

    def run_session(self, connection: Connection) -> None:
        """Runs one session to its CLOSE; on a bad frame tells the device why and raises."""
        try:
            hello = connection.receive([wire.HELLO], idle_timeout=self.limits.timeout_seconds)
            self.placement = self.side.check_hello(hello.meta)
            connection.send(wire.HELLO_OK, {"fingerprint": self.placement.fingerprint})
            while True:
                frame = connection.receive([wire.ACTIVATIONS, wire.SWITCH, wire.CLOSE])
                if frame.kind == wire.CLOSE:
                    connection.send(wire.CLOSE, {})
                    return
                if frame.kind == wire.SWITCH:
                    self._switch(connection, frame)
                else:
                    self._iterate(connection, frame)
        except (FrameError, ProtocolError, SessionError, ValueError) as error:
            connection.refuse(str(error))
            raise
        finally:
            connection.close()

    def _iterate(self, connection: Connection, frame: wire.Frame) -> None:
        assert self.placement is not None
        partition = self.placement.partition
        meta = frame.meta
        timings = ServerTimings(int(meta.get("iteration", -1)) if isinstance(meta.get("iteration"), int) else -1,
                                self.placement.fingerprint)
        start = wire.monotonic()
        if meta.get("split") != self.placement.fingerprint:
            raise ProtocolError(f"ACTIVATIONS for split {meta.get('split')!r}, but the session is on {self.placement.fingerprint!r}")
        try:
            values = unflatten(meta.get("values"), frame.tensors)
            labels = unflatten(meta.get("labels"), frame.tensors)
        except StructureError as error:
            raise FrameError(f"ACTIVATIONS frame: {error}") from None
        if not isinstance(values, tuple) or len(values) != len(partition.crossing):
            raise FrameError(f"ACTIVATIONS frame: expected {len(partition.crossing)} cut values {partition.crossing}")
        for name, value, form in zip(partition.crossing, values, partition.crossing_forms):
            problem = conforms(value, form)
            if problem:
                raise FrameError(f"ACTIVATIONS frame: cut value {name!r}: {problem}")
        leaves: List[torch.Tensor] = []
        flatten(values, leaves)
        values = _with_gradients(values)
        self.side.optimizer.zero_grad(set_to_none=True)
        outputs = partition.server(*values)
        loss = self.loss(outputs, labels)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise SessionError("the loss function must return a scalar tensor")
        loss.backward()
        gradients: List[torch.Tensor] = []
        references: List[Optional[int]] = []
        for leaf in leaves:
            if leaf.grad is None:
                references.append(None)
            else:
                references.append(len(gradients))
                gradients.append(leaf.grad)
        timings.compute = wire.monotonic() - start
        start = wire.monotonic()
        connection.send(wire.GRADIENTS, {"iteration": meta.get("iteration"), "split": self.placement.fingerprint,
                                         "loss": float(loss.detach()), "gradients": references,
                                         "server_seconds": timings.compute}, gradients)
        timings.send = wire.monotonic() - start
        start = wire.monotonic()
        self.side.optimizer.step()
        self.side.optimizer.zero_grad(set_to_none=True)
        timings.step = wire.monotonic() - start
        self.timings.append(timings)
        self.iterations += 1

    def _switch(self, connection: Connection, frame: wire.Frame) -> None:
        assert self.placement is not None
        new = self.side.check_hello(frame.meta)
        old = self.placement
        (up_parameters, up_buffers), (down_parameters, down_buffers) = moves(old, new)
        try:
            unpack(self.model, self.side.optimizer, frame.meta.get("state"), frame.tensors, set(up_parameters), set(up_buffers))
        except (ValueError, StructureError) as error:
            raise FrameError(f"SWITCH frame: {error}") from None
        moved = pack(self.model, self.side.optimizer, down_parameters, down_buffers)
        connection.send(wire.SWITCH_OK, {"fingerprint": new.fingerprint, "state": moved.entries}, moved.tensors)
        forget(self.model, self.side.optimizer, down_parameters)
        self.placement = new


def _with_gradients(value: Any) -> Any:
    """Received values with every floating tensor a leaf requiring grad, handed on as a clone
    so the server part may modify it in place (ResNet's ``+=`` and in-place ReLU)."""
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            return value
        value.requires_grad_(True)
        return value.clone()
    if isinstance(value, torch.Size):
        return value
    if isinstance(value, (tuple, list)):
        return type(value)(_with_gradients(item) for item in value)
    if isinstance(value, dict):
        return {key: _with_gradients(item) for key, item in value.items()}
    return value
