"""Elementwise ops: y[i] depends on x[i] alone (binary ops: on a[i] and b[i]).

For these the chain rule is a product: ∂L/∂x = ∂L/∂y · f'(x), elementwise.
Binary ops broadcast their operands like NumPy; the engine sums the gradient
back to each operand's shape (see ``autograd.unbroadcast``), so the backward
formulas below are written as if no broadcasting happened.

dtypes (the policy is in ``minitl/guards.py``): add, sub, mul, pow, neg, abs, relu and
clip are *exact* and keep integer dtypes; div, exp, log, sqrt, tanh, sigmoid,
leaky_relu and gelu are *real-valued* and turn integer or bool inputs into float32
(``int / int`` is a float, as in PyTorch). Arithmetic on bool tensors alone
(``mask + mask``, ``-mask``, ``relu(mask)``) is a DTypeError: convert first with
``.float()``; a bool mixed with numbers counts as 0/1.

Special values follow IEEE 754 and never raise: NaN propagates; x/0 = ±inf and
0/0 = NaN; log(0) = −inf and log(x < 0) = NaN; sqrt(0) = 0 with gradient +inf and
sqrt(x < 0) = NaN; exp overflows to inf. Activations take their limits at ±inf:
relu(−inf) = 0, sigmoid(±inf) = 1 or 0, gelu(−inf) = 0.
"""

from __future__ import annotations

import math

import numpy as np

from .. import guards
from ..autograd import Function, Tensor
from ..backend import erf, get_array_module

# ---------------------------------------------------------------- arithmetic


class Add(Function):
    """y = a + b;  ∂y/∂a = 1, ∂y/∂b = 1."""

    @staticmethod
    def forward(ctx, a, b):
        a, b = guards.exact("add", a, b)
        return a + b

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out, grad_out


class Sub(Function):
    """y = a − b;  ∂y/∂a = 1, ∂y/∂b = −1."""

    @staticmethod
    def forward(ctx, a, b):
        a, b = guards.exact("sub", a, b)
        return a - b

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out, -grad_out


