"""Neural-network ops: softmax family, losses, linear, dropout.

The softmax family is computed with the log-sum-exp trick: subtracting the
row maximum m before exponentiating changes nothing mathematically
(eˣ⁻ᵐ / Σeˣ⁻ᵐ = eˣ / Σeˣ) but keeps every exponent ≤ 0, so logits of ±1e4
neither overflow nor underflow to a NaN.

dtypes (see ``_dtypes.py``): softmax, log_softmax and logsumexp are real-valued
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

from .. import backend
from ..autograd import Function, Tensor
from ..errors import ArgumentError, DTypeError, ShapeError
from ._dtypes import floating, like, real
from ._util import normalize_axes
from .elementwise import stable_sigmoid


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


def _scalar_as_row(fn, x, axis, **params):
    """Apply a softmax-family op to a 0-d tensor as to a row of one element."""
    if axis not in (0, -1):
        raise ShapeError(f"{fn.__name__}: axis {axis} is out of range for a 0-d tensor")
    from .shape import reshape

    out = fn.apply(reshape(x, (1,)), axis=0, **params)
    return reshape(out, ()) if out.ndim else out


class LogSumExp(Function):
    """y = log Σᵢ e^{xᵢ} along ``axis``;  ∂y/∂xᵢ = softmax(x)ᵢ.

    With m the row max, y = m + log Σᵢ e^{xᵢ − m}. The gradient is saved as
    e^{xᵢ − m}/Σ e^{xⱼ − m}, not recomputed as e^{xᵢ − y}: y ≈ 1e4 carries an absolute
    rounding error of eps·1e4 (1e-3 in float32), which e^{xᵢ − y} would turn into a
    relative error of 1e-3 in the gradient.
    """

    @staticmethod
    def forward(ctx, x, axis=-1, keepdims=False):
        (x,) = real("logsumexp", x)
        (axis,) = normalize_axes("logsumexp", (axis,), x.ndim)
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


class Softmax(Function):
    """yᵢ = e^{xᵢ} / Σⱼ e^{xⱼ};  ∂yᵢ/∂xⱼ = yᵢ(δᵢⱼ − yⱼ), so ∂L/∂x = y ⊙ (g − Σⱼ gⱼyⱼ)."""

    @staticmethod
    def forward(ctx, x, axis=-1):
        (x,) = real("softmax", x)
        (axis,) = normalize_axes("softmax", (axis,), x.ndim)
        e = backend.get_array_module(x).exp(x - _row_max(x, axis))  # NaN rows: see above
        y = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved
        return y * (grad_out - (grad_out * y).sum(axis=ctx.axis, keepdims=True))


class LogSoftmax(Function):
    """yᵢ = xᵢ − log Σⱼ e^{xⱼ};  ∂yᵢ/∂xⱼ = δᵢⱼ − softmax(x)ⱼ, so ∂L/∂x = g − softmax(x)·Σᵢ gᵢ."""

    @staticmethod
    def forward(ctx, x, axis=-1):
        (x,) = real("log_softmax", x)
        (axis,) = normalize_axes("log_softmax", (axis,), x.ndim)
        y = _log_softmax(x, axis)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, grad_out):
        (y,) = ctx.saved
        xp = backend.get_array_module(y)
        return grad_out - xp.exp(y) * grad_out.sum(axis=ctx.axis, keepdims=True)


def _check_class_targets(op_name, scores, targets):
    """Validate (N, C, d₁, …) scores against (N, d₁, …) integer class targets."""
    floating(op_name, "scores", scores)
    if not np.issubdtype(targets.dtype, np.integer):
        raise DTypeError(
            f"{op_name}: targets must be integer class indices, got dtype {targets.dtype} "
            "(convert with .long(), or use binary_cross_entropy_with_logits for 0/1 floats)"
        )
    if scores.ndim == 0:
        raise ShapeError(f"{op_name}: scores must have a class axis, got a 0-d tensor")
    expected = scores.shape[1:0] if scores.ndim == 1 else (scores.shape[0],) + scores.shape[2:]
    if targets.shape != expected:
        raise ShapeError(
            f"{op_name}: scores of shape {scores.shape} need targets of shape {expected}, "
            f"got {targets.shape}"
        )
    num_classes = scores.shape[0] if scores.ndim == 1 else scores.shape[1]
    bad = (targets < 0) | (targets >= num_classes)
    if bad.any():  # one reduction, and on a GPU a single device sync
        values = backend.to_numpy(targets[bad])[:5].tolist()
        raise ArgumentError(
            f"{op_name}: target values {values} are outside [0, {num_classes - 1}] for "
            f"{num_classes} classes"
        )


def _reduce(op_name, losses, reduction):
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ArgumentError(f"{op_name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


class NLLLoss(Function):
    """ℓₙ = −log_probs[n, targetₙ] (before reduction);
    ∂ℓₙ/∂log_probs[n, c] = −1 if c = targetₙ else 0.

    Scores are (N, C) or (N, C, d₁, …) with the class axis second, as in PyTorch.
    """

    @staticmethod
    def forward(ctx, log_probs, targets):
        _check_class_targets("nll_loss", log_probs, targets)
        xp = backend.get_array_module(log_probs)
        class_axis = 0 if log_probs.ndim == 1 else 1
        picked = xp.take_along_axis(log_probs, xp.expand_dims(targets, class_axis), class_axis)
        ctx.save_for_backward(targets)
        ctx.shape, ctx.class_axis = log_probs.shape, class_axis
        return -picked.squeeze(class_axis)

    @staticmethod
    def backward(ctx, grad_out):
        (targets,) = ctx.saved
        xp = backend.get_array_module(grad_out)
        classes = xp.arange(ctx.shape[ctx.class_axis]).reshape(
            (-1,) + (1,) * (len(ctx.shape) - ctx.class_axis - 1))
        one_hot = xp.expand_dims(targets, ctx.class_axis) == classes
        return -(one_hot * xp.expand_dims(grad_out, ctx.class_axis)), None


def nll_loss(log_probs, targets, reduction="mean"):
    """Negative log-likelihood of integer ``targets`` under ``log_probs`` (N, C, ...)."""
    return _reduce("nll_loss", NLLLoss.apply(log_probs, targets), reduction)


class CrossEntropy(Function):
    """Softmax cross-entropy, fused: one op from logits to loss.

    With p = softmax(x) over the class axis and ε = label smoothing (0: plain),
        ℓₙ = (1 − ε)·(−log pₙ[targetₙ]) + ε·(1/C)·Σ_c(−log pₙ[c]),
        ∂ℓₙ/∂xₙ = pₙ − ((1 − ε)·onehot(targetₙ) + ε/C).
    That gradient is why softmax and cross-entropy are always paired: the
    exponentials and logarithms cancel into "predicted minus wanted".
    ``log_softmax`` followed by ``nll_loss`` computes the same thing in two ops.
    """

    @staticmethod
    def forward(ctx, logits, targets, reduction="mean", label_smoothing=0.0):
        if reduction not in ("mean", "sum", "none"):
            raise ArgumentError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', "
                             f"got {reduction!r}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ArgumentError(f"cross_entropy: label_smoothing must be in [0, 1], "
                             f"got {label_smoothing}")
        _check_class_targets("cross_entropy", logits, targets)
        xp = backend.get_array_module(logits)
        axis = 0 if logits.ndim == 1 else 1
        log_p = _log_softmax(logits, axis)
        picked = xp.take_along_axis(log_p, xp.expand_dims(targets, axis), axis).squeeze(axis)
        losses = -picked
        if label_smoothing:
            losses = (1 - label_smoothing) * losses - label_smoothing * log_p.mean(axis=axis)
        ctx.save_for_backward(log_p, targets)
        ctx.axis, ctx.reduction, ctx.smoothing = axis, reduction, label_smoothing
        ctx.count = max(losses.size, 1)
        if reduction == "mean":
            return losses.mean()
        return losses.sum() if reduction == "sum" else losses

    @staticmethod
    def backward(ctx, grad_out):
        log_p, targets = ctx.saved
        xp = backend.get_array_module(log_p)
        axis, eps = ctx.axis, ctx.smoothing
        num_classes = log_p.shape[axis]
        classes = xp.arange(num_classes).reshape((-1,) + (1,) * (log_p.ndim - axis - 1))
        one_hot = xp.expand_dims(targets, axis) == classes
        grad = xp.exp(log_p)
        grad -= (1 - eps) * one_hot
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
    return CrossEntropy.apply(logits, targets, reduction=reduction,
                              label_smoothing=label_smoothing)


def _check_same_shape(op_name, a, b):
    a_shape = a.shape if hasattr(a, "shape") else ()
    b_shape = b.shape if hasattr(b, "shape") else ()
    if tuple(a_shape) != tuple(b_shape):
        raise ShapeError(f"{op_name}: input of shape {tuple(a_shape)} and target of shape "
                         f"{tuple(b_shape)} must match (broadcasting here is usually a bug)")


def _target_like(op_name, target, prediction):
    """A bool or integer target converted to the prediction's dtype (a constant)."""
    pred = prediction.data if isinstance(prediction, Tensor) else np.asarray(prediction)
    floating(op_name, "the input", pred)
    data = target.data if isinstance(target, Tensor) else target
    if hasattr(data, "dtype") and data.dtype.kind in "biu":
        return Tensor(like(op_name, data, pred))
    return target


