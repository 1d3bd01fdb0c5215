"""Reductions: many inputs → one output along the given axes.

Every output element gathers a group of input elements, so backward sends the
output's gradient back to each member of its group, broadcast over the
reduced axes (``expand_reduced`` restores the axes that ``keepdims=False``
removed, so the broadcast lines up).
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function, Tensor
from ..errors import ShapeError
from ._util import expand_reduced, normalize_axes


class Sum(Function):
    """y = Σ_{axes} x;  ∂y/∂x[i] = 1 for every i in the group, so ∂L/∂x = broadcast(∂L/∂y)."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = normalize_axes("sum", axis, x.ndim)
        ctx.in_shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        return x.sum(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad_out):
        xp = backend.get_array_module(grad_out)
        grad = expand_reduced(grad_out, ctx.in_shape, ctx.axes, ctx.keepdims)
        return xp.broadcast_to(grad, ctx.in_shape)


class Mean(Function):
    """y = (1/n) Σ_{axes} x with n the group size;  ∂y/∂x[i] = 1/n."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = normalize_axes("mean", axis, x.ndim)
        ctx.in_shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        ctx.count = int(np.prod([x.shape[a] for a in axes]))
        return x.mean(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad_out):
        xp = backend.get_array_module(grad_out)
        grad = expand_reduced(grad_out, ctx.in_shape, ctx.axes, ctx.keepdims)
        return xp.broadcast_to(grad / ctx.count, ctx.in_shape)


class Extreme(Function):
    """y = max (or min) over the axes;
    ∂y/∂x[i] = 1/k if x[i] is one of the k tied extremes, else 0.

    Sharing the gradient among ties keeps the backward a true (sub)gradient and
    makes it independent of element order (PyTorch's ``amax`` does the same).
    """

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False, largest=True):
        name = "max" if largest else "min"
        axes = normalize_axes(name, axis, x.ndim)
        if x.size == 0 or any(x.shape[a] == 0 for a in axes):
            raise ShapeError(f"{name}: cannot reduce an empty axis of a tensor of shape {x.shape}")
        y = x.max(axis=axes, keepdims=True) if largest else x.min(axis=axes, keepdims=True)
        ctx.save_for_backward(x, y)
        ctx.axes, ctx.keepdims = axes, keepdims
        return y if keepdims else y.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    @staticmethod
    def backward(ctx, grad_out):
        x, y = ctx.saved
        hit = x == y
        count = hit.sum(axis=ctx.axes, keepdims=True)
        grad = expand_reduced(grad_out, x.shape, ctx.axes, ctx.keepdims)
        return hit * (grad / count)


class Var(Function):
    """y = Σ (x − x̄)² / (n − ddof) over the axes;  ∂y/∂x[i] = 2(x[i] − x̄)/(n − ddof).

    (The x̄ term's own derivative cancels because Σ(x − x̄) = 0.) ddof=0 is
    NumPy's default, the biased variance BatchNorm uses; PyTorch's ``var``
    defaults to the unbiased ddof=1.
    """

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False, ddof=0):
        axes = normalize_axes("var", axis, x.ndim)
        n = int(np.prod([x.shape[a] for a in axes]))
        if n - ddof <= 0:
            raise ShapeError(f"var: {n} values per group with ddof={ddof} leave no degrees "
                             "of freedom")
        centred = x - x.mean(axis=axes, keepdims=True)
        ctx.save_for_backward(centred)
        ctx.axes, ctx.keepdims, ctx.denominator = axes, keepdims, n - ddof
        return (centred * centred).sum(axis=axes, keepdims=keepdims) / ctx.denominator

    @staticmethod
    def backward(ctx, grad_out):
        (centred,) = ctx.saved
        grad = expand_reduced(grad_out, centred.shape, ctx.axes, ctx.keepdims)
        return grad * (2 / ctx.denominator) * centred


def sum(x, axis=None, keepdims=False):  # noqa: A001 - NumPy/PyTorch name
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    return Mean.apply(x, axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims=False):  # noqa: A001
    return Extreme.apply(x, axis=axis, keepdims=keepdims, largest=True)


def min(x, axis=None, keepdims=False):  # noqa: A001
    return Extreme.apply(x, axis=axis, keepdims=keepdims, largest=False)


def var(x, axis=None, keepdims=False, ddof=0):
    return Var.apply(x, axis=axis, keepdims=keepdims, ddof=ddof)


def std(x, axis=None, keepdims=False, ddof=0):
    """√var, built from the two differentiable ops."""
    return var(x, axis=axis, keepdims=keepdims, ddof=ddof) ** 0.5


def argmax(x, axis=None, keepdims=False):
    """Index of the largest value (an int64 tensor; not differentiable)."""
    data = x.data if isinstance(x, Tensor) else x
    return Tensor(data.argmax(axis=axis, keepdims=keepdims).astype(np.int64))


def argmin(x, axis=None, keepdims=False):
    data = x.data if isinstance(x, Tensor) else x
    return Tensor(data.argmin(axis=axis, keepdims=keepdims).astype(np.int64))
