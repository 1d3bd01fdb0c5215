"""Ways to make tensors: filled, ranged, or random (random ones take an explicit generator).

Every function here makes tensors of the dtypes minitl's policy admits (floating,
integer, bool): a dtype asked for, or one the data implies, outside it (object, str,
bytes, void, datetime, timedelta, complex) is a DTypeError naming the function and the
dtype (:func:`minitl.guards.supported_dtype`).
"""

from __future__ import annotations

import numpy as np

from .autograd import Tensor
from .errors import ArgumentError
from .guards import DEFAULT_FLOAT, as_array, as_dtype, supported_dtype


def tensor(data, requires_grad: bool = False, dtype=None, device=None) -> Tensor:
    """Make a leaf tensor.

    dtype rules (as in PyTorch): a NumPy float array keeps its dtype; Python
    floats and (nested) lists of floats become float32; integers stay integers
    (int64), which is what class targets should be; bools stay bool.
    The data is copied, so later changes to ``data`` do not reach the tensor.
    """
    array = as_array(data, dtype=dtype, device=device)
    if array is data or (isinstance(data, Tensor) and array is data.data):
        array = array.copy()
    return Tensor(array, requires_grad=requires_grad)


def _make(where, array, requires_grad, device):
    supported_dtype(where, array.dtype)
    if device is not None:
        array = as_array(array, device=device)
    return Tensor(array, requires_grad=requires_grad)


def _shape(name, shape) -> tuple:
    """``zeros(2, 3)`` or ``zeros((2, 3))`` as a tuple of sizes, each an integer >= 0."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for size in shape:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
            raise ArgumentError(f"{name}: the shape {shape} must be sizes that are integers "
                                f">= 0, got {size!r}")
    return tuple(int(size) for size in shape)


def zeros(*shape, dtype=DEFAULT_FLOAT, requires_grad=False, device=None) -> Tensor:
    return _make("zeros", np.zeros(_shape("zeros", shape), dtype=as_dtype("zeros", dtype)),
                 requires_grad, device)


def ones(*shape, dtype=DEFAULT_FLOAT, requires_grad=False, device=None) -> Tensor:
    return _make("ones", np.ones(_shape("ones", shape), dtype=as_dtype("ones", dtype)),
                 requires_grad, device)


def full(shape, value, dtype=DEFAULT_FLOAT, requires_grad=False, device=None) -> Tensor:
    shape = _shape("full", shape if isinstance(shape, (tuple, list)) else (shape,))
    return _make("full", np.full(shape, value, dtype=as_dtype("full", dtype)), requires_grad,
                 device)


def zeros_like(x: Tensor, requires_grad=False) -> Tensor:
    supported_dtype("zeros_like", x.dtype)
    return Tensor(x._xp.zeros_like(x.data), requires_grad=requires_grad)


def ones_like(x: Tensor, requires_grad=False) -> Tensor:
    supported_dtype("ones_like", x.dtype)
    return Tensor(x._xp.ones_like(x.data), requires_grad=requires_grad)


def arange(*args, dtype=None, device=None) -> Tensor:
    """Like ``numpy.arange``; integer arguments give int64, floats give float32.
    A step of 0 is an ArgumentError (NumPy divides by it)."""
    if len(args) == 3 and args[2] == 0:
        raise ArgumentError(f"arange: step must not be 0 (got arange{tuple(args)})")
    try:
        array = np.arange(*args)
    except (TypeError, ValueError, ZeroDivisionError) as exc:
        raise ArgumentError(f"arange{tuple(args)}: {exc}") from None
    if dtype is not None:
        array = array.astype(as_dtype("arange", dtype))
    elif array.dtype == np.float64:
        array = array.astype(DEFAULT_FLOAT)
    return _make("arange", array, False, device)


def _generator(rng):
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def randn(*shape, rng=None, dtype=DEFAULT_FLOAT, requires_grad=False, device=None) -> Tensor:
    """Standard normal samples from ``rng`` (a numpy Generator or a seed; None: unseeded)."""
    array = _generator(rng).standard_normal(_shape("randn", shape)).astype(
        as_dtype("randn", dtype))
    return _make("randn", array, requires_grad, device)


def rand(*shape, rng=None, dtype=DEFAULT_FLOAT, requires_grad=False, device=None) -> Tensor:
    """Uniform samples in [0, 1) from ``rng`` (a numpy Generator or a seed; None: unseeded)."""
    array = _generator(rng).random(_shape("rand", shape)).astype(as_dtype("rand", dtype))
    return _make("rand", array, requires_grad, device)
