"""Matrix multiplication, the op that does nearly all of a network's arithmetic."""

from __future__ import annotations

from .. import guards
from ..autograd import Function


class MatMul(Function):
    """y = a @ b with NumPy's rules: 1-D operands are promoted to a row (a) or a column (b),
    leading "batch" axes broadcast.

    For matrices, y[i, k] = Σⱼ a[i, j]·b[j, k], so
        ∂L/∂a = ∂L/∂y @ bᵀ        ∂L/∂b = aᵀ @ ∂L/∂y
    (check the shapes: (n, k)(k, m)ᵀ… every transpose is forced by them). Batch
    axes that were broadcast are summed back by the engine. A gradient is only
    computed for operands that need one: the input batch of a network never
    does, and skipping it saves a third of the work of a linear layer's backward.

    dtypes: exact arithmetic (``minitl/guards.py``): integer matrices give integers, a float
    operand wins over an integer one, bool matrices alone are a DTypeError.
    """

    @staticmethod
    def forward(ctx, a, b):
        a, b = guards.matmul(a, b)
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad_out):
        a, b = ctx.saved
        # Promote 1-D operands to matrices so one pair of formulas covers every case.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = grad_out  # restore the axes that the promotions removed: column first, then row
        if b.ndim == 1:
            g = g[..., None]
        if a.ndim == 1:
            g = g[..., None, :]
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = g @ b2.swapaxes(-1, -2)
            if a.ndim == 1:
                grad_a = grad_a[..., 0, :]
        if ctx.needs_input_grad[1]:
            grad_b = a2.swapaxes(-1, -2) @ g
            if b.ndim == 1:
                grad_b = grad_b[..., :, 0]
        return grad_a, grad_b


def matmul(a, b):
    return MatMul.apply(a, b)
