"""Which array library holds the data: NumPy on the CPU, CuPy on an NVIDIA GPU.

minitl never asks "which device am I on?" through a global setting. Each op
looks at its input arrays and uses their module (``xp = get_array_module(x)``),
so *the data decides the device*. Tensors move only when asked to, with
``tensor.to("cuda")`` or ``module.to("cuda")``.

CuPy is optional. Its import is tried once; if it fails, the reason is kept
in ``CUPY_IMPORT_ERROR`` so that an error later can say why CUDA is missing.
"""

from __future__ import annotations

import numpy as np

from .errors import DeviceError

try:  # pragma: no cover - depends on the machine
    import cupy as _cupy

    _cupy.cuda.runtime.getDeviceCount()  # fails fast on a machine without a GPU/driver
    cupy = _cupy
    CUPY_IMPORT_ERROR: str | None = None
except Exception as exc:  # ImportError, or a CUDA runtime error
    cupy = None
    CUPY_IMPORT_ERROR = f"{type(exc).__name__}: {exc}"

DEVICES = ("cpu", "cuda")


def cupy_available() -> bool:
    """True when CuPy imported and found a GPU."""
    return cupy is not None


def require_cupy():
    """Return the cupy module, or raise a DeviceError that says how to get it."""
    if cupy is None:
        raise DeviceError(
            "CUDA is not available: CuPy could not be used "
            f"({CUPY_IMPORT_ERROR}). Install it with `pip install minitl[cuda12]` "
            "or `pip install minitl[cuda13]` on a machine with an NVIDIA GPU."
        )
    return cupy


def is_cupy_array(array) -> bool:
    return cupy is not None and isinstance(array, cupy.ndarray)


def get_array_module(*arrays):
    """NumPy or CuPy, whichever holds the given arrays (NumPy for plain Python values)."""
    for a in arrays:
        if is_cupy_array(a):
            return cupy
    return np


def device_of(array) -> str:
    """'cuda' for a CuPy array, 'cpu' for anything else."""
    return "cuda" if is_cupy_array(array) else "cpu"


def normalize_device(device) -> str:
    """Accept 'cpu', 'cuda', 'cuda:0' (one GPU: the index is ignored) and return 'cpu'|'cuda'."""
    name = str(device).split(":")[0].lower()
    if name not in DEVICES:
        raise DeviceError(f"unknown device {device!r}: use 'cpu' or 'cuda'")
    return name


def to_device(array, device):
    """Copy ``array`` to ``device`` ('cpu' or 'cuda'); return it unchanged if already there."""
    device = normalize_device(device)
    if device == "cuda":
        cp = require_cupy()
        return array if is_cupy_array(array) else cp.asarray(array)
    return array.get() if is_cupy_array(array) else np.asarray(array)


def to_numpy(array) -> np.ndarray:
    """A host NumPy array with the same values (copies from the GPU when needed)."""
    return array.get() if is_cupy_array(array) else np.asarray(array)


def add_at(target, index, values):
    """``target[index] += values``, adding once per occurrence of a repeated index (NumPy's
    ``add.at``; CuPy's ``scatter_add``). Plain ``+=`` would add only once."""
    if is_cupy_array(target):
        import cupyx

        cupyx.scatter_add(target, index, values)
    else:
        np.add.at(target, index, values)


def erf(array):
    """The error function, elementwise, in the array's own module.

    NumPy has no erf, and minitl keeps SciPy out of its dependencies, so on the
    CPU this applies ``math.erf`` (exact to double precision) element by element;
    it is slower than a ufunc but only GELU's exact form needs it. CuPy ships one.
    """
    if is_cupy_array(array):
        from cupyx.scipy.special import erf as cupy_erf

        return cupy_erf(array).astype(array.dtype, copy=False)  # float16 comes back float32
    import math

    out = np.frompyfunc(math.erf, 1, 1)(array)
    return np.asarray(out, dtype=array.dtype)
