"""Shared pieces of the reliability tests: input strategies, the dtype policy as the
tests see it, the comparison against NumPy references, and the tally of bad inputs.

The policy below is written independently of ``minitl/guards.py`` (the library's
own statement of it): if the two drift apart, the fuzz tests fail.

A reference function receives NumPy arrays already cast to the dtype the op computes
in (the policy's result dtype) and returns what NumPy computes in that dtype, so an
overflow NumPy meets in float16 is expected from minitl too. A reference raises
``Refuse(ErrorClass)`` where the policy says minitl must refuse the input; any other
exception NumPy raises means minitl must raise *some* ``MinitlError``.
"""

from __future__ import annotations

import collections
import contextlib
import math
import warnings

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minitl as mt
from minitl import backend
from minitl.errors import DTypeError, MinitlError

FLOATS = (np.float16, np.float32, np.float64)
INTS = (np.int8, np.int32, np.int64, np.uint8)
DTYPES = tuple(np.dtype(d) for d in FLOATS + INTS + (np.bool_,))

# ---------------------------------------------------------------- the tally

#: class of bad input → number of generated cases that contained it
TALLY: collections.Counter = collections.Counter()
#: class of bad input → outcome ("matched the reference" / "raised <Error>") → count
OUTCOMES: collections.defaultdict = collections.defaultdict(collections.Counter)


def record(classes, outcome):
    for c in classes:
        TALLY[c] += 1
        OUTCOMES[c][outcome] += 1


def classify_array(a) -> list[str]:
    """The classes of unusual input one array belongs to."""
    a = np.asarray(a)
    out = []
    kind = a.dtype.kind
    if kind in "iu":
        out.append("dtype: integer")
    elif kind == "b":
        out.append("dtype: bool")
    elif a.dtype == np.float16:
        out.append("dtype: float16")
    if a.ndim == 0:
        out.append("shape: 0-d")
    if a.size == 0:
        out.append("shape: empty (a zero-length axis)")
    if kind == "f" and a.size:
        finite = np.isfinite(a)
        if np.isnan(a).any():
            out.append("values: NaN")
        if np.isinf(a).any():
            out.append("values: ±inf")
        big = 1e4 if a.dtype == np.float16 else 1e29
        if (np.abs(np.where(finite, a, 0)) >= big).any():
            out.append("values: huge (±1e30; ±6e4 in float16)")
    return out


def classify(arrays, extra=()) -> list[str]:
    classes = set(extra)
    for a in arrays:
        if isinstance(a, (bool, int, float)):
            classes.add("operand: Python scalar")
        else:
            classes.update(classify_array(a))
    kinds = {np.asarray(a).dtype for a in arrays if not isinstance(a, (bool, int, float))}
    if len(kinds) > 1:
        classes.add("dtype: mixed operand dtypes")
    return sorted(classes) or ["ordinary input (control)"]


# ---------------------------------------------------------------- strategies


def special_values(dtype):
    """±inf, NaN, ±1e30 (±6e4 in float16) and ±0, each exactly representable in ``dtype``."""
    big = float(np.dtype(dtype).type(6e4 if dtype == np.float16 else 1e30))
    return [np.inf, -np.inf, np.nan, big, -big, 0.0, -0.0]


@st.composite
def elements_for(draw, dtype, low=-8.0, high=8.0):
    """An element strategy for ``dtype``: finite, or with a sprinkle of special values."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return st.booleans()
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        small = st.integers(max(info.min, -9), min(info.max, 9))
        edges = st.sampled_from([info.min, info.max, 0])
        return st.one_of(small, small, small, edges)
    finite = st.floats(low, high, width=dtype.itemsize * 8, allow_nan=False,
                       allow_infinity=False, allow_subnormal=False)
    flavour = draw(st.sampled_from(["finite", "special"]))
    if flavour == "finite":
        return finite
    return st.one_of(finite, finite, st.sampled_from(special_values(dtype)))


def arrays_of(draw, dtype, shape, low=-8.0, high=8.0):
    elements = draw(elements_for(dtype, low, high))
    return draw(hnp.arrays(np.dtype(dtype), shape, elements=elements))


def any_shape(min_dims=0, max_dims=3, min_side=0, max_side=4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


#: every dtype, floats twice as often (most ops' interesting behaviour is there)
dtypes = st.sampled_from(DTYPES + DTYPES[:3])

#: hypothesis settings for the fuzz tests: twice the profile's examples (ci: 50, thorough:
#: 800), since each case is cheap
FUZZ = settings(max_examples=2 * settings().max_examples)


# ---------------------------------------------------------------- the policy


class Refuse(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a reference: minitl must raise ``error`` (a MinitlError subclass)."""

    def __init__(self, error=MinitlError):
        super().__init__(str(error))
        self.error = error  # an error class, or a tuple of them when either may come first


