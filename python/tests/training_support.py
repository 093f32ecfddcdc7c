"""A small model, its splits and a server thread for the split-training tests."""

import copy
import threading
from typing import Any, Callable, Dict, List, Optional

import torch
from torch import nn

from splitd.torch import Limits, SplitServer

torch.set_num_threads(1)  # as in support.py: faster on a shared 2-core machine, same results


class SmallNet(nn.Module):
    """Conv, batch norm, a residual block and a classifier: small enough to train in milliseconds."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.norm = nn.BatchNorm2d(4)
        self.block = nn.Conv2d(4, 4, 3, padding=1)
        self.head = nn.Linear(4, 5)

    def forward(self, x):
        h = torch.relu(self.norm(self.stem(x)))
        h = torch.relu(self.block(h) + h)
        return self.head(h.mean(dim=(2, 3)))


# Splits of SmallNet (fx node names), from everything on the server to everything but the head
# on the device, and back.
SPLITS = [
    {"device_layers": ["x"], "cut_layers": ["x"]},
    {"device_layers": ["x", "stem", "norm"], "cut_layers": ["norm"]},
    {"device_layers": ["x", "stem", "norm", "relu", "block", "add", "relu_1"], "cut_layers": ["relu_1"]},
    {"device_layers": ["x", "stem", "norm", "relu", "block"], "cut_layers": ["relu", "block"]},
]

OPTIMIZERS: Dict[str, Callable[[Any], torch.optim.Optimizer]] = {
    "sgd": lambda parameters: torch.optim.SGD(parameters, lr=0.05),
    "momentum": lambda parameters: torch.optim.SGD(parameters, lr=0.05, momentum=0.9),
    "adam": lambda parameters: torch.optim.Adam(parameters, lr=0.01),
}


def example_batch(generator: Optional[torch.Generator] = None, batch: int = 4):
    """(images, labels) of SmallNet."""
    return torch.randn(batch, 3, 6, 6, generator=generator), torch.randint(0, 5, (batch,), generator=generator)


def fresh_model(seed: int = 0) -> SmallNet:
    torch.manual_seed(seed)
    return SmallNet().train()


class ServerThread:
    """A SplitServer serving one session in a thread; ``join`` returns its error, if any."""

    def __init__(self, model: nn.Module, optimizer: str = "sgd", limits: Optional[Limits] = None, **keywords: Any):
        self.server = SplitServer(model, example_batch()[0], OPTIMIZERS[optimizer], limits=limits, **keywords)
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.server.serve(1)
        except BaseException as error:  # noqa: BLE001 - handed to the test
            self.error = error
        finally:
            self.server.close()

    @property
    def address(self):
        return self.server.address

    def join(self, timeout: float = 60) -> Optional[BaseException]:
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError("server thread did not finish")
        return self.error


def unsplit_run(model: nn.Module, optimizer: str, batches: List[Any]) -> List[float]:
    """Losses of ordinary training on ``batches`` (the reference)."""
    reference = copy.deepcopy(model)
    step = OPTIMIZERS[optimizer](reference.parameters())
    losses = []
    for images, labels in batches:
        step.zero_grad()
        loss = nn.functional.cross_entropy(reference(images), labels)
        loss.backward()
        step.step()
        losses.append(loss.item())
    model.load_state_dict(reference.state_dict())
    return losses
