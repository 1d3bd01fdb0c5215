"""Shape ops: they move values around without changing them.

Their backward passes move the gradient back the same way: reshape it back,
apply the inverse permutation, scatter it into the positions that were read.

dtypes: every dtype is moved as it is; concatenate and stack bring their inputs to
one dtype by the rules of ``minitl/guards.py`` (an int64 and a float32 tensor give float32).
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend, guards
from ..autograd import Function
from ..errors import ArgumentError


class Reshape(Function):
    """y = x viewed with a new shape (same values in C order);  ∂L/∂x = reshape(∂L/∂y, x.shape)."""

    @staticmethod
    def forward(ctx, x, shape=()):
        ctx.in_shape = x.shape
        return x.reshape(guards.reshape("reshape", x.shape, shape))

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out.reshape(ctx.in_shape)


class Permute(Function):
    """y = x with its axes reordered, y.shape[i] = x.shape[axes[i]];
    ∂L/∂x = ∂L/∂y permuted by the inverse permutation."""

    @staticmethod
    def forward(ctx, x, axes=None):
        # non-negative axes: the backward's argsort needs them (−1 must sort last, not first)
        ctx.axes = guards.permutation("permute", axes, x.shape)
        return x.transpose(ctx.axes)

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out.transpose(tuple(np.argsort(ctx.axes)))


class BroadcastTo(Function):
    """y = x repeated along new or size-1 axes;  ∂L/∂x = ∂L/∂y summed back (done by the engine)."""

    @staticmethod
    def forward(ctx, x, shape=()):
        guards.broadcastable_to("broadcast_to", x.shape, shape)
        return backend.get_array_module(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out  # autograd.unbroadcast sums it down to x.shape


class GetItem(Function):
    """y = x[index] (slices, integers, integer or boolean arrays);  ∂L/∂x = zeros with ∂L/∂y
    added at the positions that were read (added, not assigned: an integer array may read
    the same position twice, and each read contributes)."""

    @staticmethod
    def forward(ctx, x, index=None):
        guards.index("getitem", x.shape, index, backend.device_of(x))
        ctx.in_shape, ctx.index = x.shape, index
        return x[index]

    @staticmethod
    def backward(ctx, grad_out):
        grad = backend.get_array_module(grad_out).zeros(ctx.in_shape, dtype=grad_out.dtype)
        backend.add_at(grad, ctx.index, grad_out)
        return grad


class Concatenate(Function):
    """y = [x₁, x₂, …] joined along ``axis``;  ∂L/∂xₖ = the slice of ∂L/∂y that xₖ filled."""

    @staticmethod
    def forward(ctx, *xs, axis=0):
        ctx.axis = axis = guards.joined("concatenate", xs, axis)
        ctx.splits = np.cumsum([x.shape[axis] for x in xs])[:-1]
        return backend.get_array_module(*xs).concatenate(guards.common("concatenate", *xs), axis)

    @staticmethod
    def backward(ctx, grad_out):
        xp = backend.get_array_module(grad_out)
        return tuple(xp.split(grad_out, ctx.splits, axis=ctx.axis))


class ToDevice(Function):
    """y = x copied to another device;  ∂L/∂x = ∂L/∂y copied back."""

    @staticmethod
    def forward(ctx, x, device="cpu"):
        ctx.source = backend.device_of(x)
        return backend.to_device(x, device)

    @staticmethod
    def backward(ctx, grad_out):
        return backend.to_device(grad_out, ctx.source)


# ---------------------------------------------------------------- public functions


def reshape(x, *shape):
    """``x.reshape(2, -1)`` or ``x.reshape((2, -1))``."""
    return Reshape.apply(x, shape=guards.sizes(shape))


def permute(x, *axes):
    """Reorder all axes: ``x.permute(0, 2, 3, 1)`` turns NCHW into NHWC."""
    return Permute.apply(x, axes=guards.sizes(axes))


def transpose(x, dim0=None, dim1=None):
    """Swap two axes (PyTorch's ``transpose(dim0, dim1)``); with no axes, reverse them all."""
    return Permute.apply(x, axes=guards.swapped_axes("transpose", dim0, dim1, x.ndim))


def broadcast_to(x, shape):
    return BroadcastTo.apply(x, shape=tuple(shape))


def flatten(x, start_dim=0, end_dim=-1):
    """Merge axes start_dim..end_dim into one (PyTorch's ``flatten``)."""
    start, end = guards.flatten_range("flatten", start_dim, end_dim, x.ndim)
    merged = math.prod(x.shape[start:end + 1])  # a 0-d tensor flattens to (1,)
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


def squeeze(x, axis=None):
    """Drop axes of size 1 (all of them, or those named)."""
    axes = guards.size_one_axes("squeeze", axis, x.shape)
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(x, axis):
    """Insert a size-1 axis at position ``axis`` (negative counts from the new end)."""
    axis = guards.axis("unsqueeze", axis, x.ndim + 1)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def getitem(x, index):
    return GetItem.apply(x, index=guards.index_arrays(index))


def concatenate(tensors, axis=0):
    tensors = list(tensors)
    if not tensors:
        raise ArgumentError("concatenate: needs at least one tensor")
    return Concatenate.apply(*tensors, axis=axis)


cat = concatenate


def stack(tensors, axis=0):
    """The tensors joined along a new ``axis``: built from unsqueeze and concatenate, so
    ∂L/∂xₖ = ∂L/∂y taken at index k of that axis comes from theirs."""
    tensors = [guards.as_tensor("stack", t) for t in tensors]
    if not tensors:
        raise ArgumentError("stack: needs at least one tensor")
    guards.same_device("stack", tensors)
    axis = guards.joined("stack", [t.data for t in tensors], axis, new_axis=True)
    return concatenate([unsqueeze(t, axis) for t in tensors], axis=axis)


def to(x, device=None, dtype=None):
    """``x`` on ``device`` and/or as ``dtype`` (a new tensor; the graph follows it).
    Like ``Module.to``: ``x.to("cuda")``, ``x.to(np.float64)``, ``x.to("float64")``."""
    from .elementwise import astype

    device, dtype = guards.to_arguments("to", device, dtype)
    out = x
    if device is not None and device != x.device:
        out = ToDevice.apply(out, device=device)
    if dtype is not None:
        out = astype(out, dtype)
    return out