class MSELoss(Function):
    """ℓ = (a − b)² elementwise, then reduced;  ∂ℓ/∂a = 2(a − b), ∂ℓ/∂b = −2(a − b)
    (divided by the number of elements for ``reduction="mean"``).

    One fused op rather than sub → mul → mean: the same arithmetic with a third
    of the bookkeeping, which dominates the cost of a small regression model.
    """

    @staticmethod
    def forward(ctx, a, b, reduction="mean"):
        floating("mse_loss", "the input", a)
        b = like("mse_loss", b, a)
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
        if ctx.reduction == "mean":
            grad_out = grad_out * (2.0 / max(diff.size, 1))
        else:
            grad_out = grad_out * 2.0
        grad_a = grad_out * diff
        return grad_a, (-grad_a if ctx.needs_input_grad[1] else None)


def mse_loss(input, target, reduction="mean"):  # noqa: A002 - PyTorch's name
    """Mean squared error, ℓ = (input − target)² (see :class:`MSELoss`).
    The input must be floating; a bool or integer target takes the input's dtype."""
    _check_same_shape("mse_loss", input, target)
    if reduction not in ("mean", "sum", "none"):
        raise ArgumentError(f"mse_loss: reduction must be 'mean', 'sum' or 'none', "
                            f"got {reduction!r}")
    return MSELoss.apply(input, target, reduction=reduction)


