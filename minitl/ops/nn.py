"""Neural-network ops: softmax family, losses, linear, dropout.

The softmax family is computed with the log-sum-exp trick: subtracting the
row maximum m before exponentiating changes nothing mathematically
(eˣ⁻ᵐ / Σeˣ⁻ᵐ = eˣ / Σeˣ) but keeps every exponent ≤ 0, so logits of ±1e4
neither overflow nor underflow to a NaN.

dtypes (see ``minitl/guards.py``): softmax, log_softmax and logsumexp are real-valued
(integer or bool input becomes float32). The losses, ``linear`` and ``dropout`` need
floating-point scores and inputs (DTypeError otherwise); class targets must be
integers; ``mse_loss`` and ``binary_cross_entropy_with_logits`` convert bool or
integer targets to the prediction's dtype.

Special values, row by row along the softmax axis (PyTorch's behaviour):
−inf logits are masked out (probability 0, log-probability −inf); a row containing
NaN or +inf, or made only of −inf, has a NaN softmax and log_softmax. logsumexp is
NaN if the row has a NaN, else +inf if it has a +inf, and −inf for a row of only
−inf or an empty row. A 0-d input counts as a row of one element. The mean
reduction of a loss over an empty batch is NaN (0/0), as in PyTorch.
"""

from __future__ import annotations

import numpy as np

from .. import backend, fast, guards
from ..autograd import Function, Tensor
from ..errors import ShapeError
from .elementwise import exp, sigmoid_of
from .shape import reshape


def _row_max(x, axis):
    """max along ``axis`` (keepdims); −inf for an empty row, where NumPy would raise."""
    if x.shape[axis] == 0:
        shape = x.shape[:axis] + (1,) + x.shape[axis + 1:]
        return backend.get_array_module(x).full(shape, -np.inf, dtype=x.dtype)
    return x.max(axis=axis, keepdims=True)


def _log_softmax(x, axis):
    """x − logsumexp(x), shifting by the row max m so every exponent is ≤ 0.

    Unlike in LogSumExp, m is not sanitised: a row with NaN or +inf, or of only
    −inf, gives x − m = NaN and so a NaN row (PyTorch's behaviour)."""
    xp = backend.get_array_module(x)
    shifted = x - _row_max(x, axis)  # NumPy warns of inf − inf in such rows: NaN is right
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


def _one_hot(targets, num_classes, axis):
    """A bool array, True at [..., targetₙ (along ``axis``), ...]."""
    xp = backend.get_array_module(targets)
    classes = xp.arange(num_classes).reshape((-1,) + (1,) * (targets.ndim - axis))
    return xp.expand_dims(targets, axis) == classes


def _scalar_as_row(fn, x, axis, **params):
    """Apply a softmax-family op to a 0-d tensor as to a row of one element."""
    if axis not in (0, -1):
        raise ShapeError(f"{fn.__name__}: axis {axis} is out of range for a 0-d tensor")
    out = fn.apply(reshape(x, (1,)), axis=0, **params)
    return reshape(out, ()) if out.ndim else out


def _reduce(losses, reduction):
    return losses.mean() if reduction == "mean" else losses.sum() if reduction == "sum" \
        else losses


class LogSumExp(Function):
    """y = log Σᵢ e^{xᵢ} along ``axis``;  ∂y/∂xᵢ = softmax(x)ᵢ.

    With m the row max, y = m + log Σᵢ e^{xᵢ − m}. The gradient is saved as
    e^{xᵢ − m}/Σ e^{xⱼ − m}, not recomputed as e^{xᵢ − y}: y ≈ 1e4 carries an absolute
    rounding error of eps·1e4 (1e-3 in float32), which e^{xᵢ − y} would turn into a
    relative error of 1e-3 in the gradient.
    """

    @staticmethod
    def forward(ctx, x, axis=-1, keepdims=False):
        (x,) = guards.real("logsumexp", x)
        axis = guards.axis("logsumexp", axis, x.ndim)
        xp = backend.get_array_module(x)
        m = _row_max(x, axis)
        m = xp.where(xp.isfinite(m), m, 0)  # an all −inf row stays −inf instead of becoming NaN
        # log(0) = −inf for a row of −inf; its softmax 0/0 and a +inf row's are NaN: intended
        with np.errstate(divide="ignore", invalid="ignore"):
            e = xp.exp(x - m)
            total = e.sum(axis=axis, keepdims=True)
            lse = m + xp.log(total)
            ctx.save_for_backward(e / total)
        ctx.axis, ctx.keepdims = axis, keepdims
        return lse if keepdims else lse.squeeze(axis)

    @staticmethod
    def backward(ctx, grad_out):
        (softmax,) = ctx.saved
        xp = backend.get_array_module(softmax)
        grad = grad_out if ctx.keepdims else xp.expand_dims(grad_out, ctx.axis)
        return grad * softmax


