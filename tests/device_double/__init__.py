"""The device double: a strict CuPy stand-in for the tests (see :mod:`.cupy_double`).

:func:`install` makes ``import cupy`` and ``import cupyx`` find it, in the calling process
only; ``tests/conftest.py`` calls it when ``MINITL_TEST_BACKEND=double``, before minitl is
imported. Nothing outside the tests can import it as ``cupy``.
"""

from __future__ import annotations

import sys

from . import cupy_double, cupyx_double

_NAMES = {"cupy": cupy_double, "cupyx": cupyx_double, "cupyx.scipy": cupyx_double.scipy,
          "cupyx.scipy.special": cupyx_double.scipy.special}


def install() -> None:
    """Put the double in ``sys.modules`` as ``cupy`` and ``cupyx``. It must come before
    minitl's first import (the backend looks for CuPy once) and never after a real CuPy."""
    if "minitl.backend" in sys.modules:
        raise RuntimeError("install the device double before importing minitl")
    found = sys.modules.get("cupy")
    if found is not None and found is not cupy_double:
        raise RuntimeError("a real CuPy is already imported; the double would hide it")
    sys.modules.update(_NAMES)


def installed() -> bool:
    """True when ``cupy`` in this process is the double."""
    return sys.modules.get("cupy") is cupy_double
