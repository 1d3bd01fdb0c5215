"""Adam's update with one reused buffer: the fast twin of ``adam_update`` in
``minitl/optim/adam.py``.

The plain update, step_size · m / (√v / √(1 − β₂ᵗ) + ε), makes four temporary arrays the
size of the weights; this one writes every intermediate into a single buffer, in the same
order, so the values are bit-identical (``tests/test_fast_paths.py``).
"""

from __future__ import annotations

from ..backend import get_array_module
from ..optim import adam as plain
from . import register


def adam_update(m, v, step_size, bias2, eps):
    """:func:`minitl.optim.adam.adam_update`, one buffer instead of four temporaries."""
    xp = get_array_module(v)
    update = xp.empty_like(v)
    xp.sqrt(v, out=update)
    update /= bias2
    update += eps
    xp.divide(m, update, out=update)
    update *= step_size
    return update


register(plain.adam_update, adam_update)
