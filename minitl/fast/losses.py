"""Twins of two losses of ``minitl/ops/nn.py``: a fused ``mse_loss`` for small regression
models, and ``cross_entropy`` for rows of class scores.

The plain loss is built from sub, mul and mean: three ops, each with its own graph node
and temporaries. On the benchmark's tiny MLP (2-16-16-1, batch 32) that bookkeeping,
not the arithmetic, is the cost: fused, the step took 3.1× the hand-written NumPy one
instead of 3.9× (docs/SCIENCE.md, "Speed"). Same values and gradients as the plain loss
(``tests/test_fast_paths.py``).

The plain cross-entropy handles any layout (N, C, d₁, …) and label smoothing, so it
gathers with ``take_along_axis`` and builds a one-hot mask. For the common case, (N, C)
scores without smoothing, indexing ``[rows, targets]`` does both with less work; on the
784-256-256-10 MLP that bookkeeping is about a fifth of the step's overhead over NumPy
(docs/SCIENCE.md, "Speed"). Same bits as the plain op.
"""

from __future__ import annotations

from .. import backend, guards
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


class CrossEntropy(plain.CrossEntropy):
    """The plain op's formula (see :class:`minitl.ops.nn.CrossEntropy`); for (N, C) scores
    without label smoothing, ℓₙ = −log pₙ[targetₙ] is read as ``log_p[rows, targets]``
    and the gradient p − onehot made by subtracting 1 at ``[rows, targets]``. Any other
    case is left to the plain op."""

    @staticmethod
    def forward(ctx, logits, targets, reduction="mean", label_smoothing=0.0):
        ctx.rows = None
        if logits.ndim != 2 or label_smoothing or reduction == "none":
            return plain.CrossEntropy.forward(ctx, logits, targets, reduction, label_smoothing)
        guards.class_targets("cross_entropy", logits, targets, reduction, label_smoothing)
        log_p = plain._log_softmax(logits, 1)
        rows = backend.get_array_module(logits).arange(logits.shape[0])
        ctx.save_for_backward(log_p, targets)
        ctx.rows, ctx.reduction, ctx.count = rows, reduction, max(logits.shape[0], 1)
        return plain._reduce(-log_p[rows, targets], reduction)

    @staticmethod
    def backward(ctx, grad_out):
        if ctx.rows is None:
            return plain.CrossEntropy.backward(ctx, grad_out)
        log_p, targets = ctx.saved
        grad = backend.get_array_module(log_p).exp(log_p)
        grad[ctx.rows, targets] -= 1
        grad *= grad_out / ctx.count if ctx.reduction == "mean" else grad_out
        return grad, None


register(plain.CrossEntropy, CrossEntropy)