def promote(*dtypes_) -> np.dtype:
    """PyTorch's rule: a floating dtype wins over integer and bool dtypes."""
    dtypes_ = [np.dtype(d) for d in dtypes_]
    floats = [d for d in dtypes_ if d.kind == "f"]
    return np.result_type(*(floats or dtypes_))


def scalar_dtype(tensor_dtype, value) -> np.dtype:
    """The dtype a Python number takes next to tensors of ``tensor_dtype``."""
    tensor_dtype = np.dtype(tensor_dtype)
    if isinstance(value, float) and tensor_dtype.kind != "f":
        return np.dtype(np.float32)
    dtype = np.result_type(tensor_dtype, value)
    if dtype.kind in "iu" and not isinstance(value, bool):
        info = np.iinfo(dtype)
        if not info.min <= value <= info.max:
            raise Refuse(DTypeError)
    return dtype


def operand_dtypes(operands):
    """Dtypes of the operands, Python scalars resolved against the tensors' dtype."""
    tensor_dtypes = [np.asarray(o).dtype for o in operands
                     if not isinstance(o, (bool, int, float))]
    reference = promote(*tensor_dtypes)
    return [scalar_dtype(reference, o) if isinstance(o, (bool, int, float)) else
            np.asarray(o).dtype for o in operands]


def compute_dtype(rule, dtypes_) -> np.dtype:
    """The dtype an op of ``rule`` computes in, or Refuse(DTypeError).

    exact: integers stay integers, bools alone refused; real: integers and bools become
    float32; any: every dtype; float: every operand must be floating.
    """
    dtype = promote(*dtypes_)
    if rule == "exact" and dtype.kind == "b":
        raise Refuse(DTypeError)
    if rule == "real" and dtype.kind != "f":
        return np.dtype(np.float32)
    if rule == "float" and any(np.dtype(d).kind != "f" for d in dtypes_):
        raise Refuse(DTypeError)
    return dtype


# ---------------------------------------------------------------- comparison


def eps(dtype):
    return float(np.finfo(dtype).eps) if np.dtype(dtype).kind == "f" else 0.0


def finite_max(*arrays) -> float:
    """The largest finite magnitude among the arrays (1 if none), for error scales."""
    best = 1.0
    for a in arrays:
        a = np.asarray(a)
        if a.dtype.kind in "fiu" and a.size:
            v = np.abs(a.astype(np.float64))
            v = v[np.isfinite(v)]
            if v.size:
                best = max(best, float(v.max()))
    return best


