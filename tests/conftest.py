"""Shared test set-up: hypothesis profiles and the one ``device`` fixture.

Every test that takes ``device`` runs once on NumPy ('cpu') and once on CuPy
('cuda') when CuPy is importable. ``MINITL_TEST_BACKEND`` picks one leg:

* ``cupy`` (``make test-gpu``): the CuPy leg only; fails, rather than skips, if CuPy is
  missing.
* ``double`` (``make test``'s device leg): the 'cuda' leg only, on the device double
  (``tests/device_double``: a strict CuPy stand-in backed by NumPy, installed as ``cupy``
  in this process before minitl is imported). Only the tests that take ``device``, and
  those marked ``device_leg``, run.
* ``numpy``: the 'cpu' leg only.

Hypothesis profiles: ``ci`` (default: deadline off, a bounded number of
examples, derandomized so CI runs are repeatable) and ``thorough``
(``make test-slow``: many more random examples).
"""

import os

import device_double  # tests/device_double: the strict CuPy stand-in
import pytest
from hypothesis import HealthCheck, settings

_FORCED = os.environ.get("MINITL_TEST_BACKEND", "").lower()
if _FORCED == "double":
    device_double.install()  # before minitl's first import: its backend then finds "CuPy"

from minitl import backend  # noqa: E402 (after the double, when there is one)

_common = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                     HealthCheck.too_slow])
settings.register_profile("ci", max_examples=25, derandomize=True, **_common)
settings.register_profile("thorough", max_examples=400, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _device_params():
    if _FORCED in ("cupy", "double"):
        return ["cuda"]
    if _FORCED == "numpy":
        return ["cpu"]
    return ["cpu", "cuda"]


@pytest.fixture(params=_device_params())
def device(request):
    """'cpu' (NumPy) or 'cuda' (CuPy, or the device double on its leg); the 'cuda' leg
    skips when CuPy is unavailable."""
    if request.param == "cuda" and not backend.cupy_available():
        if _FORCED in ("cupy", "double"):
            pytest.fail(f"MINITL_TEST_BACKEND={_FORCED} but CuPy is unusable: "
                        f"{backend.CUPY_IMPORT_ERROR}")
        pytest.skip(f"CuPy unavailable: {backend.CUPY_IMPORT_ERROR}")
    return request.param


def pytest_collection_modifyitems(config, items):
    """Tests marked ``device_leg`` run on a device leg only (the double's, or CuPy's); on
    the double's leg, only they and the tests that take ``device`` run."""
    keep, drop = [], []
    for item in items:
        device_leg = item.get_closest_marker("device_leg") is not None
        if _FORCED == "double":
            wanted = device_leg or "device" in getattr(item, "fixturenames", ())
        else:
            wanted = _FORCED == "cupy" or not device_leg
        (keep if wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
