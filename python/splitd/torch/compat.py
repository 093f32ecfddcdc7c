"""torchvision's model definitions whatever torch is installed.

torchvision installed beside a torch it was not built for fails to import:
``torchvision/_meta_registrations.py`` registers fake kernels for its compiled operators
(``torchvision::nms``...) that this torch does not have. The model definitions are pure Python,
so ``torchvision_models()`` imports torchvision with the two registration modules replaced by
empty ones (only the compiled detection operators are lost). The partitioner and the runtime never
import torchvision; the tests, the testbed and examples use this to build sample models.
"""

import sys
import types
from typing import Any


def torchvision_models() -> Any:
    """``torchvision.models``, importable whatever torch the machine has."""
    if "torchvision.models" in sys.modules:
        return sys.modules["torchvision.models"]
    try:
        import torchvision.models as models  # noqa: F401 - a matching torchvision imports as is
        return models
    except (RuntimeError, ImportError):
        for name in [key for key in sys.modules if key == "torchvision" or key.startswith("torchvision.")]:
            del sys.modules[name]
    for name in ("torchvision._meta_registrations", "torchvision._autograd_registrations"):
        sys.modules[name] = types.ModuleType(name)
    import torchvision.models as models
    return models