def assert_same(got, expected, dtype, scale=1.0, factor=16.0, what="", sums=False):
    """``got`` (a Tensor) equals ``expected`` in shape and dtype, and in value: exactly for
    integers and bools; for floats NaN where NaN, the same infinities, and otherwise
    within factor·eps·(|expected| + scale) (expected values beyond the dtype's range
    may come back as inf).

    ``sums=True`` (matmul, linear, conv): where the reference is ±inf or NaN, any of the
    two is accepted. Sums of products that overflow meet inf − inf or not depending on
    the accumulation order and on fused multiply-adds in BLAS (fma(1e30, 1e30, −inf) is
    −inf, 1e30·1e30 + (−inf) is NaN): both are correct IEEE evaluations."""
    assert isinstance(got, mt.Tensor), f"{what}: returned {type(got).__name__}, not a Tensor"
    g = got.numpy()
    expected = np.asarray(expected)
    assert g.shape == expected.shape, f"{what}: shape {g.shape}, expected {expected.shape}"
    assert g.dtype == np.dtype(dtype), f"{what}: dtype {g.dtype}, expected {np.dtype(dtype)}"
    if g.dtype.kind in "biu":
        np.testing.assert_array_equal(g, expected.astype(g.dtype), err_msg=what)
        return
    g64, e64 = g.astype(np.float64), expected.astype(np.float64)
    if sums:
        loose = ~np.isfinite(e64) & ~np.isfinite(g64)
        g64, e64 = np.where(loose, 0, g64), np.where(loose, 0, e64)
    nan_g, nan_e = np.isnan(g64), np.isnan(e64)
    assert (nan_g == nan_e).all(), (
        f"{what}: NaN at {np.argwhere(nan_g != nan_e)[:3].tolist()}: got {g64[nan_g != nan_e][:3]}"
        f", expected {e64[nan_g != nan_e][:3]}")
    tol = factor * eps(g.dtype)
    top = float(np.finfo(g.dtype).max)
    near_overflow = np.abs(np.where(nan_e, 0, e64)) >= top * (1 - tol)
    with np.errstate(invalid="ignore"):
        inf_ok = np.isinf(g64) & near_overflow & (np.sign(g64) == np.sign(e64))
        same_inf = np.isinf(e64) & (g64 == e64)
        finite = np.isfinite(e64) & np.isfinite(g64)
        close = finite & (np.abs(g64 - e64) <= tol * (np.abs(e64) + scale))
    ok = nan_e | same_inf | inf_ok | close
    if not ok.all():
        bad = np.argwhere(~ok)[:3]
        raise AssertionError(f"{what}: values differ at {bad.tolist()}: got "
                             f"{g64[~ok][:3]}, expected {e64[~ok][:3]} (dtype {g.dtype}, "
                             f"tolerance {tol:.2g}·(|expected| + {scale:.3g}))")


def run_reference(ref, *args, **params):
    """``ref(*args, **params)`` with NumPy's floating-point warnings off; Refuse and errors
    pass up."""
    with quiet():
        return ref(*args, **params)


@contextlib.contextmanager
def quiet():
    """No RuntimeWarnings: overflow, NaN and 0/0 are the point of these tests (IEEE
    results are checked, NumPy's warnings about them are not)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def to_device(x, device):
    """A tensor of ``x`` on ``device``; Python scalars stay Python scalars."""
    if isinstance(x, (bool, int, float)):
        return x
    return mt.tensor(backend.to_device(np.asarray(x), device))


def check_call(call, inputs, expected_fn, classes, what, scale=1.0, factor=16.0, sums=False):
    """Run the reference, then minitl; assert they agree or minitl refuses as required.

    ``expected_fn()`` returns (array, dtype) or raises Refuse / another exception.
    """
    try:
        expected, dtype = expected_fn()
        refusal = None
    except Refuse as r:
        refusal = r.error
    except (ValueError, TypeError, IndexError, ArithmeticError):
        refusal = MinitlError
    if refusal is not None:
        with quiet(), pytest.raises(refusal) as info:
            call(*inputs)
        record(classes, f"raised {type(info.value).__name__}")
        return None
    with quiet():
        try:
            out = call(*inputs)
        except MinitlError as exc:
            raise AssertionError(f"{what}: raised {type(exc).__name__} ({exc}) where the "
                                 "policy expects a result") from exc
    assert_same(out, expected, dtype, scale=scale, factor=factor, what=what, sums=sums)
    record(classes, "matched the reference")
    return out


def check_backward(out, leaves, what):
    """backward() through ``out`` runs and gives every leaf a gradient of its shape/dtype."""
    if not isinstance(out, mt.Tensor) or not out.requires_grad:
        return
    rng = np.random.default_rng(0)
    upstream = backend.to_device(rng.standard_normal(out.shape).astype(out.dtype), out.device)
    with quiet():
        out.backward(upstream)
    for leaf in leaves:
        if leaf.requires_grad:
            assert leaf.grad is not None, f"{what}: no gradient for an input"
            assert leaf.grad.shape == leaf.shape, f"{what}: gradient shape {leaf.grad.shape}"
            assert leaf.grad.dtype == leaf.dtype, f"{what}: gradient dtype {leaf.grad.dtype}"


def leaf(x, device):
    """A tensor for ``x`` on ``device`` that requires a gradient when it can."""
    if isinstance(x, (bool, int, float)):
        return x
    t = mt.tensor(backend.to_device(np.asarray(x), device))
    if t.dtype.kind == "f":
        t.requires_grad = True
    return t


def erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)
