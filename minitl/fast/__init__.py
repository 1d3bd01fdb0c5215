"""Fast paths: faster formulations of some ops, beside the plain ones, behind one switch.

The ops in :mod:`minitl.ops` are written to be read: each is the textbook formula. A few
of them are too slow that way for the benchmarks' goals (see ``docs/SCIENCE.md``, "Speed"),
so a faster version of *the same maths* lives here, in its own file, and the plain op
picks it in one visible line: ``op = fast.select(Conv2d)``. Every fast version is tested
(``tests/test_fast_paths.py``) to give the plain version's values and gradients, and the
whole suite also runs with the fast paths off (``make test`` does both).

The one switch: set the environment variable ``MINITL_FAST=0`` before starting Python, or
call ``minitl.fast.set_enabled(False)``; ``minitl.fast.enabled()`` says which is in force.

What is here:

- ``conv.py``: convolution with a channels-last im2col; max-pooling by strided views.
- ``losses.py``: mean squared error as one fused op; cross-entropy on (N, C) rows by
  indexing ``[rows, targets]``.
- ``optim.py``: Adam's update with one reused buffer, and a whole parameter group updated
  at once (moments in flat buffers: one NumPy call per line of Adam, not per parameter).
"""

from __future__ import annotations

import importlib
import os

_enabled = os.environ.get("MINITL_FAST", "1").strip().lower() not in ("0", "false", "off", "no")
_versions = {}  # plain op → its fast version, filled in by the modules of this package


def enabled() -> bool:
    """True when ops use their fast versions (the default; ``MINITL_FAST=0`` turns it off)."""
    return _enabled


def set_enabled(flag: bool) -> None:
    """Turn every fast path on or off."""
    global _enabled
    _enabled = bool(flag)


def register(plain, faster):
    """Declare ``faster`` a drop-in replacement of ``plain`` (same arguments, same results)."""
    _versions[plain] = faster
    return faster


def select(plain):
    """``plain``'s fast version when fast paths are on (and one is registered), else ``plain``."""
    return _versions.get(plain, plain) if _enabled else plain


MODULES = ("conv", "losses", "optim")


def load() -> None:
    """Import the modules above, which register their fast versions (``minitl`` calls this
    once, after the plain ops exist)."""
    for name in MODULES:
        importlib.import_module(f"{__name__}.{name}")
