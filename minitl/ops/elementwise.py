"""Elementwise ops: y[i] depends on x[i] alone (binary ops: on a[i] and b[i]).

For these the chain rule is a product: ∂L/∂x = ∂L/∂y · f'(x), elementwise.
Binary ops broadcast their operands like NumPy; the engine sums the gradient
back to each operand's shape (see ``autograd.unbroadcast``), so the backward
formulas below are written as if no broadcasting happened.
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..autograd import Function, Tensor
from ..errors import ArgumentError, DTypeError
from ._util import broadcast_shape

# ---------------------------------------------------------------- arithmetic


class Add(Function):
    """y = a + b;  ∂y/∂a = 1, ∂y/∂b = 1."""

    @staticmethod
    def forward(ctx, a, b):
        broadcast_shape("add", a.shape, b.shape)
        return a + b

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out, grad_out


class Sub(Function):
    """y = a − b;  ∂y/∂a = 1, ∂y/∂b = −1."""

    @staticmethod
    def forward(ctx, a, b):
        broadcast_shape("sub", a.shape, b.shape)
        return a - b

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out, -grad_out


class Mul(Function):
    """y = a · b;  ∂y/∂a = b, ∂y/∂b = a."""

    @staticmethod
    def forward(ctx, a, b):
        broadcast_shape("mul", a.shape, b.shape)
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad_out):
        a, b = ctx.saved
        grad_a = grad_out * b if ctx.needs_input_grad[0] else None
        grad_b = grad_out * a if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Div(Function):
    """y = a / b;  ∂y/∂a = 1/b, ∂y/∂b = −a/b².

    Division by zero follows IEEE arithmetic as NumPy does (±inf or nan, no error).
    """

    @staticmethod
    def forward(ctx, a, b):
        broadcast_shape("div", a.shape, b.shape)
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad_out):
        a, b = ctx.saved
        grad_a = grad_out / b if ctx.needs_input_grad[0] else None
        grad_b = -grad_out * a / (b * b) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Pow(Function):
    """y = aᵇ;  ∂y/∂a = b·aᵇ⁻¹, ∂y/∂b = aᵇ·ln a (needs a > 0 where b requires a gradient)."""

    @staticmethod
    def forward(ctx, a, b):
        broadcast_shape("pow", a.shape, b.shape)
        y = a**b
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, grad_out):
        a, b, y = ctx.saved
        xp = backend.get_array_module(a)
        grad_a = grad_out * b * a ** (b - 1) if ctx.needs_input_grad[0] else None
        grad_b = grad_out * y * xp.log(a) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Neg(Function):
    """y = −x;  ∂y/∂x = −1."""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad_out):
        return -grad_out


# ---------------------------------------------------------------- unary maths


class Exp(Function):
    """y = eˣ;  ∂y/∂x = eˣ = y."""

    @staticmethod
    def forward(ctx, x):
        y = backend.get_array_module(x).exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved
        return grad_out * y


class Log(Function):
    """y = ln x;  ∂y/∂x = 1/x.  log(0) = −inf and log(x<0) = nan, as in NumPy."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return backend.get_array_module(x).log(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved
        return grad_out / x


class Sqrt(Function):
    """y = √x;  ∂y/∂x = 1/(2√x) = 1/(2y).  At x = 0 the gradient is +inf."""

    @staticmethod
    def forward(ctx, x):
        with np.errstate(invalid="ignore"):
            y = backend.get_array_module(x).sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved
        with np.errstate(divide="ignore"):
            return grad_out / (2 * y)


