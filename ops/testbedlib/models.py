"""The models the testbed trains: torchvision definitions, built the same way on both sides and
by ``ops/export-torch``."""

import json
from dataclasses import dataclass
from typing import Any, Dict, Tuple

from splitd.torch.compat import torchvision_models

MODELS: Dict[str, Dict[str, Any]] = {
    "resnet18": {},
    "resnet50": {},
    "mobilenet_v2": {},
    "mobilenet_v3_small": {},
    # Without the training-only auxiliary heads (they change the output's type), and without
    # the scipy-based initialisation (slow; the values do not matter here).
    "googlenet": {"aux_logits": False, "init_weights": False},
    "efficientnet_b0": {},
    "vgg11": {},
}
"""Model name -> keyword arguments of its torchvision factory."""


def check_name(name: str) -> str:
    """``name`` if the testbed knows it; else ValueError naming the known ones."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r} (known: {', '.join(sorted(MODELS))})")
    return name


def build(name: str, seed: int = 0) -> Any:
    """A freshly initialised model in training mode (the same weights for the same seed)."""
    import torch
    torch.manual_seed(seed)
    return getattr(torchvision_models(), check_name(name))(**MODELS[name]).train()


def export_arguments(name: str, batch: int, size: int) -> Tuple[str, ...]:
    """``ops/export-torch`` arguments for the model at ``batch`` x 3 x size x size."""
    return (f"torchvision.models:{check_name(name)}", "--input-shape", f"{batch}x3x{size}x{size}",
            "--kwargs", json.dumps(MODELS[name]), "--name", name)


@dataclass
class Batches:
    """Synthetic training data: a few fixed random batches, cycled (no data loading is timed)."""

    batch: int
    size: int
    count: int = 4
    seed: int = 1

    def __post_init__(self) -> None:
        import torch
        generator = torch.Generator().manual_seed(self.seed)
        self.inputs = [torch.randn(self.batch, 3, self.size, self.size, generator=generator) for _ in range(self.count)]
        self.labels = [torch.randint(0, 1000, (self.batch,), generator=generator) for _ in range(self.count)]

    def get(self, iteration: int) -> Tuple[Any, Any]:
        """The batch of an iteration."""
        return self.inputs[iteration % self.count], self.labels[iteration % self.count]
