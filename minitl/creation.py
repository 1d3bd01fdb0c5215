"""Ways to make tensors: filled, ranged, or random (random ones take an explicit generator)."""

from __future__ import annotations

import numpy as np

from .autograd import DEFAULT_FLOAT, Tensor, _as_array


def _make(array, requires_grad, device):
    if device is not None:
        array = _as_array(array, device=device)
    return Tensor(array, requires_grad=requires_grad)


def _shape(shape):
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape


def zeros(*shape, dtype=DEFAULT_FLOAT, requires_grad=False, device=None) -> Tensor:
    return _make(np.zeros(_shape(shape), dtype=dtype), requires_grad, device)


def ones(*shape, dtype=DEFAULT_FLOAT, requires_grad=False, device=None) -> Tensor:
    return _make(np.ones(_shape(shape), dtype=dtype), requires_grad, device)


def full(shape, value, dtype=DEFAULT_FLOAT, requires_grad=False, device=None) -> Tensor:
    return _make(np.full(shape, value, dtype=dtype), requires_grad, device)


def zeros_like(x: Tensor, requires_grad=False) -> Tensor:
    return Tensor(x._xp.zeros_like(x.data), requires_grad=requires_grad)


def ones_like(x: Tensor, requires_grad=False) -> Tensor:
    return Tensor(x._xp.ones_like(x.data), requires_grad=requires_grad)


def arange(*args, dtype=None, device=None) -> Tensor:
    """Like ``numpy.arange``; integer arguments give int64, floats give float32."""
    array = np.arange(*args)
    if dtype is not None:
        array = array.astype(dtype)
    elif array.dtype == np.float64:
        array = array.astype(DEFAULT_FLOAT)
    return _make(array, False, device)


def _generator(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def randn(*shape, rng=None, dtype=DEFAULT_FLOAT, requires_grad=False, device=None) -> Tensor:
    """Standard normal samples from ``rng`` (a numpy Generator or a seed; None: unseeded)."""
    array = _generator(rng).standard_normal(_shape(shape)).astype(dtype)
    return _make(array, requires_grad, device)


def rand(*shape, rng=None, dtype=DEFAULT_FLOAT, requires_grad=False, device=None) -> Tensor:
    """Uniform samples in [0, 1) from ``rng`` (a numpy Generator or a seed; None: unseeded)."""
    array = _generator(rng).random(_shape(shape)).astype(dtype)
    return _make(array, requires_grad, device)