class BCEWithLogits(Function):
    """ℓ = −[y·log σ(x) + (1 − y)·log(1 − σ(x))],
    computed stably as max(x, 0) − x·y + log(1 + e^{−|x|}).

    ∂ℓ/∂x = σ(x) − y,   ∂ℓ/∂y = −x.
    """

    @staticmethod
    def forward(ctx, x, y):
        floating("binary_cross_entropy_with_logits", "logits", x)
        y = like("binary_cross_entropy_with_logits", y, x)
        xp = backend.get_array_module(x)
        ctx.save_for_backward(x, y)
        return xp.maximum(x, 0) - x * y + xp.log1p(xp.exp(-abs(x)))

    @staticmethod
    def backward(ctx, grad_out):
        x, y = ctx.saved
        grad_x = grad_out * (stable_sigmoid(x) - y) if ctx.needs_input_grad[0] else None
        grad_y = -grad_out * x if ctx.needs_input_grad[1] else None
        return grad_x, grad_y


def binary_cross_entropy_with_logits(logits, targets, reduction="mean"):
    """Binary cross-entropy on raw logits (no sigmoid needed first); shapes must match."""
    _check_same_shape("binary_cross_entropy_with_logits", logits, targets)
    return _reduce("binary_cross_entropy_with_logits", BCEWithLogits.apply(logits, targets),
                   reduction)


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
        floating("linear", "the input", x)
        floating("linear", "the weight", weight)
        if bias is not None:
            floating("linear", "the bias", bias)
        if weight.ndim != 2 or x.ndim < 1 or x.shape[-1] != weight.shape[1]:
            raise ShapeError(f"linear: input of shape {x.shape} does not fit weight of shape "
                             f"{weight.shape} (needs input.shape[-1] == weight.shape[1])")
        if bias is not None and bias.shape != (weight.shape[0],):
            raise ShapeError(f"linear: bias of shape {bias.shape} should be ({weight.shape[0]},)")
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
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not (
            0.0 <= p <= 1.0):
        raise ArgumentError(f"dropout: p must be a number in [0, 1], got {p!r}")
    floating("dropout", "the input", x.data if isinstance(x, Tensor) else np.asarray(x))
    if not training or p == 0.0:
        return x
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    keep = rng.random(x.shape) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    mask = backend.to_device((keep * scale).astype(x.dtype), x.device)
    return x * mask


def softmax(x, axis=-1):
    if getattr(x, "ndim", None) == 0:
        return _scalar_as_row(Softmax, x, axis)
    return Softmax.apply(x, axis=axis)


def log_softmax(x, axis=-1):
    if getattr(x, "ndim", None) == 0:
        return _scalar_as_row(LogSoftmax, x, axis)
    return LogSoftmax.apply(x, axis=axis)


def logsumexp(x, axis=-1, keepdims=False):
    if getattr(x, "ndim", None) == 0:
        return _scalar_as_row(LogSumExp, x, axis, keepdims=keepdims)
    return LogSumExp.apply(x, axis=axis, keepdims=keepdims)
