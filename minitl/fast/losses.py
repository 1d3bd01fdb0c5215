"""A fused twin of ``mse_loss`` (``minitl/ops/nn.py``), for small regression models.

The plain loss is built from sub, mul and mean: three ops, each with its own graph node
and temporaries. On the benchmark's tiny MLP (2-16-16-1, batch 32) that bookkeeping,
not the arithmetic, is the cost: fused, the step took 3.1× the hand-written NumPy one
instead of 3.9× (docs/SCIENCE.md, "Speed"). Same values and gradients as the plain loss
(``tests/test_fast_paths.py``).
"""

from __future__ import annotations

from .. import guards
from ..autograd import Function
from ..ops import nn as plain
from . import register


class MSELoss(Function):
    """ℓ = (a − b)² elementwise, then reduced;  ∂ℓ/∂a = 2(a − b), ∂ℓ/∂b = −2(a − b)
    (divided by the number of elements for ``reduction="mean"``)."""

    @staticmethod
    def forward(ctx, a, b, reduction="mean"):
        diff = a - b
        ctx.save_for_backward(diff)
        ctx.reduction = reduction
        squared = diff * diff
        if reduction == "mean":
            return squared.mean()
        return squared.sum() if reduction == "sum" else squared

    @staticmethod
    def backward(ctx, grad_out):
        (diff,) = ctx.saved
        scale = 2.0 / max(diff.size, 1) if ctx.reduction == "mean" else 2.0
        grad_a = grad_out * scale * diff
        return grad_a, (-grad_a if ctx.needs_input_grad[1] else None)


def mse_loss(prediction, target, reduction="mean"):
    """Like :func:`minitl.ops.nn.mse_loss` (whose checks it shares), in one op."""
    prediction, target = guards.loss_operands("mse_loss", prediction, target, reduction)
    return MSELoss.apply(prediction, target, reduction=reduction)


register(plain.mse_loss_composite, mse_loss)
