"""splitd on the device and the edge server.

``splitd.client`` (standard library only) receives plan tables and picks splits;
``splitd.torch`` (needs PyTorch) partitions models and runs split training.
"""

__version__ = "0.10.0"
