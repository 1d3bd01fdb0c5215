"""Learning-rate schedules that act on each parameter group of an optimizer.

A scheduler changes ``group["lr"]`` of every group of its optimizer, once per
call to ``scheduler.step()`` (call it after ``optimizer.step()``). Each group
keeps its own starting rate in ``group["initial_lr"]`` and the schedule scales
that, so groups keep their ratio: a body at 1e-4 and a head at 1e-2 both
follow the same curve, the head always 100× the body.

Every schedule here is written in closed form, ``lr_t = f(initial_lr, t)`` for
step count t = ``scheduler.last_epoch`` (0 right after construction), so the
value at any step can be read off the formula in the class docstring, and a
scheduler restored from ``state_dict()`` continues exactly.

A group added to the optimizer after the scheduler was made (for instance on
unfreezing) is picked up at the next ``step()``: its current lr becomes its
``initial_lr``, and it follows the schedule from that step on.
"""

from __future__ import annotations

import copy
import math

__all__ = [
    "CosineAnnealingLR", "LRScheduler", "LambdaLR", "LinearLR", "LinearWarmup",
    "SlantedTriangular", "StepLR",
]


class LRScheduler:
    """Base class. Subclasses write ``lr_at(initial_lr, t, group_index)``.

    ``last_epoch`` counts ``step()`` calls (PyTorch's name; it counts whatever
    you step it on, batches or epochs). Constructing the scheduler sets the
    rates for t = 0.
    """

    def __init__(self, optimizer, last_epoch: int = -1):
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{type(self).__name__}: resuming at last_epoch={last_epoch} "
                                   f"needs 'initial_lr' in param group {i}")
        self.last_epoch = last_epoch
        self._last_lr: list[float] = []
        self.step()

    @property
    def base_lrs(self) -> list[float]:
        """Each group's ``initial_lr``: the rate the schedule scales."""
        return [group["initial_lr"] for group in self.optimizer.param_groups]

    def lr_at(self, initial_lr: float, t: int, group_index: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        """Advance one step and write the new rate into every group."""
        self.last_epoch += 1
        for i, group in enumerate(self.optimizer.param_groups):
            base = group.setdefault("initial_lr", group["lr"])
            group["lr"] = self.lr_at(base, self.last_epoch, i)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The rates set by the latest ``step()``, one per group."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """Everything but the optimizer (and functions, which cannot be saved)."""
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items()
                if k not in ("optimizer", "lr_lambdas") and not callable(v)}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a ``state_dict()``; the next ``step()`` continues where it left off."""
        self.__dict__.update(copy.deepcopy(state_dict))

    def __repr__(self):
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self.get_last_lr()})"


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` steps.

    lr_t = initial_lr · gamma^⌊t / step_size⌋
    """

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        if int(step_size) != step_size or step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size!r}")
        self.step_size, self.gamma = int(step_size), gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, initial_lr, t, group_index):
        return initial_lr * self.gamma ** (t // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from the initial rate down to ``eta_min`` over ``T_max`` steps.

    lr_t = eta_min + (initial_lr − eta_min) · (1 + cos(π t / T_max)) / 2

    (SGDR, Loshchilov & Hutter, 2017, without restarts.) Past ``T_max`` the
    formula keeps going, so the rate climbs back: stop stepping, or pick T_max
    as the total number of steps.
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        if not T_max > 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max!r}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, initial_lr, t, group_index):
        cosine = (1 + math.cos(math.pi * t / self.T_max)) / 2
        return self.eta_min + (initial_lr - self.eta_min) * cosine


class LambdaLR(LRScheduler):
    """The initial rate times a factor you compute: lr_t = initial_lr · lr_lambda(t).

    ``lr_lambda`` is one function for all groups or a list with one per group.
    Functions are not saved by ``state_dict()``.
    """

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != len(optimizer.param_groups):
                raise ValueError(f"LambdaLR: {len(lr_lambda)} functions given for "
                                 f"{len(optimizer.param_groups)} parameter groups")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda]
        super().__init__(optimizer, last_epoch)

    def lr_at(self, initial_lr, t, group_index):
        if len(self.lr_lambdas) == 1:
            return initial_lr * self.lr_lambdas[0](t)
        if group_index >= len(self.lr_lambdas):
            raise ValueError(f"LambdaLR: parameter group {group_index} was added after the "
                             "scheduler was made and has no lr_lambda of its own")
        return initial_lr * self.lr_lambdas[group_index](t)


class LinearLR(LRScheduler):
    """Scale the rate linearly from ``start_factor`` to ``end_factor`` over ``total_iters`` steps.

    lr_t = initial_lr · (start + (end − start) · min(t, total_iters) / total_iters)

    PyTorch's ``LinearLR``; then the rate stays at ``initial_lr · end_factor``.
    """

    def __init__(self, optimizer, start_factor: float = 1 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1):
        if not 0 <= start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError("LinearLR: start_factor and end_factor must be in [0, 1], got "
                             f"{start_factor!r} and {end_factor!r}")
        if int(total_iters) != total_iters or total_iters < 1:
            raise ValueError(f"LinearLR: total_iters must be a positive integer, "
                             f"got {total_iters!r}")
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = int(total_iters)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, initial_lr, t, group_index):
        fraction = min(t, self.total_iters) / self.total_iters
        return initial_lr * (self.start_factor + (self.end_factor - self.start_factor) * fraction)


class LinearWarmup(LinearLR):
    """Warm up linearly from ``start_factor · initial_lr`` to ``initial_lr`` in ``warmup_steps``.

    lr_t = initial_lr · (start_factor + (1 − start_factor) · min(t, warmup_steps) / warmup_steps)

    With the default ``start_factor=0`` the very first step has lr 0 (the
    weights do not move on it); pass a small positive factor to avoid that.
    """

    def __init__(self, optimizer, warmup_steps: int, start_factor: float = 0.0,
                 last_epoch: int = -1):
        super().__init__(optimizer, start_factor=start_factor, end_factor=1.0,
                         total_iters=warmup_steps, last_epoch=last_epoch)


class SlantedTriangular(LRScheduler):
    """ULMFiT's slanted triangular learning rate (Howard & Ruder, 2018).

    A short linear climb then a long linear descent, over ``total_steps`` = T
    steps. With each group's ``initial_lr`` as its peak lr_max::

        cut  = ⌊T · cut_frac⌋
        p    = t / cut                                    if t < cut
               1 − (t − cut) / (cut · (1/cut_frac − 1))   otherwise
        lr_t = lr_max · (1 + p · (ratio − 1)) / ratio

    so lr_0 = lr_max / ratio, lr_cut = lr_max, and the rate falls back to
    lr_max / ratio at t = cut / cut_frac (= T when T · cut_frac is a whole
    number). After that p would turn negative (and the rate, eventually, too):
    here p is held at 0, so the rate stays at its floor lr_max / ratio.
    """

    def __init__(self, optimizer, total_steps: int, cut_frac: float = 0.1, ratio: float = 32,
                 last_epoch: int = -1):
        if not 0 < cut_frac < 1:
            raise ValueError(f"SlantedTriangular: cut_frac must be in (0, 1), got {cut_frac!r}")
        if not ratio >= 1:
            raise ValueError(f"SlantedTriangular: ratio must be >= 1, got {ratio!r}")
        cut = math.floor(total_steps * cut_frac)
        if cut < 1:
            raise ValueError(f"SlantedTriangular: total_steps · cut_frac = "
                             f"{total_steps} · {cut_frac} < 1 leaves no warm-up step; "
                             "use more steps or a larger cut_frac")
        self.total_steps, self.cut_frac, self.ratio, self.cut = total_steps, cut_frac, ratio, cut
        super().__init__(optimizer, last_epoch)

    def lr_at(self, initial_lr, t, group_index):
        cut, cut_frac, ratio = self.cut, self.cut_frac, self.ratio
        if t < cut:
            p = t / cut
        else:
            p = max(0.0, 1 - (t - cut) / (cut * (1 / cut_frac - 1)))
        return initial_lr * (1 + p * (ratio - 1)) / ratio
