"""The part of ``cupyx`` minitl uses, for the device double (see :mod:`cupy_double`):
``cupyx.scatter_add`` and ``cupyx.scipy.special.erf``."""

from __future__ import annotations

import math
import types

import numpy as np

from . import cupy_double as cp


def scatter_add(a, slices, value):
    """``a[slices] += value``, adding once per occurrence of a repeated index. As in CuPy,
    index arrays and ``value`` may come from the host (they are copied over)."""
    if not isinstance(a, cp.ndarray):
        raise TypeError(f"Unsupported type {type(a)}")
    values = value._host if isinstance(value, cp.ndarray) else value
    np.add.at(a._host, cp._index_arg(slices), values)


def erf(x):
    """``cupyx.scipy.special.erf``, a kernel with float32 and float64 loops ('f->f',
    'd->d'): float16 and small integers compute in float32, other integers in float64.
    The values are ``math.erf``'s (a GPU's erf may differ in the last bits)."""
    host = cp._kernel_arg(x)
    dtype = np.result_type(np.asarray(host).dtype, np.float32)
    out = np.frompyfunc(math.erf, 1, 1)(host)
    return cp._wrap(np.asarray(out, dtype=dtype))


scipy = types.SimpleNamespace(special=types.SimpleNamespace(erf=erf))
