"""Shared test set-up: hypothesis profiles and the one ``device`` fixture.

Every test that takes ``device`` runs once on NumPy ('cpu') and once on CuPy
('cuda') when CuPy is importable. ``MINITL_TEST_BACKEND=cupy`` (``make test-gpu``)
runs the CuPy leg only and fails, rather than skips, if CuPy is missing.

Hypothesis profiles: ``ci`` (default: deadline off, a bounded number of
examples, derandomized so CI runs are repeatable) and ``thorough``
(``make test-slow``: many more random examples).
"""

import os

import pytest
from hypothesis import HealthCheck, settings

from minitl import backend

_common = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                     HealthCheck.too_slow])
settings.register_profile("ci", max_examples=25, derandomize=True, **_common)
settings.register_profile("thorough", max_examples=400, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_FORCED = os.environ.get("MINITL_TEST_BACKEND", "").lower()


def _device_params():
    if _FORCED == "cupy":
        return ["cuda"]
    if _FORCED == "numpy":
        return ["cpu"]
    return ["cpu", "cuda"]


@pytest.fixture(params=_device_params())
def device(request):
    """'cpu' (NumPy) or 'cuda' (CuPy); the CuPy leg skips when CuPy is unavailable."""
    if request.param == "cuda" and not backend.cupy_available():
        if _FORCED == "cupy":
            pytest.fail(f"MINITL_TEST_BACKEND=cupy but CuPy is unusable: "
                        f"{backend.CUPY_IMPORT_ERROR}")
        pytest.skip(f"CuPy unavailable: {backend.CUPY_IMPORT_ERROR}")
    return request.param
