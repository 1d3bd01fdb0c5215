"""Reductions: many inputs → one output along the given axes.

Every output element gathers a group of input elements, so backward sends the
output's gradient back to each member of its group, broadcast over the
reduced axes (``_expand`` restores the axes that ``keepdims=False`` removed, so
the broadcast lines up).

dtypes (see ``minitl/guards.py``): sum keeps integers and counts bools, accumulating in
64 bits as NumPy does (int32 → int64, uint8 → uint64); float16 sums and means
accumulate in float32 and return float16, as PyTorch does (in float16 alone,
2048 + 1 rounds back to 2048); max and min keep any dtype;
mean, var and std are real-valued and return float32 for integer or bool input
(so ``(pred == y).mean()`` is an accuracy). Empty groups: the sum of nothing is 0,
the mean of nothing is nan (0/0), while max, min, argmax and argmin of nothing and
var with no degrees of freedom are ShapeErrors. NaN propagates through every
reduction (max and min included); argmax and argmin return the first NaN's index.
"""

from __future__ import annotations

import numpy as np

from .. import guards
from ..autograd import Function, Tensor
from ..backend import get_array_module
from .elementwise import astype


def _expand(grad, axes, keepdims: bool):
    """Put back the reduced axes of ``grad`` as size-1 axes, ready to broadcast."""
    if keepdims or not axes:
        return grad
    shape = list(grad.shape)
    for a in axes:
        shape.insert(a, 1)
    return grad.reshape(shape)


def _accumulate(method, x, axes, keepdims):
    """``x.sum`` or ``x.mean`` over ``axes``; float16 accumulates in float32 and returns
    float16, as PyTorch does."""
    if x.dtype == np.float16:
        wide = getattr(x, method)(axis=axes, keepdims=keepdims, dtype=np.float32)
        return wide.astype(np.float16)
    return getattr(x, method)(axis=axes, keepdims=keepdims)


class Sum(Function):
    """y = Σ_{axes} x;  ∂y/∂x[i] = 1 for every i in the group, so ∂L/∂x = broadcast(∂L/∂y)."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        (x,) = guards.common("sum", x)
        axes = guards.axes("sum", axis, x.ndim)
        ctx.in_shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        return _accumulate("sum", x, axes, keepdims)

    @staticmethod
    def backward(ctx, grad_out):
        grad = _expand(grad_out, ctx.axes, ctx.keepdims)
        return get_array_module(grad).broadcast_to(grad, ctx.in_shape)


class Mean(Function):
    """y = (1/n) Σ_{axes} x with n the group size;  ∂y/∂x[i] = 1/n."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        (x,) = guards.real("mean", x)
        axes = guards.axes("mean", axis, x.ndim)
        ctx.in_shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        ctx.count = int(np.prod([x.shape[a] for a in axes]))
        return _accumulate("mean", x, axes, keepdims)

    @staticmethod
    def backward(ctx, grad_out):
        grad = _expand(grad_out, ctx.axes, ctx.keepdims) / (ctx.count or 1)  # 0: no element
        return get_array_module(grad).broadcast_to(grad, ctx.in_shape)


class Extreme(Function):
    """y = max (or min) over the axes;
    ∂y/∂x[i] = 1/k if x[i] is one of the k tied extremes, else 0.

    Sharing the gradient among ties keeps the backward a true (sub)gradient and
    makes it independent of element order (PyTorch's ``amax`` does the same).
    """

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False, largest=True):
        name = "max" if largest else "min"
        (x,) = guards.common(name, x)
        axes = guards.nonempty_axes(name, axis, x.shape)
        y = x.max(axis=axes, keepdims=True) if largest else x.min(axis=axes, keepdims=True)
        ctx.save_for_backward(x, y)
        ctx.axes, ctx.keepdims = axes, keepdims
        return y if keepdims else y.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    @staticmethod
    def backward(ctx, grad_out):
        x, y = ctx.saved
        hit = x == y
        count = hit.sum(axis=ctx.axes, keepdims=True)
        return hit * (_expand(grad_out, ctx.axes, ctx.keepdims) / count)


def sum(x, axis=None, keepdims=False):
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    return Mean.apply(x, axis=axis, keepdims=keepdims)


def max(x, axis=None, keepdims=False):
    return Extreme.apply(x, axis=axis, keepdims=keepdims, largest=True)


def min(x, axis=None, keepdims=False):
    return Extreme.apply(x, axis=axis, keepdims=keepdims, largest=False)


def var(x, axis=None, keepdims=False, ddof=0):
    """Σ (x − x̄)² / (n − ddof) over the axes, built from mean, sub, mul and sum, so its
    gradient 2(x − x̄)/(n − ddof) comes from theirs (the x̄ term's share cancels, since
    Σ(x − x̄) = 0). ddof=0 is NumPy's default and the biased variance BatchNorm uses;
    PyTorch's ``var`` defaults to the unbiased ddof=1. float16 works in float32: its
    squares overflow from |x − x̄| > 256 (NumPy's var widens too)."""
    x = x if isinstance(x, Tensor) else Tensor(guards.operand("var", x, []))
    axes = guards.degrees_of_freedom("var", axis, x.shape, ddof)
    work = astype(x, np.float32) if x.dtype == np.float16 else x
    centred = work - mean(work, axis=axes, keepdims=True)
    n = int(np.prod([x.shape[a] for a in axes]))
    y = sum(centred * centred, axis=axes, keepdims=keepdims) / (n - ddof)
    return astype(y, np.float16) if x.dtype == np.float16 else y


def std(x, axis=None, keepdims=False, ddof=0):
    """√var, built from the two differentiable ops. float16 goes through float32: its
    variance overflows long before its standard deviation does (std of [6e4, 0] = 3e4)."""
    if isinstance(x, Tensor) and x.dtype == np.float16:
        return astype(std(astype(x, np.float32), axis, keepdims, ddof), np.float16)
    return var(x, axis=axis, keepdims=keepdims, ddof=ddof) ** 0.5


def _arg_extreme(name, x, axis, keepdims):
    (data,) = guards.common(name, x.data if isinstance(x, Tensor) else x)
    axis = guards.arg_axis(name, axis, data.shape)
    found = data.argmax(axis=axis) if name == "argmax" else data.argmin(axis=axis)
    found = get_array_module(data).asarray(found, dtype=np.int64)
    if keepdims:  # NumPy's keepdims=True keeps every axis when axis is None
        found = found.reshape((1,) * data.ndim if axis is None else
                              data.shape[:axis] + (1,) + data.shape[axis + 1:])
    return Tensor(found)


def argmax(x, axis=None, keepdims=False):
    """Index of the largest value (an int64 tensor; not differentiable; the first NaN wins)."""
    return _arg_extreme("argmax", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    """Index of the smallest value (an int64 tensor; not differentiable)."""
    return _arg_extreme("argmin", x, axis, keepdims)
