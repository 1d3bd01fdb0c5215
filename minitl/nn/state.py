"""What ``Module.load_state_dict`` checks before it writes anything: keys, shapes, dtype
kinds and value ranges, with one error that lists every problem."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Mapping

import numpy as np

from .. import backend
from ..autograd import Tensor
from ..errors import CheckpointError, ShapeError

__all__ = ["IncompatibleKeys", "StateDictShapeError", "check_state_dict"]


class IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns: the model's keys the state dict lacked, and the
    state dict's keys the model has no place for (both lists, in order)."""

    __slots__ = ()

    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class StateDictShapeError(CheckpointError, ShapeError):
    """``load_state_dict``: an array does not have the shape of the parameter or buffer it
    should fill. Both a CheckpointError and a ShapeError, so either ``except`` catches it."""


def _does_not_fit(array, dtype) -> str | None:
    """Why the values of ``array`` cannot be cast to ``dtype`` unchanged in kind, or None.

    Integers must lie in the target's range (int64 300 would wrap to int8 44); finite
    floats must stay finite (float32 1e6 would overflow float16 to inf). inf and NaN
    stay what they are, and rounding to a narrower float is the precision change
    load_state_dict promises, not an error.
    """
    dtype = np.dtype(dtype)
    if array.size == 0 or array.dtype == dtype:
        return None
    xp = backend.get_array_module(array)
    if dtype.kind in "iu" and array.dtype.kind in "iub":
        info = np.iinfo(dtype)
        low, high = int(array.min()), int(array.max())
        if low < info.min or high > info.max:
            return (f"values {low}..{high} do not fit {dtype} ({info.min}..{info.max}); "
                    "they would wrap around")
    elif dtype.kind == "f" and array.dtype.kind == "f":
        with np.errstate(over="ignore"):
            overflow = xp.isfinite(array) & ~xp.isfinite(array.astype(dtype))
        if bool(overflow.any()):
            value = float(array[overflow].reshape(-1)[0])
            return (f"the value {value:g} does not fit {dtype} (largest "
                    f"{float(np.finfo(dtype).max):g}); it would overflow to inf")
    return None


def _dtype_kind(dtype) -> str:
    """'float', 'int' or the dtype's own name: what load_state_dict will convert between."""
    if np.issubdtype(dtype, np.floating):
        return "float"
    if np.issubdtype(dtype, np.integer):
        return "int"
    return str(dtype)


def check_state_dict(owner: str, targets: dict, state_dict: Mapping, strict: bool):
    """Check every entry of ``state_dict`` against ``targets`` (key → the model's Tensor)
    before anything is written. Returns ``(writes, IncompatibleKeys)``, writes being
    (target Tensor, array) pairs, or raises one error listing every problem."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"load_state_dict expects a mapping name → array, got "
                        f"{type(state_dict).__name__}")
    missing = [key for key in targets if key not in state_dict]
    unexpected = [key for key in state_dict if key not in targets]
    mismatched, wrong_kind, writes = [], [], []
    for key, target in targets.items():
        if key not in state_dict:
            continue
        value = state_dict[key]
        array = value.data if isinstance(value, Tensor) else value
        if not (isinstance(array, np.ndarray) or backend.is_cupy_array(array)):
            array = np.asarray(array)
        if tuple(array.shape) != target.shape:
            mismatched.append(f"  {key}: the state dict has shape {tuple(array.shape)}, "
                              f"the model has shape {target.shape}")
            continue
        if _dtype_kind(array.dtype) != _dtype_kind(target.dtype):
            wrong_kind.append(f"  {key}: the state dict holds {array.dtype}, the model "
                              f"uses {target.dtype}")
            continue
        problem = _does_not_fit(array, target.dtype)
        if problem:
            wrong_kind.append(f"  {key}: {problem}")
            continue
        writes.append((target, array))
    if mismatched or wrong_kind or (strict and (missing or unexpected)):
        lines = [f"load_state_dict into {owner} failed; nothing was loaded."]
        if mismatched:
            lines += ["Shape mismatches:", *mismatched]
        if wrong_kind:
            lines += ["Dtypes the model does not use, or values that do not fit its dtypes "
                      "(floats load into floats, integers into integers; precision is "
                      "converted, kinds are not, and no value may wrap or overflow):",
                      *wrong_kind]
        if strict and missing:
            lines.append("Missing keys (in the model, not in the state dict): "
                         + ", ".join(missing))
        if strict and unexpected:
            lines.append("Unexpected keys (in the state dict, not in the model): "
                         + ", ".join(unexpected))
        if not (mismatched or wrong_kind):
            lines.append("Pass strict=False to load the keys that match and get the "
                         "others back as (missing_keys, unexpected_keys).")
        raise (StateDictShapeError if mismatched else CheckpointError)("\n".join(lines))
    return writes, IncompatibleKeys(missing, unexpected)
