"""Values that cross the split: tensors, and the small structures fx nodes produce around them.

A crossing value is a tensor, or None, a bool, int, float or str, a ``torch.Size``, or a tuple,
list or str-keyed dict of such values (a ViT attention module returns ``(tensor, None)``; a
shape node returns ``torch.Size``). ``flatten`` turns one into a JSON-able structure whose
tensors are replaced by ``{"tensor": index}`` and the list of those tensors; ``unflatten``
rebuilds it, accepting nothing but those forms (data from the network is never unpickled).
"""

from typing import Any, Dict, List, Sequence, Tuple

import torch

DTYPES: Dict[str, torch.dtype] = {
    "float64": torch.float64, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
    "int64": torch.int64, "int32": torch.int32, "int16": torch.int16, "int8": torch.int8, "uint8": torch.uint8,
    "bool": torch.bool, "complex64": torch.complex64, "complex128": torch.complex128,
}
"""Tensor dtypes that may cross, by wire name."""

DTYPE_NAMES: Dict[torch.dtype, str] = {dtype: name for name, dtype in DTYPES.items()}


class StructureError(ValueError):
    """A value that cannot cross the split, or a structure that is not one ``flatten`` makes."""


def flatten(value: Any, tensors: List[torch.Tensor]) -> Any:
    """The JSON-able structure of ``value``; its tensors are appended to ``tensors``."""
    if isinstance(value, torch.Tensor):
        if value.dtype not in DTYPE_NAMES:
            raise StructureError(f"tensors of dtype {value.dtype} cannot cross the split")
        tensors.append(value)
        return {"tensor": len(tensors) - 1}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.Size):
        return {"size": [int(d) for d in value]}
    if isinstance(value, tuple):
        return {"tuple": [flatten(item, tensors) for item in value]}
    if isinstance(value, list):
        return {"list": [flatten(item, tensors) for item in value]}
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {"dict": [[key, flatten(item, tensors)] for key, item in value.items()]}
    raise StructureError(f"a value of type {type(value).__name__} cannot cross the split")


def unflatten(structure: Any, tensors: Sequence[torch.Tensor], depth: int = 0) -> Any:
    """Rebuilds the value ``flatten`` described (raises StructureError on anything else)."""
    if depth > 32:
        raise StructureError("value structure nested deeper than 32 levels")
    if structure is None or isinstance(structure, (bool, int, float, str)):
        return structure
    if not isinstance(structure, dict) or len(structure) != 1:
        raise StructureError(f"malformed value structure {str(structure)[:80]!r}")
    (kind, body), = structure.items()
    if kind == "tensor":
        if not isinstance(body, int) or isinstance(body, bool) or not 0 <= body < len(tensors):
            raise StructureError(f"tensor reference {body!r} out of range (have {len(tensors)} tensors)")
        return tensors[body]
    if kind == "size":
        if not isinstance(body, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in body):
            raise StructureError("size must be a list of integers")
        return torch.Size(body)
    if kind in ("tuple", "list"):
        if not isinstance(body, list):
            raise StructureError(f"{kind} must hold a list")
        items = [unflatten(item, tensors, depth + 1) for item in body]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        if not isinstance(body, list) or not all(isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) for pair in body):
            raise StructureError("dict must hold [key, value] pairs with string keys")
        return {key: unflatten(item, tensors, depth + 1) for key, item in body}
    raise StructureError(f"unknown value kind {kind!r}")


def tensor_spec(tensor: torch.Tensor) -> Tuple[str, Tuple[int, ...]]:
    """(wire dtype name, shape) of a tensor."""
    return DTYPE_NAMES[tensor.dtype], tuple(tensor.shape)


def describe(value: Any) -> Any:
    """A JSON-able description of a value's form: its structure with each tensor as
    ``{"dtype": ..., "shape": [...]}`` and each non-tensor leaf as its type name."""
    if isinstance(value, torch.Tensor):
        return {"dtype": DTYPE_NAMES.get(value.dtype, str(value.dtype)), "shape": list(value.shape)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return type(value).__name__
    if isinstance(value, torch.Size):
        return "size"
    if isinstance(value, (tuple, list)):
        return {type(value).__name__: [describe(item) for item in value]}
    if isinstance(value, dict):
        return {"dict": {str(key): describe(item) for key, item in value.items()}}
    return type(value).__name__


def conforms(value: Any, description: Any, batch_dimension: bool = True) -> str:
    """Why ``value`` does not have the form ``description`` gives ("" when it does).

    Tensors must match dtype and rank exactly and every dimension but the first (the batch),
    which may differ when ``batch_dimension`` is true.
    """
    if isinstance(description, dict) and "dtype" in description:
        if not isinstance(value, torch.Tensor):
            return f"expected a tensor, got {type(value).__name__}"
        dtype, shape = description["dtype"], list(description["shape"])
        if DTYPE_NAMES.get(value.dtype) != dtype:
            return f"expected dtype {dtype}, got {DTYPE_NAMES.get(value.dtype, value.dtype)}"
        actual = list(value.shape)
        if len(actual) != len(shape) or (actual[1:] != shape[1:] if batch_dimension else actual != shape):
            return f"expected shape {shape} (first dimension free), got {actual}" if batch_dimension else f"expected shape {shape}, got {actual}"
        return ""
    if isinstance(description, dict) and len(description) == 1:
        (kind, items), = description.items()
        if kind in ("tuple", "list"):
            if type(value).__name__ != kind or len(value) != len(items):
                return f"expected a {kind} of {len(items)}, got {type(value).__name__}"
            for index, (item, item_description) in enumerate(zip(value, items)):
                problem = conforms(item, item_description, batch_dimension)
                if problem:
                    return f"[{index}]: {problem}"
            return ""
        if kind == "dict":
            if not isinstance(value, dict) or set(value) != set(items):
                return f"expected a dict with keys {sorted(items)}"
            for key, item_description in items.items():
                problem = conforms(value[key], item_description, batch_dimension)
                if problem:
                    return f"[{key!r}]: {problem}"
            return ""
    expected = description
    actual = "size" if isinstance(value, torch.Size) else type(value).__name__
    if expected in ("int", "float") and actual in ("int", "float") or expected == actual:
        return ""
    return f"expected {expected}, got {actual}"
