"""Small helpers shared by the layers: dtype and random-generator arguments."""

from __future__ import annotations

import numpy as np

from ..errors import DTypeError


def float_dtype(dtype) -> np.dtype:
    """``dtype`` as a NumPy floating dtype (float32 by default), or a DTypeError."""
    resolved = np.dtype(np.float32 if dtype is None else dtype)
    if not np.issubdtype(resolved, np.floating):
        raise DTypeError(f"layers hold floating-point weights; got dtype {resolved} "
                         "(use float32, or float64 for gradient checks)")
    return resolved


def as_generator(rng) -> np.random.Generator:
    """A ``numpy.random.Generator`` from ``rng``: a Generator (used as is, so its state
    advances), an int seed (a new generator seeded with it) or None (a fresh, unseeded one).

    minitl has no global random state: reproducibility comes from passing one
    Generator to every layer you build, e.g. ``rng = np.random.default_rng(0)``.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, "
                    f"got {type(rng).__name__}")


def pair(value, name: str, owner: str) -> tuple[int, int]:
    """An int or a pair of ints as a pair (kernel sizes, strides, paddings)."""
    result = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(result) != 2 or not all(isinstance(v, (int, np.integer)) for v in result):
        raise ValueError(f"{owner}: {name} must be an int or a pair of ints, got {value!r}")
    return int(result[0]), int(result[1])
