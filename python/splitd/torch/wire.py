"""The split-training wire format: length-prefixed frames of a JSON header and raw tensor bytes.

Every frame is, in order (integers little-endian)::

    magic        4 bytes  b"SPLD"
    version      u8       1
    kind         u8       HELLO 1, HELLO_OK 2, ACTIVATIONS 3, GRADIENTS 4, SWITCH 5,
                          SWITCH_OK 6, CLOSE 7, ERROR 8
    reserved     u16      0
    meta_bytes   u32      length of the JSON meta that follows (at most max_meta_bytes)
    payload_bytes u64     length of the tensor bytes after it (at most max_payload_bytes)
    meta         UTF-8 JSON object; its "tensors" list gives, per tensor in payload order,
                 {"dtype": "float32", "shape": [2, 64], "bytes": 512}
    payload      each tensor's bytes, C-contiguous, little-endian, back to back

``bytes`` must equal the element count times the dtype's size, and the tensors' bytes must add
up to ``payload_bytes``. Nothing from the network is unpickled: the meta is JSON, tensors are
raw bytes read straight into freshly allocated tensors. A frame that breaks any of these rules
raises ``FrameError`` naming what was wrong; a peer that closes mid-frame raises
``PeerClosedError`` and one silent for longer than the timeout ``PeerStalledError``.
"""

import ctypes
import json
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import torch

from .values import DTYPE_NAMES, DTYPES

MAGIC = b"SPLD"
VERSION = 1
HEADER = struct.Struct("<4sBBHIQ")

HELLO, HELLO_OK, ACTIVATIONS, GRADIENTS, SWITCH, SWITCH_OK, CLOSE, ERROR = range(1, 9)
KIND_NAMES = {HELLO: "HELLO", HELLO_OK: "HELLO_OK", ACTIVATIONS: "ACTIVATIONS", GRADIENTS: "GRADIENTS",
              SWITCH: "SWITCH", SWITCH_OK: "SWITCH_OK", CLOSE: "CLOSE", ERROR: "ERROR"}

DEFAULT_MAX_META_BYTES = 16 << 20
DEFAULT_MAX_PAYLOAD_BYTES = 4 << 30
MAX_DIMENSIONS = 16

if sys.byteorder != "little":  # pragma: no cover - every platform torch ships for is little-endian
    raise ImportError("splitd.torch.wire sends tensors in host byte order and needs a little-endian host")


class TransportError(ConnectionError):
    """The connection to the peer failed: base of every error this module raises."""


class FrameError(TransportError):
    """A frame that breaks the wire format (names the field and what was expected)."""


class PeerClosedError(TransportError):
    """The peer closed the connection (mid-frame or before an expected frame)."""


class PeerStalledError(TransportError):
    """The peer sent or accepted nothing for longer than the timeout."""


class PeerError(TransportError):
    """The peer refused something we sent and said why in an ERROR frame."""


@dataclass
class Frame:
    """One received frame."""

    kind: int
    meta: Dict[str, Any]
    tensors: List[torch.Tensor] = field(default_factory=list)
    wire_bytes: int = 0


@dataclass
class Limits:
    """Largest frames accepted, and how long a peer may stay silent."""

    max_meta_bytes: int = DEFAULT_MAX_META_BYTES
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    timeout_seconds: float = 30.0
    """Longest wait for any progress while a frame is being sent or read."""
    idle_timeout_seconds: float = 300.0
    """Longest wait for the first byte of a frame the protocol expects next."""


def _raw(tensor: torch.Tensor) -> memoryview:
    """The bytes of a contiguous CPU tensor, without copying (the tensor must outlive the view)."""
    size = tensor.numel() * tensor.element_size()
    return memoryview((ctypes.c_char * size).from_address(tensor.data_ptr())).cast("B")


