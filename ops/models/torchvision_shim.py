"""torchvision's model definitions without its compiled operators.

Where torchvision's C++ extension does not match the installed torch (`import torchvision` fails
with "operator torchvision::nms does not exist"), stub the module that registers those operators
(detection ops only; the classification models are plain Python) before importing. Used to export
EfficientNet-B0 (torchvision 0.x, torch 2.13 CPU):

    PYTHONPATH=ops/models ops/export-torch torchvision_shim:efficientnet_b0 --input-shape 1x3x224x224 \
        --name efficientnet_b0 --output ops/models/efficientnet_b0.json
"""
import sys
import types

sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
import torchvision.models  # noqa: E402  (after the stub)


def efficientnet_b0():
    """EfficientNet-B0 with random weights (the graph needs shapes and FLOPs, not trained values)."""
    return torchvision.models.efficientnet_b0()
