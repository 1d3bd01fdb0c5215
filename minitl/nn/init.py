"""Weight initialisation, in place, with an explicit random generator.

Every function fills ``tensor.data`` in place (the Parameter object stays the
same, so an optimizer holding it is unaffected), writes values in the
tensor's own dtype and on its own device, and returns the tensor, like
``torch.nn.init``. Random draws come from ``rng``: a ``numpy.random.Generator``,
an int seed, or None for a fresh unseeded generator. There is no global seed.

Why the scales? A layer y = W x sums ``fan_in`` products. If the wᵢ have
variance σ² and the inputs unit variance, y has variance fan_in·σ², so keeping
activations from growing or vanishing through depth asks for σ² ∝ 1/fan_in
(Kaiming/He, for ReLU-like nets) or σ² = 2/(fan_in + fan_out) (Xavier/Glorot,
which balances the forward and the backward pass). A uniform U(−b, b) has
variance b²/3, which is where the √3 in the bounds below comes from.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..autograd import Tensor
from ._utils import as_generator

__all__ = [
    "calculate_gain", "constant_", "fan_in_and_fan_out", "kaiming_normal_", "kaiming_uniform_",
    "normal_", "ones_", "uniform_", "xavier_normal_", "xavier_uniform_", "zeros_",
]


def _write(tensor: Tensor, values) -> Tensor:
    """Copy host ``values`` into ``tensor.data`` in place (cast to its dtype, on its device)."""
    host = np.asarray(values, dtype=tensor.dtype)
    tensor.data[...] = backend.to_device(host, tensor.device)
    tensor._bump_version()
    return tensor


def fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight: Linear (out, in) → (in, out); Conv2d (out, in, kh, kw)
    → (in·kh·kw, out·kh·kw), i.e. how many inputs feed one output and vice versa."""
    if tensor.ndim < 2:
        raise ValueError(f"fan in/out needs a weight with at least 2 dimensions, got shape "
                         f"{tensor.shape}")
    receptive = int(np.prod(tensor.shape[2:])) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The factor that keeps activations' variance steady through ``nonlinearity``:
    1 for linear/sigmoid, 5/3 for tanh, √2 for relu, √(2/(1 + a²)) for leaky_relu with slope a."""
    if nonlinearity in ("linear", "identity", "conv2d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1.0 + slope * slope))
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, *, rng=None) -> Tensor:
    """Fill with samples from U(a, b)."""
    return _write(tensor, as_generator(rng).uniform(a, b, size=tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, *, rng=None) -> Tensor:
    """Fill with samples from N(mean, std²)."""
    return _write(tensor, as_generator(rng).normal(mean, std, size=tensor.shape))


def constant_(tensor: Tensor, value: float) -> Tensor:
    """Fill with one value."""
    return _write(tensor, np.full(tensor.shape, value))


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0 (biases, BatchNorm/LayerNorm shifts)."""
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1 (BatchNorm/LayerNorm scales)."""
    return constant_(tensor, 1.0)


def _kaiming_std(tensor, a, mode, nonlinearity):
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", *, rng=None) -> Tensor:
    """Fill with U(−b, b), b = gain·√(3/fan). PyTorch's Linear and Conv2d use a = √5, for
    which gain = √(1/3) and so b = 1/√fan_in."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, rng=rng)


def layer_default_(weight: Tensor, bias: Tensor | None, *, rng=None) -> None:
    """PyTorch's default for Linear and Conv2d: the weight from kaiming_uniform_ with
    a = √5, i.e. U(±1/√fan_in), then the bias (if any) from U(±1/√fan_in) too."""
    kaiming_uniform_(weight, a=math.sqrt(5), rng=rng)
    if bias is not None:
        bound = 1.0 / math.sqrt(fan_in_and_fan_out(weight)[0])
        uniform_(bias, -bound, bound, rng=rng)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", *, rng=None) -> Tensor:
    """Fill with N(0, σ²), σ = gain/√fan."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), rng=rng)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, *, rng=None) -> Tensor:
    """Fill with U(−b, b), b = gain·√(6/(fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, rng=rng)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, *, rng=None) -> Tensor:
    """Fill with N(0, σ²), σ = gain·√(2/(fan_in + fan_out))."""
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng=rng)
