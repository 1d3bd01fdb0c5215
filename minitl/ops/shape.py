"""Shape ops: they move values around without changing them.

Their backward passes move the gradient back the same way: reshape it back,
apply the inverse permutation, scatter it into the positions that were read.

dtypes: every dtype is moved as it is; concatenate and stack bring their inputs to
one dtype by the rules of ``_dtypes.py`` (an int64 and a float32 tensor give float32).
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function, Tensor
from ..errors import ArgumentError, IndexingError, ShapeError
from ._dtypes import common
from ._util import broadcast_shape, normalize_axes


class Reshape(Function):
    """y = x viewed with a new shape (same values in C order);  ∂L/∂x = reshape(∂L/∂y, x.shape)."""

    @staticmethod
    def forward(ctx, x, shape=()):
        ctx.in_shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ShapeError(f"reshape: cannot reshape a tensor of shape {x.shape} "
                             f"({x.size} values) into {tuple(shape)}") from None

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out.reshape(ctx.in_shape)


class Permute(Function):
    """y = x with its axes reordered, y.shape[i] = x.shape[axes[i]];
    ∂L/∂x = ∂L/∂y permuted by the inverse permutation."""

    @staticmethod
    def forward(ctx, x, axes=None):
        ndim = x.ndim
        if axes is None:
            axes = tuple(reversed(range(ndim)))
        # non-negative axes: the backward's argsort needs them (−1 must sort last, not first)
        normal = tuple(int(a) % ndim if -ndim <= a < ndim else -1 for a in axes)
        if sorted(normal) != list(range(ndim)):
            raise ShapeError(f"permute: {tuple(axes)} is not a permutation of the "
                             f"{ndim} axes of a tensor of shape {x.shape}")
        ctx.axes = normal
        return x.transpose(normal)

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out.transpose(tuple(np.argsort(ctx.axes)))


class BroadcastTo(Function):
    """y = x repeated along new or size-1 axes;  ∂L/∂x = ∂L/∂y summed back (done by the engine)."""

    @staticmethod
    def forward(ctx, x, shape=()):
        shape = tuple(shape)
        if broadcast_shape("broadcast_to", x.shape, shape) != shape:
            raise ShapeError(f"broadcast_to: a tensor of shape {x.shape} cannot be broadcast "
                             f"to {shape}")
        return backend.get_array_module(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad_out):
        return grad_out  # autograd.unbroadcast sums it down to x.shape


def _index_data(index):
    """Replace Tensors inside an index by their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(_index_data(i) for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


class GetItem(Function):
    """y = x[index] (slices, integers, integer or boolean arrays);  ∂L/∂x = zeros with ∂L/∂y
    added at the positions that were read (added, not assigned: an integer array may read
    the same position twice, and each read contributes)."""

    @staticmethod
    def forward(ctx, x, index=None):
        ctx.in_shape, ctx.index = x.shape, index
        try:
            return x[index]
        except IndexError as exc:
            raise IndexingError(f"getitem: index {index!r} does not fit a tensor of shape "
                             f"{x.shape}: {exc}") from None

    @staticmethod
    def backward(ctx, grad_out):
        xp = backend.get_array_module(grad_out)
        grad = xp.zeros(ctx.in_shape, dtype=grad_out.dtype)
        if xp is np:
            np.add.at(grad, ctx.index, grad_out)
        else:  # CuPy's scatter_add plays the role of np.add.at
            import cupyx

            cupyx.scatter_add(grad, ctx.index, grad_out)
        return grad


class Concatenate(Function):
    """y = [x₁, x₂, …] joined along ``axis``;  ∂L/∂xₖ = the slice of ∂L/∂y that xₖ filled."""

    @staticmethod
    def forward(ctx, *xs, axis=0):
        xp = backend.get_array_module(*xs)
        ref = xs[0]
        if ref.ndim == 0:
            raise ShapeError("concatenate: 0-d tensors cannot be concatenated; use stack")
        axis = normalize_axes("concatenate", axis, ref.ndim)[0]
        for x in xs[1:]:
            if x.ndim != ref.ndim or any(
                a != b for i, (a, b) in enumerate(zip(x.shape, ref.shape)) if i != axis
            ):
                raise ShapeError(f"concatenate: shapes {[tuple(x.shape) for x in xs]} differ "
                                 f"outside axis {axis}")
        ctx.axis = axis
        ctx.splits = np.cumsum([x.shape[axis] for x in xs])[:-1]
        return xp.concatenate(common("concatenate", *xs), axis=axis)

    @staticmethod
    def backward(ctx, grad_out):
        xp = backend.get_array_module(grad_out)
        return tuple(xp.split(grad_out, ctx.splits, axis=ctx.axis))


class Stack(Function):
    """y = the xₖ stacked along a new ``axis``;  ∂L/∂xₖ = ∂L/∂y taken at index k of that axis."""

    @staticmethod
    def forward(ctx, *xs, axis=0):
        xp = backend.get_array_module(*xs)
        if any(x.shape != xs[0].shape for x in xs):
            raise ShapeError(f"stack: all shapes must be equal, got {[tuple(x.shape) for x in xs]}")
        ctx.axis = normalize_axes("stack", axis, xs[0].ndim + 1)[0]
        return xp.stack(common("stack", *xs), axis=ctx.axis)

    @staticmethod
    def backward(ctx, grad_out):
        xp = backend.get_array_module(grad_out)
        return tuple(xp.moveaxis(grad_out, ctx.axis, 0))


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
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Reshape.apply(x, shape=tuple(int(s) for s in shape))


def permute(x, *axes):
    """Reorder all axes: ``x.permute(0, 2, 3, 1)`` turns NCHW into NHWC."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return Permute.apply(x, axes=tuple(int(a) for a in axes))


def transpose(x, dim0=None, dim1=None):
    """Swap two axes (PyTorch's ``transpose(dim0, dim1)``); with no axes, reverse them all."""
    if dim0 is None and dim1 is None:
        return Permute.apply(x, axes=None)
    if dim0 is None or dim1 is None:
        raise ArgumentError("transpose: give two axes to swap, or none to reverse all axes")
    if x.ndim == 0:  # axes 0 and -1 of a 0-d tensor: nothing to swap (PyTorch's rule)
        normalize_axes("transpose", (dim0,), 0), normalize_axes("transpose", (dim1,), 0)
        return Permute.apply(x, axes=())
    dim0, dim1 = normalize_axes("transpose", (dim0,), x.ndim)[0], normalize_axes(
        "transpose", (dim1,), x.ndim)[0]
    axes = list(range(x.ndim))
    axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    return Permute.apply(x, axes=tuple(axes))


def broadcast_to(x, shape):
    return BroadcastTo.apply(x, shape=tuple(shape))


def flatten(x, start_dim=0, end_dim=-1):
    """Merge axes start_dim..end_dim into one (PyTorch's ``flatten``)."""
    if x.ndim == 0:  # a 0-d tensor flattens to (1,); its only axes are 0 and -1
        normalize_axes("flatten", (start_dim,), 0), normalize_axes("flatten", (end_dim,), 0)
        return reshape(x, (1,))
    start, end = (normalize_axes("flatten", (d,), x.ndim)[0] for d in (start_dim, end_dim))
    if start > end:
        raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    merged = int(np.prod(x.shape[start:end + 1]))
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


def squeeze(x, axis=None):
    """Drop axes of size 1 (all of them, or those named)."""
    if axis is None:
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1)
    else:
        axes = normalize_axes("squeeze", axis, x.ndim)
        for a in axes:
            if x.shape[a] != 1:
                raise ShapeError(f"squeeze: axis {a} of shape {x.shape} has size {x.shape[a]}, "
                                 "not 1")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(x, axis):
    """Insert a size-1 axis at position ``axis`` (negative counts from the new end)."""
    axis = normalize_axes("unsqueeze", (axis,), x.ndim + 1)[0]
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def getitem(x, index):
    return GetItem.apply(x, index=_index_data(index))


def concatenate(tensors, axis=0):
    tensors = list(tensors)
    if not tensors:
        raise ArgumentError("concatenate: needs at least one tensor")
    return Concatenate.apply(*tensors, axis=axis)


cat = concatenate


def stack(tensors, axis=0):
    tensors = list(tensors)
    if not tensors:
        raise ArgumentError("stack: needs at least one tensor")
    return Stack.apply(*tensors, axis=axis)


def to(x, device=None, dtype=None):
    """``x`` on ``device`` and/or as ``dtype`` (a new tensor; the graph follows it)."""
    from .elementwise import astype

    out = x
    if device is not None and backend.normalize_device(device) != x.device:
        out = ToDevice.apply(out, device=backend.normalize_device(device))
    if dtype is not None:
        out = astype(out, dtype)
    return out