def tensor_entry(tensor: torch.Tensor) -> Dict[str, Any]:
    """The meta entry describing one tensor."""
    if tensor.dtype not in DTYPE_NAMES:
        raise FrameError(f"tensors of dtype {tensor.dtype} cannot be sent")
    return {"dtype": DTYPE_NAMES[tensor.dtype], "shape": list(tensor.shape), "bytes": tensor.numel() * tensor.element_size()}


class Connection:
    """A socket speaking the frame format, with timeouts on every read and write."""

    def __init__(self, sock: socket.socket, limits: Optional[Limits] = None):
        self.socket = sock
        self.limits = limits or Limits()
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.socket.settimeout(self.limits.timeout_seconds)

    def close(self) -> None:
        """Closes the socket (idempotent)."""
        try:
            self.socket.close()
        except OSError:
            pass

    def send(self, kind: int, meta: Dict[str, Any], tensors: Sequence[torch.Tensor] = ()) -> int:
        """Sends one frame; returns its size in bytes."""
        ready = [tensor.detach().to("cpu").contiguous() for tensor in tensors]
        meta = dict(meta, tensors=[tensor_entry(tensor) for tensor in ready])
        meta_bytes = json.dumps(meta, separators=(",", ":")).encode()
        payload_bytes = sum(entry["bytes"] for entry in meta["tensors"])
        header = HEADER.pack(MAGIC, VERSION, kind, 0, len(meta_bytes), payload_bytes)
        try:
            self.socket.sendall(header + meta_bytes)
            for tensor in ready:
                if tensor.numel():
                    self.socket.sendall(_raw(tensor))
        except socket.timeout:
            raise PeerStalledError(f"peer accepted no data for {self.limits.timeout_seconds} s while we sent "
                                   f"{KIND_NAMES.get(kind, kind)}") from None
        except OSError as error:
            raise PeerClosedError(f"connection lost while sending {KIND_NAMES.get(kind, kind)}: {error}") from None
        return len(header) + len(meta_bytes) + payload_bytes

    def _read_into(self, view: memoryview, what: str, first_timeout: Optional[float] = None) -> None:
        done = 0
        if first_timeout is not None:
            self.socket.settimeout(first_timeout)
        try:
            while done < len(view):
                try:
                    count = self.socket.recv_into(view[done:])
                except socket.timeout:
                    waited = first_timeout if done == 0 and first_timeout is not None else self.limits.timeout_seconds
                    raise PeerStalledError(f"peer sent nothing for {waited} s while we read {what} "
                                           f"({done} of {len(view)} bytes)") from None
                except OSError as error:
                    raise PeerClosedError(f"connection lost while reading {what}: {error}") from None
                if count == 0:
                    raise PeerClosedError(f"peer closed the connection after {done} of {len(view)} bytes of {what}")
                if done == 0 and first_timeout is not None:
                    self.socket.settimeout(self.limits.timeout_seconds)
                done += count
        finally:
            self.socket.settimeout(self.limits.timeout_seconds)

    def receive(self, expected: Sequence[int], idle_timeout: Optional[float] = None) -> Frame:
        """Reads one frame of a kind in ``expected`` (an ERROR frame raises PeerError).

        ``idle_timeout`` (default ``limits.idle_timeout_seconds``) bounds the wait for its first byte.
        """
        header = bytearray(HEADER.size)
        self._read_into(memoryview(header), "a frame header",
                        self.limits.idle_timeout_seconds if idle_timeout is None else idle_timeout)
        magic, version, kind, reserved, meta_length, payload_length = HEADER.unpack(header)
        if magic != MAGIC:
            raise FrameError(f"bad magic {bytes(magic)!r} (expected {MAGIC!r}): not a splitd frame")
        if version != VERSION:
            raise FrameError(f"unsupported frame version {version} (this side speaks {VERSION})")
        if kind not in KIND_NAMES:
            raise FrameError(f"unknown frame kind {kind}")
        name = KIND_NAMES[kind]
        if reserved != 0:
            raise FrameError(f"{name} frame: reserved field is {reserved}, expected 0")
        if meta_length > self.limits.max_meta_bytes:
            raise FrameError(f"{name} frame: meta of {meta_length} bytes exceeds the limit of {self.limits.max_meta_bytes}")
        if payload_length > self.limits.max_payload_bytes:
            raise FrameError(f"{name} frame: payload of {payload_length} bytes exceeds the limit of {self.limits.max_payload_bytes}")
        meta_buffer = bytearray(meta_length)
        self._read_into(memoryview(meta_buffer), f"the meta of a {name} frame")
        try:
            meta = json.loads(meta_buffer.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise FrameError(f"{name} frame: meta is not UTF-8 JSON: {error}") from None
        if not isinstance(meta, dict):
            raise FrameError(f"{name} frame: meta is {type(meta).__name__}, expected a JSON object")
        tensors = self._allocate(name, meta.get("tensors", []), payload_length)
        for index, tensor in enumerate(tensors):
            if tensor.numel():
                self._read_into(_raw(tensor), f"tensor {index} of a {name} frame")
        frame = Frame(kind, meta, tensors, HEADER.size + meta_length + payload_length)
        if kind == ERROR:
            raise PeerError(f"peer refused: {meta.get('message', '(no message)')}")
        if kind not in expected:
            raise FrameError(f"unexpected {name} frame (expected {' or '.join(KIND_NAMES[k] for k in expected)})")
        return frame

    def _allocate(self, name: str, entries: Any, payload_length: int) -> List[torch.Tensor]:
        if not isinstance(entries, list):
            raise FrameError(f"{name} frame: meta 'tensors' must be a list")
        tensors, total = [], 0
        for index, entry in enumerate(entries):
            where = f"{name} frame: tensor {index}"
            if not isinstance(entry, dict):
                raise FrameError(f"{where}: entry must be an object")
            dtype = DTYPES.get(entry.get("dtype")) if isinstance(entry.get("dtype"), str) else None
            if dtype is None:
                raise FrameError(f"{where}: unknown dtype {entry.get('dtype')!r} (known: {', '.join(DTYPES)})")
            shape = entry.get("shape")
            if (not isinstance(shape, list) or len(shape) > MAX_DIMENSIONS
                    or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
                raise FrameError(f"{where}: shape must be a list of at most {MAX_DIMENSIONS} integers >= 0, got {str(shape)[:80]}")
            count = 1
            for dimension in shape:
                count *= dimension
            size = count * torch.empty((), dtype=dtype).element_size()
            if entry.get("bytes") != size:
                raise FrameError(f"{where}: declares {entry.get('bytes')!r} bytes but {entry['dtype']} {shape} takes {size}")
            total += size
            if total > payload_length:
                raise FrameError(f"{name} frame: tensors need more than the {payload_length} payload bytes declared")
            tensors.append(torch.empty(shape, dtype=dtype))
        if total != payload_length:
            raise FrameError(f"{name} frame: tensors take {total} bytes but the payload is {payload_length}")
        return tensors

    def refuse(self, message: str) -> None:
        """Tells the peer why we stop (best effort), then closes."""
        try:
            self.socket.settimeout(min(self.limits.timeout_seconds, 5.0))
            self.send(ERROR, {"message": message})
        except TransportError:
            pass
        finally:
            self.close()


def connect(host: str, port: int, limits: Optional[Limits] = None) -> Connection:
    """Opens a Connection to ``host:port`` (connect bounded by the timeout)."""
    limits = limits or Limits()
    try:
        sock = socket.create_connection((host, port), timeout=limits.timeout_seconds)
    except socket.timeout:
        raise PeerStalledError(f"no answer from {host}:{port} within {limits.timeout_seconds} s") from None
    except OSError as error:
        raise PeerClosedError(f"cannot connect to {host}:{port}: {error}") from None
    return Connection(sock, limits)


def monotonic() -> float:
    """The clock every timing uses: ``time.perf_counter`` (monotonic, highest resolution)."""
    return time.perf_counter()