class Abs(Function):
    """y = |x|;  ∂y/∂x = sign(x) (0 at x = 0, as in PyTorch)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return backend.get_array_module(x).abs(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved
        return grad_out * backend.get_array_module(x).sign(x)


class Tanh(Function):
    """y = tanh x;  ∂y/∂x = 1 − y²."""

    @staticmethod
    def forward(ctx, x):
        y = backend.get_array_module(x).tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved
        return grad_out * (1 - y * y)


def stable_sigmoid(x):
    """σ(x) = 1/(1 + e⁻ˣ), computed as ½(1 + tanh(x/2)) so no exp can overflow."""
    xp = backend.get_array_module(x)
    return 0.5 * (1 + xp.tanh(0.5 * x))


class Sigmoid(Function):
    """y = σ(x) = 1/(1 + e⁻ˣ);  ∂y/∂x = y(1 − y)."""

    @staticmethod
    def forward(ctx, x):
        y = stable_sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved
        return grad_out * y * (1 - y)


class ReLU(Function):
    """y = max(x, 0);  ∂y/∂x = 1 where x > 0, else 0."""

    @staticmethod
    def forward(ctx, x):
        mask = x > 0
        ctx.save_for_backward(mask)
        # Multiplying by the mask is much faster than np.where / copyto(where=).
        return x * mask

    @staticmethod
    def backward(ctx, grad_out):
        (mask,) = ctx.saved
        return grad_out * mask


class LeakyReLU(Function):
    """y = x for x > 0, else s·x;  ∂y/∂x = 1 for x > 0, else s."""

    @staticmethod
    def forward(ctx, x, negative_slope=0.01):
        slope = backend.get_array_module(x).where(x > 0, 1, negative_slope).astype(x.dtype)
        ctx.save_for_backward(slope)
        return x * slope

    @staticmethod
    def backward(ctx, grad_out):
        (slope,) = ctx.saved
        return grad_out * slope


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


class GELU(Function):
    """Gaussian error linear unit, y = x·Φ(x) with Φ the standard normal CDF.

    Exact form (``approximate="none"``, PyTorch's default):
        Φ(x) = ½(1 + erf(x/√2)),  ∂y/∂x = Φ(x) + x·φ(x),  φ(x) = e^(−x²/2)/√(2π).
    Tanh form (``approximate="tanh"``): y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³),
        ∂y/∂x = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²).
    """

    @staticmethod
    def forward(ctx, x, approximate="none"):
        xp = backend.get_array_module(x)
        ctx.approximate = approximate
        ctx.save_for_backward(x)
        if approximate == "tanh":
            t = xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3))
            ctx.t = t
            return 0.5 * x * (1 + t)
        if approximate != "none":
            raise ArgumentError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        cdf = 0.5 * (1 + backend.erf(x / math.sqrt(2)))
        ctx.cdf = cdf
        return x * cdf

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved
        xp = backend.get_array_module(x)
        if ctx.approximate == "tanh":
            t = ctx.t
            du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return grad_out * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)
        pdf = xp.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return grad_out * (ctx.cdf + x * pdf)


class Clip(Function):
    """y = min(max(x, lo), hi);  ∂y/∂x = 1 where lo ≤ x ≤ hi, else 0 (PyTorch's clamp rule)."""

    @staticmethod
    def forward(ctx, x, min=None, max=None):
        if min is None and max is None:
            raise ArgumentError("clip: give at least one of min and max")
        xp = backend.get_array_module(x)
        inside = xp.ones(x.shape, dtype=bool)
        if min is not None:
            inside &= x >= min
        if max is not None:
            inside &= x <= max
        ctx.save_for_backward(inside)
        lo = -np.inf if min is None else min
        hi = np.inf if max is None else max
        return xp.clip(x, lo, hi).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad_out):
        (inside,) = ctx.saved
        return grad_out * inside


class Where(Function):
    """y = a where cond else b;  ∂y/∂a = cond, ∂y/∂b = ¬cond (cond itself gets no gradient)."""

    @staticmethod
    def forward(ctx, cond, a, b):
        if cond.dtype != bool:
            raise DTypeError(f"where: the condition must be boolean, got dtype {cond.dtype}")
        broadcast_shape("where", cond.shape, a.shape, b.shape)
        ctx.save_for_backward(cond)
        return backend.get_array_module(a).where(cond, a, b)

    @staticmethod
    def backward(ctx, grad_out):
        (cond,) = ctx.saved
        grad_a = grad_out * cond if ctx.needs_input_grad[1] else None
        grad_b = grad_out * ~cond if ctx.needs_input_grad[2] else None
        return None, grad_a, grad_b


class Cast(Function):
    """y = x converted to another dtype;  ∂y/∂x = 1 (the gradient is cast back by the engine)."""

    @staticmethod
    def forward(ctx, x, dtype=None):
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out


# ---------------------------------------------------------------- public functions


def add(a, b):
    return Add.apply(a, b)


def sub(a, b):
    return Sub.apply(a, b)


def mul(a, b):
    return Mul.apply(a, b)


def div(a, b):
    return Div.apply(a, b)


def pow(a, b):  # noqa: A001 - the name users expect
    return Pow.apply(a, b)


def neg(x):
    return Neg.apply(x)


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def sqrt(x):
    return Sqrt.apply(x)


def abs(x):  # noqa: A001
    return Abs.apply(x)


def tanh(x):
    return Tanh.apply(x)


def sigmoid(x):
    return Sigmoid.apply(x)


def relu(x):
    return ReLU.apply(x)


def leaky_relu(x, negative_slope: float = 0.01):
    return LeakyReLU.apply(x, negative_slope=negative_slope)


def gelu(x, approximate: str = "none"):
    return GELU.apply(x, approximate=approximate)


def clip(x, min=None, max=None):  # noqa: A002 - NumPy/PyTorch names
    return Clip.apply(x, min=min, max=max)


def where(cond, a, b):
    """Pick from ``a`` where ``cond`` is true, else from ``b`` (both broadcast)."""
    if not isinstance(cond, Tensor):
        cond = Tensor(cond) if not isinstance(cond, bool) else Tensor(np.asarray(cond))
    return Where.apply(cond, a, b)


def astype(x, dtype):
    """x converted to ``dtype``; casting to an integer or bool dtype leaves the graph."""
    if not isinstance(x, Tensor):
        raise ArgumentError(f"astype expects a Tensor, got {type(x).__name__}")
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    if not np.issubdtype(dtype, np.floating):
        return Tensor(x.data.astype(dtype))
    return Cast.apply(x, dtype=dtype)
