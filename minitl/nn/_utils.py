"""Small helpers shared by the layers: dtype and random-generator arguments, the arguments
of ``Module.to``, and the checks of a layer's input (errors that name the layer and shapes)."""

from __future__ import annotations

import numpy as np

from ..autograd import Tensor
from ..errors import ArgumentError, DTypeError, ShapeError
from ..guards import to_arguments


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


def weight_and_bias(module, weight_shape, bias: bool, dtype, rng):
    """Give ``module`` a ``weight`` of ``weight_shape`` and, if ``bias``, a ``bias`` with one
    value per output (``weight_shape[0]``), both floating ``dtype``; then draw them with
    ``module.reset_parameters(rng)``. Without a bias, ``module.bias`` is None."""
    from .parameter import Parameter

    dtype = float_dtype(dtype)
    module.weight = Parameter(np.zeros(weight_shape, dtype=dtype))
    if bias:
        module.bias = Parameter(np.zeros(weight_shape[0], dtype=dtype))
    else:
        module.register_parameter("bias", None)
    module.reset_parameters(rng)


def layer_name(module) -> str:
    """``Linear(in_features=4, out_features=3, bias=True)``: how errors name a layer."""
    return f"{type(module).__name__}({module.extra_repr()})"


def input_array(x):
    """The array behind a layer's input (a Tensor, a NumPy/CuPy array or nested lists)."""
    if isinstance(x, Tensor):
        return x.data
    return x if hasattr(x, "shape") and hasattr(x, "dtype") else np.asarray(x)


def checked_call(check_input, op, x, *args, **kwargs):
    """``op(x, *args, **kwargs)``, with the op's own guard as the only check on the happy
    path. When the op refuses its input, ``check_input(x)`` (the layer's checks) runs
    before the op's error is let through, so that a fault the layer knows how to describe
    is reported in the layer's name ("Linear(in_features=3, ...): expected input of shape
    (*, 3)"). Checking both on every call cost 5–15 µs per layer call."""
    try:
        return op(x, *args, **kwargs)
    except (ShapeError, DTypeError, ArgumentError):
        check_input(x)
        raise


def check_floating_input(module, x):
    """A DTypeError naming the layer unless its input ``x`` is floating point.

    Layers with weights or statistics, the pools and Dropout compute in floating
    point; an integer or bool input is almost always a bug (images left as uint8,
    class indices passed as features). Convert with ``.float()``.
    """
    dtype = input_array(x).dtype
    if dtype.kind != "f":
        raise DTypeError(f"{layer_name(module)}: expected a floating-point input, got dtype "
                         f"{dtype} (convert with .float())")


def check_spatial(module, shape, kernel, padding):
    """A ShapeError naming the layer if a kernel (with its padding) does not fit H × W."""
    for side, k, p in zip(shape[2:], kernel, padding):
        if side + 2 * p < k:
            raise ShapeError(f"{layer_name(module)}: expected an input whose H × W is at least "
                             f"the kernel {tuple(kernel)} after padding {tuple(padding)}, got "
                             f"shape {tuple(shape)}")


def parse_to_args(device, dtype):
    """``to("cuda")``, ``to(np.float64)``, ``to("float64")``, ``to(device=..., dtype=...)``
    (read by :func:`minitl.guards.to_arguments`); a Module casts to floating dtypes only."""
    device, dtype = to_arguments("Module.to", device, dtype)
    if dtype is not None and not np.issubdtype(dtype, np.floating):
        raise DTypeError(f"Module.to casts only to floating dtypes, got {dtype} "
                         "(integer buffers such as num_batches_tracked keep their dtype)")
    return device, dtype
