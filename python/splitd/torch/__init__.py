"""Split training in PyTorch at splitd's plans.

- ``partition(model, plan, example_inputs, graph=None)`` -> ``(device_part, server_part)``;
  ``Partitioner`` traces once and splits at many plans.
- ``SplitTrainer`` (device) and ``SplitServer`` (edge server) train split over TCP, moving
  layers with their weights and optimizer state when the split changes.
"""

from .layer_mapping import PartitionError
from .partition import Partition, Partitioner, partition
from .plan import SplitLayers, split_layers

__all__ = ["PartitionError", "Partition", "Partitioner", "partition", "SplitLayers", "split_layers"]