class LogSoftmax(Function):
    """yᵢ = xᵢ − log Σⱼ e^{xⱼ};  ∂yᵢ/∂xⱼ = δᵢⱼ − softmax(x)ⱼ, so ∂L/∂x = g − softmax(x)·Σᵢ gᵢ."""

    @staticmethod
    def forward(ctx, x, axis=-1):
        (x,) = guards.real("log_softmax", x)
        axis = guards.axis("log_softmax", axis, x.ndim)
        y = _log_softmax(x, axis)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved
        xp = backend.get_array_module(y)
        return grad_out - xp.exp(y) * grad_out.sum(axis=ctx.axis, keepdims=True)


class NLLLoss(Function):
    """ℓₙ = −log_probs[n, targetₙ] (before reduction);
    ∂ℓₙ/∂log_probs[n, c] = −1 if c = targetₙ else 0.

    Scores are (N, C) or (N, C, d₁, …) with the class axis second, as in PyTorch.
    """

    @staticmethod
    def forward(ctx, log_probs, targets, reduction="mean"):
        guards.class_targets("nll_loss", log_probs, targets, reduction)
        xp = backend.get_array_module(log_probs)
        ctx.axis = axis = 0 if log_probs.ndim == 1 else 1
        ctx.save_for_backward(targets)
        ctx.num_classes = log_probs.shape[axis]
        picked = xp.take_along_axis(log_probs, xp.expand_dims(targets, axis), axis)
        return -picked.squeeze(axis)

    @staticmethod
    def backward(ctx, grad_out):
        (targets,) = ctx.saved
        one_hot = _one_hot(targets, ctx.num_classes, ctx.axis)
        return -(one_hot * backend.get_array_module(grad_out).expand_dims(grad_out, ctx.axis)), None


def nll_loss(log_probs, targets, reduction="mean"):
    """Negative log-likelihood of integer ``targets`` under ``log_probs`` (N, C, ...)."""
    return _reduce(NLLLoss.apply(log_probs, targets, reduction=reduction), reduction)


class CrossEntropy(Function):
    """Softmax cross-entropy, fused: one op from logits to loss.

    With p = softmax(x) over the class axis and ε = label smoothing (0: plain),
        ℓₙ = (1 − ε)·(−log pₙ[targetₙ]) + ε·(1/C)·Σ_c(−log pₙ[c]),
        ∂ℓₙ/∂xₙ = pₙ − ((1 − ε)·onehot(targetₙ) + ε/C).
    That gradient is why softmax and cross-entropy are always paired: the
    exponentials and logarithms cancel into "predicted minus wanted". Written as
    one op for that formula (``log_softmax`` followed by ``nll_loss`` computes the
    same thing in two ops, and is how the tests check it).
    """

    @staticmethod
    def forward(ctx, logits, targets, reduction="mean", label_smoothing=0.0):
        guards.class_targets("cross_entropy", logits, targets, reduction, label_smoothing)
        xp = backend.get_array_module(logits)
        axis = 0 if logits.ndim == 1 else 1
        log_p = _log_softmax(logits, axis)
        losses = -xp.take_along_axis(log_p, xp.expand_dims(targets, axis), axis).squeeze(axis)
        if label_smoothing:
            losses = (1 - label_smoothing) * losses - label_smoothing * log_p.mean(axis=axis)
        ctx.save_for_backward(log_p, targets)
        ctx.axis, ctx.reduction, ctx.smoothing = axis, reduction, label_smoothing
        ctx.count = max(losses.size, 1)
        return _reduce(losses, reduction)

    @staticmethod
    def backward(ctx, grad_out):
        log_p, targets = ctx.saved
        xp = backend.get_array_module(log_p)
        axis, eps = ctx.axis, ctx.smoothing
        num_classes = log_p.shape[axis]
        grad = xp.exp(log_p)
        grad -= (1 - eps) * _one_hot(targets, num_classes, axis)
        if eps and num_classes:  # no classes (an empty batch): nothing to smooth over
            grad -= eps / num_classes
        if ctx.reduction == "none":
            return grad * xp.expand_dims(grad_out, axis), None
        scale = grad_out / ctx.count if ctx.reduction == "mean" else grad_out
        return grad * scale, None


