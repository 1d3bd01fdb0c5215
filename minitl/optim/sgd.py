"""Stochastic gradient descent, with PyTorch's momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from ..backend import get_array_module
from .optimizer import Optimizer, _subtract_in_place, required

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Gradient descent, optionally with momentum: the update rule PyTorch's ``SGD`` uses.

    For each parameter w with gradient g, at each step::

        g ← g + weight_decay · w                       (L2 penalty, if weight_decay ≠ 0)
        if momentum ≠ 0:
            b ← g                                      on the parameter's first step
            b ← momentum · b + (1 − dampening) · g     afterwards
            g ← g + momentum · b   if nesterov   else   b
        w ← w − lr · g

    The momentum buffer b starts as a copy of the first gradient (dampening is
    not applied to it). Parameters whose ``.grad`` is None are skipped: nothing
    about them changes, not even their momentum buffer. Frozen parameters are
    not touched and lose their buffer (see :class:`~minitl.optim.Optimizer`).
    """

    def __init__(self, params, lr=required, momentum: float = 0.0, dampening: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                        weight_decay=weight_decay)
        super().__init__(params, defaults)

    #: What ``state[param]`` holds (checked by ``load_state_dict``).
    state_keys = ("momentum_buffer",)

    def _check_group(self, group):
        super()._check_group(group)
        # momentum >= 1 never forgets a gradient: the steps grow without bound
        self._check_number(group, "momentum", 0.0, 1.0)
        self._check_number(group, "dampening", 0.0, 1.0, include_high=True)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")

    def _update(self, param, grad, group, state):
        lr, momentum = group["lr"], group["momentum"]
        weight_decay, dampening = group["weight_decay"], group["dampening"]
        if weight_decay != 0:
            grad = grad + weight_decay * param.data  # a new array: the gradient is not ours
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                # a copy we own and change in place later (xp.array: an array even for 0-d)
                buf = state["momentum_buffer"] = get_array_module(grad).array(grad, copy=True)
            else:
                buf *= momentum
                buf += (1 - dampening) * grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        _subtract_in_place(param, lr * grad)
