"""The device double refuses what CuPy refuses, and accepts what CuPy accepts.

These tests use the double's module directly (no installation needed), so they run on
every leg; ``test_minitl_runs_on_the_double`` checks the installation itself, on the
device leg (``MINITL_TEST_BACKEND=double``).
"""

from __future__ import annotations

import numpy as np
import pytest

from device_double import cupy_double as cp
from device_double import cupyx_double as cpx
from device_double import installed


@pytest.fixture
def d():
    return cp.asarray(np.arange(6, dtype=np.float32).reshape(2, 3))


def test_a_device_array_is_not_a_numpy_array(d):
    assert not isinstance(d, np.ndarray)
    assert not issubclass(cp.ndarray, np.ndarray)


@pytest.mark.parametrize("convert", [np.asarray, np.array, lambda x: x.__array__(),
                                     lambda x: np.float32(1) + np.asarray(x)])
def test_implicit_conversion_to_the_host_raises(d, convert):
    with pytest.raises(TypeError, match="Implicit conversion"):
        convert(d)


HOST_ARRAYS = [np.ones(3, np.float32), np.array(2.0, np.float32)]  # 0-d included


@pytest.mark.parametrize("host", HOST_ARRAYS, ids=["1-d", "0-d"])
@pytest.mark.parametrize("use", [
    lambda d, h: d + h, lambda d, h: h + d, lambda d, h: d * h, lambda d, h: h - d,
    lambda d, h: np.add(d, h), lambda d, h: cp.maximum(d, h), lambda d, h: cp.where(d > 0, d, h),
    lambda d, h: cp.concatenate([d[0], h.reshape(-1)]),
], ids=["d+h", "h+d", "d*h", "h-d", "np.add", "maximum", "where", "concatenate"])
def test_host_arrays_in_device_work_raise(d, host, use):
    with pytest.raises(TypeError, match="Unsupported type|numpy.ndarray"):
        use(d, host)


def test_in_place_ops_refuse_host_arrays(d):
    with pytest.raises(TypeError, match="Unsupported type"):
        d += np.ones(3, np.float32)


@pytest.mark.parametrize("scalar", [2, 2.5, True, np.float32(2), np.int64(2), np.float64(2)])
def test_python_and_numpy_scalars_are_accepted(d, scalar):
    out = d * scalar
    assert isinstance(out, cp.ndarray)
    np.testing.assert_array_equal(out.get(), d.get() * scalar)
    assert (cp.where(d > 1, d, scalar)).shape == d.shape


def test_copies_back_are_explicit_and_are_copies(d):
    host = d.get()
    assert type(host) is np.ndarray and type(cp.asnumpy(d)) is np.ndarray
    host[0, 0] = 100
    assert d.get()[0, 0] == 0  # the device array kept its value
    source = np.zeros(3)
    moved = cp.asarray(source)
    source[0] = 7
    assert moved.get()[0] == 0  # a move copies: the host array is not shared
    assert float(d[1, 2]) == 5.0 and int(d[1, 2]) == 5 and d[1, 2].item() == 5.0
    assert d.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_reductions_and_scalar_indexing_stay_on_the_device(d):
    for value in (d.sum(), d.max(), d[0, 1], d.argmax(), (d > 2).any()):
        assert isinstance(value, cp.ndarray) and value.shape == ()


def test_numpy_functions_dispatch_to_the_device_or_refuse(d):
    assert isinstance(np.zeros_like(d), cp.ndarray)  # CuPy's __array_function__
    assert isinstance(np.exp(d), cp.ndarray)  # and __array_ufunc__
    with pytest.raises(TypeError):
        np.median(d)  # a function the double does not provide


def test_only_cupys_names_and_keywords_exist(d):
    with pytest.raises(AttributeError):
        cp.random  # noqa: B018 (random streams are not provided)
    with pytest.raises(AttributeError):
        d.flags.writeable  # noqa: B018 (CuPy's flags have no writeable)
    with pytest.raises(TypeError):
        cp.asarray(np.zeros(2), copy=False)  # CuPy 13's asarray has no `copy`
    with pytest.raises(TypeError):
        d.sum(where=d > 0)  # nor ndarray.sum a `where`


def test_assignment_follows_cupys_rules(d):
    d[0] = np.float32(9)  # a scalar
    d[0] = np.array(8.0)  # a 0-d host array is a scalar here (CuPy's fill)
    with pytest.raises(ValueError, match="non-scalar"):
        d[...] = np.ones((2, 3))
    d[np.array([1])] = np.full((1, 3), 4.0)  # advanced indexing copies host values over
    np.testing.assert_array_equal(d.get(), [[8, 8, 8], [4, 4, 4]])


def test_cupyx_scatter_add_adds_once_per_occurrence():
    a = cp.zeros(3)
    cpx.scatter_add(a, np.array([0, 0, 2]), cp.asarray(np.ones(3)))
    np.testing.assert_array_equal(a.get(), [2, 0, 1])


@pytest.mark.device_leg
def test_minitl_runs_on_the_double():
    """On the double's leg, ``import cupy`` is the double and minitl's 'cuda' uses it."""
    if not installed():
        pytest.skip("a real CuPy: this is the double's check")
    import cupy

    import minitl as mt
    from minitl import backend

    assert cupy is cp and backend.cupy is cp
    t = mt.tensor([1.0, 2.0], device="cuda")
    assert isinstance(t.data, cp.ndarray) and t.device == "cuda"
    assert isinstance((t * 2).sum().numpy(), np.ndarray)