class Mul(Function):
    """y = a · b;  ∂y/∂a = b, ∂y/∂b = a."""

    @staticmethod
    def forward(ctx, a, b):
        a, b = guards.exact("mul", a, b)
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

    Division by zero follows IEEE arithmetic as NumPy does (x/0 = ±inf, 0/0 = nan, no
    error). True division: integer operands give float32, as in PyTorch.
    """

    @staticmethod
    def forward(ctx, a, b):
        a, b = guards.real("div", a, b)
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad_out):
        a, b = ctx.saved
        grad_a = grad_out / b if ctx.needs_input_grad[0] else None
        grad_b = -grad_out * a / (b * b) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Pow(Function):
    """y = aᵇ;  ∂y/∂a = b·aᵇ⁻¹, ∂y/∂b = aᵇ·ln a (needs a > 0 where b requires a gradient).

    Edge cases, as in PyTorch: where b = 0, ∂y/∂a = 0 (a⁰ = 1 for every a; the formula
    gives 0·0⁻¹ = NaN at a = 0); where a = 0 and b ≥ 0, ∂y/∂b = 0 (0ᵇ is constant 0 for
    b > 0; the formula gives 0·(−inf) = NaN). At a = 0 with b < 0 (y = inf) and at
    a < 0 (ln a = NaN) the gradient with respect to b stays inf or NaN.

    Integers stay integers (2 ** 3 = 8); a negative integer power of an integer is an
    ArgumentError (use floats), as in PyTorch."""

    @staticmethod
    def forward(ctx, a, b):
        a, b = guards.power(a, b)
        y = a**b
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, grad_out):
        a, b, y = ctx.saved
        xp = get_array_module(a)
        grad_a = grad_b = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if ctx.needs_input_grad[0]:
                grad_a = grad_out * xp.where(b == 0, 0, b * a ** (b - 1))
            if ctx.needs_input_grad[1]:
                grad_b = grad_out * xp.where((a == 0) & (b >= 0), 0, y * xp.log(a))
        return grad_a, grad_b


class Neg(Function):
    """y = −x;  ∂y/∂x = −1."""

    @staticmethod
    def forward(ctx, x):
        (x,) = guards.exact("neg", x)
        return -x

    @staticmethod
    def backward(ctx, grad_out):
        return -grad_out


# ---------------------------------------------------------------- unary maths


class Exp(Function):
    """y = eˣ;  ∂y/∂x = eˣ = y."""

    @staticmethod
    def forward(ctx, x):
        (x,) = guards.real("exp", x)
        y = get_array_module(x).exp(x)
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
        (x,) = guards.real("log", x)
        ctx.save_for_backward(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return get_array_module(x).log(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved
        return grad_out / x


class Sqrt(Function):
    """y = √x;  ∂y/∂x = 1/(2√x) = 1/(2y).  At x = 0 the gradient is +inf."""

    @staticmethod
    def forward(ctx, x):
        (x,) = guards.real("sqrt", x)
        with np.errstate(invalid="ignore"):
            y = get_array_module(x).sqrt(x)
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
        (x,) = guards.exact("abs", x)
        ctx.save_for_backward(x)
        return get_array_module(x).abs(x)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved
        return grad_out * get_array_module(x).sign(x)


class Tanh(Function):
    """y = tanh x;  ∂y/∂x = 1 − y²."""

    @staticmethod
    def forward(ctx, x):
        (x,) = guards.real("tanh", x)
        y = get_array_module(x).tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved
        return grad_out * (1 - y * y)


def sigmoid_of(x):
    """σ(x) = 1/(1 + e⁻ˣ) on an array, accurate to a few ulps in both tails.

    For x ≪ 0, e⁻ˣ overflows to inf and 1/(1 + inf) = 0 is the right limit. The form
    ½(1 + tanh(x/2)), which never overflows, rounds σ(−40) to 0 in float64 (true value
    4.2e-18).
    """
    with np.errstate(over="ignore"):
        return 1 / (1 + get_array_module(x).exp(-x))


class Sigmoid(Function):
    """y = σ(x) = 1/(1 + e⁻ˣ);  ∂y/∂x = y(1 − y)."""

    @staticmethod
    def forward(ctx, x):
        (x,) = guards.real("sigmoid", x)
        y = sigmoid_of(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved
        return grad_out * y * (1 - y)


class ReLU(Function):
    """y = max(x, 0);  ∂y/∂x = 1 where x > 0, else 0.  relu(−inf) = 0, relu(nan) = nan.

    ``maximum``, not x·(x > 0), which gives −inf·0 = nan at x = −inf. y is saved rather
    than a mask: the next layer keeps it anyway, and y > 0 exactly where x > 0."""

    @staticmethod
    def forward(ctx, x):
        (x,) = guards.exact("relu", x)
        y = get_array_module(x).maximum(x, 0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved
        return grad_out * (y > 0)


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


class GELU(Function):
    """Gaussian error linear unit, y = x·Φ(x) with Φ the standard normal CDF.

    Exact form (``approximate="none"``, PyTorch's default):
        Φ(x) = ½(1 + erf(x/√2)),  ∂y/∂x = Φ(x) + x·φ(x),  φ(x) = e^(−x²/2)/√(2π).
    Tanh form (``approximate="tanh"``): y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³),
        ∂y/∂x = ½(1 + tanh u) + ½x(1 − tanh²u)·√(2/π)(1 + 3·0.044715x²).

    gelu(−inf) is 0, the limit (the formula alone would give −inf·0 = nan); its
    gradient at ±inf takes its limits too, 0 and 1.
    """

    @staticmethod
    def forward(ctx, x, approximate="none"):
        guards.choice("gelu", "approximate", approximate, ("none", "tanh"))
        (x,) = guards.real("gelu", x)
        xp = get_array_module(x)
        ctx.approximate = approximate
        ctx.save_for_backward(x)
        if approximate == "tanh":
            with np.errstate(over="ignore"):  # x³ overflows to ±inf: tanh is then ±1
                ctx.cdf = 0.5 * (1 + xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3)))
        else:
            ctx.cdf = 0.5 * (1 + erf(x / math.sqrt(2)))
        return xp.where(ctx.cdf == 0, 0, x * ctx.cdf)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved
        xp = get_array_module(x)
        with np.errstate(over="ignore", invalid="ignore"):
            if ctx.approximate == "tanh":  # ½(1 − tanh²u) = 2Φ(1 − Φ) with Φ = ½(1 + tanh u)
                bump, du = 2 * ctx.cdf * (1 - ctx.cdf), _SQRT_2_OVER_PI * (
                    1 + 3 * 0.044715 * x * x)
            else:
                bump, du = xp.exp(-0.5 * x * x) / math.sqrt(2 * math.pi), 1
            tail = xp.where(bump == 0, 0, x * bump * du)  # 0 at ±inf, where x·bump is inf·0
        return grad_out * (ctx.cdf + tail)


class Clip(Function):
    """y = min(max(x, lo), hi);  ∂y/∂x = 1 where lo ≤ x ≤ hi, else 0 (PyTorch's clamp rule).

    The bounds are numbers and take part in the dtype like Python scalars do: an
    integer tensor clipped to a float bound becomes float32. If lo > hi, y = hi.
    clip(nan) = nan."""

    @staticmethod
    def forward(ctx, x, min=None, max=None):
        x = guards.clip(x, min, max)
        xp = get_array_module(x)
        inside, y = xp.ones(x.shape, dtype=bool), x
        if min is not None:
            inside &= x >= min
            y = xp.maximum(y, xp.asarray(min, dtype=x.dtype))
        if max is not None:
            inside &= x <= max
            y = xp.minimum(y, xp.asarray(max, dtype=x.dtype))
        ctx.save_for_backward(inside)
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (inside,) = ctx.saved
        return grad_out * inside


class Where(Function):
    """y = a where cond else b;  ∂y/∂a = cond, ∂y/∂b = ¬cond (cond itself gets no gradient)."""

    @staticmethod
    def forward(ctx, cond, a, b):
        guards.condition("where", cond, a, b)
        a, b = guards.common("where", a, b)
        ctx.save_for_backward(cond)
        return get_array_module(a).where(cond, a, b)

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
# ``pow``, ``abs``, ``min`` and ``max`` shadow Python's built-ins on purpose: they are the
# names NumPy and PyTorch users expect (ruff's builtin-shadowing rules are not enabled).


def add(a, b):
    return Add.apply(a, b)


def sub(a, b):
    return Sub.apply(a, b)


def mul(a, b):
    return Mul.apply(a, b)


def div(a, b):
    return Div.apply(a, b)


def pow(a, b):
    return Pow.apply(a, b)


def neg(x):
    return Neg.apply(x)


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def sqrt(x):
    return Sqrt.apply(x)


def abs(x):
    return Abs.apply(x)


def tanh(x):
    return Tanh.apply(x)


def sigmoid(x):
    return Sigmoid.apply(x)


def relu(x):
    return ReLU.apply(x)


def leaky_relu(x, negative_slope: float = 0.01):
    """y = x for x > 0, else s·x: built from where and mul, so ∂y/∂x = 1 for x > 0, else s."""
    x = guards.as_tensor("leaky_relu", x)
    return where(x > 0, x, x * negative_slope)


def gelu(x, approximate: str = "none"):
    return GELU.apply(x, approximate=approximate)


def clip(x, min=None, max=None):
    return Clip.apply(x, min=min, max=max)


def where(cond, a, b):
    """Pick from ``a`` where ``cond`` is true, else from ``b`` (all three broadcast)."""
    return Where.apply(cond if isinstance(cond, Tensor) else Tensor(cond), a, b)


def astype(x, dtype):
    """x converted to ``dtype``; casting to an integer or bool dtype leaves the graph."""
    dtype = guards.cast_target("astype", x, dtype)
    if x.dtype == dtype:
        return x
    if dtype.kind != "f":
        return Tensor(x.data.astype(dtype))
    return Cast.apply(x, dtype=dtype)