def cross_entropy(logits, targets, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy of raw ``logits`` (N, C, ...) against integer ``targets`` (N, ...).

    ``label_smoothing`` ε mixes the one-hot target with the uniform distribution:
    the wanted distribution becomes (1 − ε)·onehot + ε/C. See :class:`CrossEntropy`.
    """
    op = fast.select(CrossEntropy)  # or its rows-of-scores twin in fast/losses.py
    return op.apply(logits, targets, reduction=reduction,
                    label_smoothing=label_smoothing)


def mse_loss_composite(input, target, reduction="mean"):
    """ℓ = (input − target)², then reduced, built from sub, mul and mean: the gradient
    2(input − target) (÷ n for the mean) comes from theirs."""
    input, target = guards.loss_operands("mse_loss", input, target, reduction)
    diff = input - target
    return _reduce(diff * diff, reduction)


def mse_loss(input, target, reduction="mean"):
    """Mean squared error (see :func:`mse_loss_composite`); the input must be floating, a
    bool or integer target takes the input's dtype, shapes must match."""
    return fast.select(mse_loss_composite)(input, target, reduction)  # fused: fast/losses.py


class BCEWithLogits(Function):
    """ℓ = −[y·log σ(x) + (1 − y)·log(1 − σ(x))] = max(x, 0) − x·y + log(1 + e^{−|x|});
    ∂ℓ/∂x = σ(x) − y,   ∂ℓ/∂y = −x.

    One op rather than a composite: built from primitives, the stable form's |x| has a
    kink at 0 (the composite's gradient there is −y, not ½ − y), and the smooth
    logsumexp form loses log1p's precision in float16 (1.3135 for 1.3132 at x = 1).
    """

    @staticmethod
    def forward(ctx, x, y):
        xp = backend.get_array_module(x)
        ctx.save_for_backward(x, y)
        return xp.maximum(x, 0) - x * y + xp.log1p(xp.exp(-abs(x)))

    @staticmethod
    def backward(ctx, grad_out):
        x, y = ctx.saved
        grad_x = grad_out * (sigmoid_of(x) - y) if ctx.needs_input_grad[0] else None
        grad_y = -grad_out * x if ctx.needs_input_grad[1] else None
        return grad_x, grad_y


def binary_cross_entropy_with_logits(logits, targets, reduction="mean"):
    """Binary cross-entropy on raw logits (no sigmoid needed first); shapes must match.
    A bool or integer target takes the logits' dtype."""
    x, y = guards.loss_operands("binary_cross_entropy_with_logits", logits, targets,
                                reduction)
    return _reduce(BCEWithLogits.apply(x, y), reduction)


class Linear(Function):
    """y = x Wᵀ + b, with W of shape (out_features, in_features) as in PyTorch.

    Flattening every leading axis of x into one batch axis (rows X, gradient rows G):
        ∂L/∂x = G W,    ∂L/∂W = Gᵀ X,    ∂L/∂b = Σ_rows G.
    One fused op instead of transpose → matmul → add: the same arithmetic with a
    third of the bookkeeping, which is most of the cost of a small network. The
    input's gradient is skipped when the input needs none (the data batch never does).
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        guards.linear(x, weight, bias)
        ctx.save_for_backward(x, weight)
        y = x @ weight.T
        if bias is not None:
            if bias.dtype == y.dtype:
                y += bias
            else:  # e.g. float16 input and weight with a float32 bias
                y = y + bias
        return y

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved
        needs = ctx.needs_input_grad
        rows = grad_out.reshape(-1, weight.shape[0])
        grad_x = grad_out @ weight if needs[0] else None
        grad_w = rows.T @ x.reshape(-1, weight.shape[1]) if needs[1] else None
        if len(needs) == 2:
            return grad_x, grad_w
        return grad_x, grad_w, (rows.sum(axis=0) if needs[2] else None)


def linear(x, weight, bias=None):
    """y = x @ weightᵀ + bias (see :class:`Linear`)."""
    if bias is None:
        return Linear.apply(x, weight)
    return Linear.apply(x, weight, bias)


def dropout(x, p=0.5, training=True, rng=None):
    """Zero each element with probability p and scale survivors by 1/(1 − p) (inverted dropout).

    The expectation is unchanged, so nothing needs rescaling at evaluation time,
    when dropout is the identity. ``rng`` is a ``numpy.random.Generator`` (or a
    seed); without one, a fresh unseeded generator is used, so pass one for
    reproducible runs. The mask is drawn on the host and moved to the data's device.
    The input must be floating point (DTypeError otherwise). Dropping multiplies by 0,
    so a dropped ±inf or NaN becomes NaN (IEEE's 0·inf, as in PyTorch).
    """
    guards.number_in("dropout", "p", p, 0, 1)
    guards.floating("dropout", ("the input", x.data if isinstance(x, Tensor) else np.asarray(x)))
    if not training or p == 0.0:
        return x
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    keep = rng.random(x.shape) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    mask = backend.to_device((keep * scale).astype(x.dtype), x.device)
    return x * mask


def softmax(x, axis=-1):
    """yᵢ = e^{xᵢ} / Σⱼ e^{xⱼ} = exp(log_softmax(x)ᵢ): built from those two ops, so
    ∂yᵢ/∂xⱼ = yᵢ(δᵢⱼ − yⱼ) comes from theirs (rows with NaN or +inf are NaN, as above)."""
    return exp(log_softmax(x, axis=axis))


def log_softmax(x, axis=-1):
    if getattr(x, "ndim", None) == 0:
        return _scalar_as_row(LogSoftmax, x, axis)
    return LogSoftmax.apply(x, axis=axis)


def logsumexp(x, axis=-1, keepdims=False):
    if getattr(x, "ndim", None) == 0:
        return _scalar_as_row(LogSumExp, x, axis, keepdims=keepdims)
    return LogSumExp.apply(x, axis=axis, keepdims=keepdims)
