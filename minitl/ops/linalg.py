"""Matrix multiplication, the op that does nearly all of a network's arithmetic."""

from __future__ import annotations

from .. import backend
from ..autograd import Function
from ..errors import ShapeError
from ._dtypes import exact
from ._util import broadcast_shape


def _swap_last(m):
    return m.swapaxes(-1, -2)


class MatMul(Function):
    """y = a @ b with NumPy's rules: 1-D operands are promoted to a row (a) or a column (b),
    leading "batch" axes broadcast.

    For matrices, y[i, k] = Σⱼ a[i, j]·b[j, k], so
        ∂L/∂a = ∂L/∂y @ bᵀ        ∂L/∂b = aᵀ @ ∂L/∂y
    (check the shapes: (n, k)(k, m)ᵀ… every transpose is forced by them). Batch
    axes that were broadcast are summed back by the engine. A gradient is only
    computed for operands that need one: the input batch of a network never
    does, and skipping it saves a third of the work of a linear layer's backward.

    dtypes: exact arithmetic (``_dtypes.py``): integer matrices give integers, a float
    operand wins over an integer one, bool matrices alone are a DTypeError.
    """

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(f"matmul: operands must have at least 1 dimension, got shapes "
                             f"{a.shape} and {b.shape} (use * for scalars)")
        inner_a = a.shape[-1]
        inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if inner_a != inner_b:
            raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not align: "
                             f"{inner_a} (last axis of the first) != {inner_b} "
                             f"({'only' if b.ndim == 1 else 'second-to-last'} axis of the second)")
        broadcast_shape("matmul (batch axes)", a.shape[:-2], b.shape[:-2])
        a, b = exact("matmul", a, b)
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad_out):
        a, b = ctx.saved
        xp = backend.get_array_module(grad_out)
        # Promote 1-D operands to matrices so one pair of formulas covers every case.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = grad_out  # restore the axes that the promotions removed: column first, then row
        if b.ndim == 1:
            g = xp.expand_dims(g, -1)
        if a.ndim == 1:
            g = xp.expand_dims(g, -2)
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = g @ _swap_last(b2)
            if a.ndim == 1:
                grad_a = grad_a[..., 0, :]
        if ctx.needs_input_grad[1]:
            grad_b = _swap_last(a2) @ g
            if b.ndim == 1:
                grad_b = grad_b[..., :, 0]
        return grad_a, grad_b


def matmul(a, b):
    return MatMul.apply(a, b)
