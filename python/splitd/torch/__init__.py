"""Split training in PyTorch at splitd's plans.

- ``partition(model, plan, example_inputs, graph=None)`` -> ``(device_part, server_part)``;
  ``Partitioner`` traces once and splits at many plans.
- ``SplitTrainer`` (device) and ``SplitServer`` (edge server) train split over TCP, moving
  layers with their weights and optimizer state when the split changes (``wire`` documents
  the frames).
"""

from .layer_mapping import PartitionError
from .partition import Partition, Partitioner, partition
from .plan import SplitLayers, split_layers
from .server import SessionError, SplitServer
from .session import ProtocolError
from .timings import IterationTimings, MigrationReport, ServerTimings
from .trainer import SplitTrainer
from .wire import FrameError, Limits, PeerClosedError, PeerError, PeerStalledError, TransportError

__all__ = ["PartitionError", "Partition", "Partitioner", "partition", "SplitLayers", "split_layers", "SessionError",
           "SplitServer", "ProtocolError", "IterationTimings", "MigrationReport", "ServerTimings", "SplitTrainer",
           "FrameError", "Limits", "PeerClosedError", "PeerError", "PeerStalledError", "TransportError"]
