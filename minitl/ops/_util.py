"""Small checks shared by the ops: shapes and axes, with errors that name the op."""

from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, ShapeError


def broadcast_shape(op_name: str, *shapes) -> tuple:
    """The shape NumPy broadcasting gives ``shapes``, or a ShapeError naming ``op_name``."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        listed = " and ".join(str(tuple(s)) for s in shapes)
        raise ShapeError(
            f"{op_name}: shapes {listed} cannot be broadcast together (trailing dimensions "
            "must be equal or 1)"
        ) from None


def normalize_axes(op_name: str, axis, ndim: int) -> tuple:
    """``axis`` (None, int or tuple, negatives allowed) as a sorted tuple of non-negative axes.

    As in PyTorch, a 0-d tensor accepts axis 0 and -1 (and reduces nothing)."""
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(axis) if isinstance(axis, (tuple, list, range)) else (axis,)
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise ArgumentError(f"{op_name}: axis must be an integer (or a tuple of them), "
                                f"got {a!r} of type {type(a).__name__}")
        if not -max(ndim, 1) <= a < max(ndim, 1):  # a 0-d tensor has axes 0 and -1
            raise ShapeError(f"{op_name}: axis {a} is out of range for a {ndim}-d tensor")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ShapeError(f"{op_name}: repeated axis in {axis}")
    return tuple(sorted(out)) if ndim else ()


def expand_reduced(grad, in_shape, axes, keepdims: bool):
    """Put back the reduced axes of ``grad`` as size-1 axes, ready to broadcast to ``in_shape``."""
    if keepdims or not axes:
        return grad
    shape = list(grad.shape)
    for a in axes:
        shape.insert(a, 1)
    return grad.reshape(shape)
