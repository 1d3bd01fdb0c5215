"""Adam and AdamW: adaptive per-weight step sizes from running moments of the gradient."""

from __future__ import annotations

import math

from .. import fast
from ..backend import get_array_module
from ..errors import ArgumentError
from .optimizer import Optimizer, _scale_in_place, _subtract_in_place

__all__ = ["Adam", "AdamW", "adam_update", "update_each"]


def adam_update(m, v, step_size, bias2, eps):
    """The step Adam subtracts from a weight: step_size · m / (√v / bias2 + ε), with
    bias2 = √(1 − β₂ᵗ). (A twin that reuses one buffer is in ``minitl/fast/optim.py``.)"""
    return m / (get_array_module(v).sqrt(v) / bias2 + eps) * step_size


def update_each(optimizer, params, group):
    """One Adam step for ``params`` (one group's parameters that have a gradient), one
    parameter at a time. (The twin in ``minitl/fast/optim.py`` updates a whole group in
    one pass over flat buffers, with the same arithmetic on every element.)"""
    for p in params:
        optimizer._update(p, p.grad.data, group, optimizer.state.setdefault(p, {}))


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), written as PyTorch's ``Adam`` computes it.

    For each parameter w with gradient g, at its step t = 1, 2, ...::

        g ← g + weight_decay · w                  (L2 added to the gradient; see AdamW)
        m ← β₁ · m + (1 − β₁) · g                 first moment, starts at 0
        v ← β₂ · v + (1 − β₂) · g²                second moment, starts at 0
        w ← w − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)

    The two ``1 − βᵗ`` factors undo the bias of starting m and v at zero. The
    step count t is per parameter. A step that finds a parameter frozen drops
    its m, v and t (see :class:`~minitl.optim.Optimizer`), so once unfrozen it
    starts again from t = 1, with the bias correction that goes with it.
    """

    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        betas = tuple(betas) if isinstance(betas, (tuple, list)) else betas  # checked later
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    #: What ``state[param]`` holds (checked by ``load_state_dict``).
    state_keys = ("step", "exp_avg", "exp_avg_sq")

    def _check_group(self, group):
        super()._check_group(group)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ArgumentError(f"{type(self).__name__}: invalid betas {betas!r} (need a pair "
                                "(beta1, beta2), each in [0, 1))")
        for beta in betas:
            self._check_number(group, "betas", 0.0, 1.0, value=beta)
        self._check_number(group, "eps", 0.0, math.inf)

    def _update_group(self, params, group):
        fast.select(update_each)(self, params, group)

    def __getstate__(self):
        """What ``copy.deepcopy`` and ``pickle`` take: everything but the fast path's flat
        moment buffers, a cache (a copy gathers its own state into new ones)."""
        state = dict(self.__dict__)
        state.pop("_flat_moments", None)
        return state

    def _update(self, param, grad, group, state):
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        xp = get_array_module(param.data)
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param.data)
            state["exp_avg_sq"] = xp.zeros_like(param.data)
        state["step"] += 1
        t = state["step"]

        if weight_decay != 0:
            if self.decoupled:  # AdamW: shrink the weights directly, apart from the gradient
                _scale_in_place(param, 1 - lr * weight_decay)
            else:  # Adam: the L2 penalty's gradient joins g (a new array; g is not ours)
                grad = grad + weight_decay * param.data

        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        m += (1 - beta1) * grad
        v *= beta2
        v += (1 - beta2) * (grad * grad)

        step_size, bias2 = lr / (1 - beta1**t), math.sqrt(1 - beta2**t)
        _subtract_in_place(param, fast.select(adam_update)(m, v, step_size, bias2, eps))


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as PyTorch's ``AdamW``.

    Before the Adam step, the weights shrink by ``w ← w · (1 − lr · weight_decay)``;
    the decay never enters m or v, so it is not rescaled by the adaptive step.
    The default ``weight_decay`` is 1e-2. Skipped parameters (``.grad`` None)
    and frozen ones are not decayed either.
    """

    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
