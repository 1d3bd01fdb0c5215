"""Gradient clipping by global norm."""

from __future__ import annotations

import math

import numpy as np

from ..autograd import Tensor

__all__ = ["clip_grad_norm_"]


def clip_grad_norm_(parameters, max_norm: float, eps: float = 1e-6) -> float:
    """Scale all gradients together so that their global L2 norm is at most ``max_norm``.

    The global norm is ‖g‖ = √(Σ over parameters Σ over elements g²), every
    gradient counted as one long vector. When ‖g‖ > ``max_norm`` every gradient
    is multiplied by ``max_norm / (‖g‖ + eps)``, which keeps the direction of
    the update and bounds its size (a guard against exploding gradients).

    ``parameters`` is one tensor or an iterable of them (``model.parameters()``);
    those whose ``.grad`` is None, or that are frozen (``requires_grad`` False),
    are ignored. A parameter in an optimizer group flagged ``"frozen"`` still gets
    gradients from backward; to leave them out of the norm, pass
    ``optimizer.trainable_params()``. Clipped gradients are new Tensors
    assigned to ``p.grad``; the old gradient arrays are not written into (they
    may be shared). Returns the norm before clipping, as a Python float. When it
    is inf or nan the gradients are left as they are, so the caller can detect it
    and skip the step.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    if isinstance(parameters, (set, frozenset)):
        raise TypeError("clip_grad_norm_: pass a list of parameters, not a set")
    max_norm = float(max_norm)
    if not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm}")
    with_grads = [p for p in parameters if p.grad is not None and p.requires_grad]
    total_sq = 0.0
    for p in with_grads:
        g = p.grad.data.astype(np.float64, copy=False)  # accumulate in float64: no overflow
        total_sq += float((g * g).sum())
    total = math.sqrt(total_sq)
    if math.isfinite(total) and total > max_norm:
        scale = max_norm / (total + eps)
        for p in with_grads:
            p.grad = Tensor(p.grad.data * scale)  # a Python float keeps the gradient's dtype
    return total
