"""Dropout: random zeroing in training, identity in evaluation."""

from __future__ import annotations

from ..ops.nn import dropout
from ._utils import as_generator, check_floating_input
from .module import Module


class Dropout(Module):
    """In training mode, zero each element with probability ``p`` and scale the others by
    1/(1 − p), so the expected output equals the input; in eval mode, y = x.
    Any input shape (an empty batch included); output has the same shape. No parameters.
    The input must be floating point (DTypeError naming the layer otherwise).

    Masks are drawn from the layer's own generator, made once from ``rng`` (a
    Generator, shared if you pass one; an int seed; or None for unseeded). Two
    Dropout(p, rng=0) layers therefore draw the same sequence of masks.
    """

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p
        self.rng = as_generator(rng)

    def forward(self, x):
        check_floating_input(self, x)
        return dropout(x, self.p, training=self.training, rng=self.rng)

    def extra_repr(self):
        return f"p={self.p}"
