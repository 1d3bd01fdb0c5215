"""Numerical stability: softmax, log_softmax, logsumexp, cross_entropy, sigmoid and
binary_cross_entropy_with_logits, and their gradients, stay finite for logits of ±1e4
and match float64 references computed here independently, with Python's ``math``
(log-sum-exp per row with ``math.fsum``) and, at a few points, ``decimal`` at 50 digits.
Also pins the documented special values: log(0), sqrt at 0 and division by zero.
"""

from __future__ import annotations

import decimal
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from rel_support import FUZZ, quiet, record

import minitl as mt
import minitl.nn.functional as F
from minitl import backend

FLOAT_DTYPES = [np.float32, np.float64]
MATCHED = "finite, matched the float64 reference (values and gradients)"
D = decimal.Context(prec=50)


def _tensor(x, device, dtype, grad=True):
    t = mt.tensor(backend.to_device(np.asarray(x, dtype=dtype), device))
    t.requires_grad = grad
    return t


def _close(got, expected, dtype, what, factor=64.0):
    """Finite, and within factor·eps·(|expected| + 1) of the float64 reference."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert np.isfinite(got).all(), f"{what}: not finite: {got}"
    tol = factor * np.finfo(dtype).eps
    err = np.abs(got - expected)
    assert (err <= tol * (np.abs(expected) + 1)).all(), (
        f"{what} ({np.dtype(dtype)}): max error {err.max():.3g}; got {got.ravel()[:4]}, "
        f"expected {expected.ravel()[:4]}")


# ---------------------------------------------------------------- references in pure Python


def _softmax_rows(x):
    """(softmax, log_softmax, logsumexp) of each row, in Python floats.

    Everything is taken relative to the row max m (exact differences), never to the
    logsumexp itself: with lse ≈ 1e4, v − lse would carry lse's rounding error."""
    sm, lsm, lse = [], [], []
    for row in x.tolist():
        m = max(row)
        total = math.fsum(math.exp(v - m) for v in row)
        lse.append(m + math.log(total))
        lsm.append([(v - m) - math.log(total) for v in row])
        sm.append([math.exp(v - m) / total for v in row])
    return np.array(sm), np.array(lsm), np.array(lse)


def _sigmoid(v):
    """σ(v) without cancellation in either tail."""
    if v >= 0:
        return 1 / (1 + math.exp(-v))
    e = math.exp(v)
    return e / (1 + e)


def _softplus(z):
    """log(1 + eᶻ) = logsumexp(0, z)."""
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


# ---------------------------------------------------------------- strategies


@st.composite
def extreme_logits(draw, dtype):
    """(N, C) logits spread over ±1e4, with exact ±1e4, near-ties and ordinary values."""
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    values = st.one_of(
        st.floats(-1e4, 1e4, width=np.dtype(dtype).itemsize * 8),
        st.sampled_from([1e4, -1e4, 1e4 - 1, -1e4 + 0.5, 0.0, 9999.0, 3.0]),
        st.floats(-5, 5, width=np.dtype(dtype).itemsize * 8),
    )
    return draw(hnp.arrays(dtype, (n, c), elements=values))


# ---------------------------------------------------------------- the softmax family


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
@FUZZ
@given(data=st.data())
def test_softmax_family_extreme_logits(device, dtype, data):
    x = data.draw(extreme_logits(dtype))
    g = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(-1, 1)))
    sm, lsm, lse = _softmax_rows(x.astype(np.float64))
    g_sum = g.sum(axis=1, keepdims=True)
    cases = [
        ("softmax", F.softmax, sm, sm * (g - (g * sm).sum(axis=1, keepdims=True))),
        ("log_softmax", F.log_softmax, lsm, g - sm * g_sum),
        ("logsumexp", F.logsumexp, lse, g[:, :1] * sm),
    ]
    for name, fn, forward, grad in cases:
        t = _tensor(x, device, dtype)
        out = fn(t, axis=1)
        upstream = g if name != "logsumexp" else g[:, 0]
        out.backward(backend.to_device(upstream.astype(dtype), device))
        _close(out.numpy(), forward, dtype, f"{name} forward")
        _close(t.grad.numpy(), grad, dtype, f"{name} gradient")
    record(["stability: logits of ±1e4 (softmax, log_softmax, logsumexp)"], MATCHED)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@FUZZ
@given(data=st.data())
def test_cross_entropy_extreme_logits(device, dtype, smoothing, data):
    x = data.draw(extreme_logits(dtype))
    n, c = x.shape
    targets = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    sm, lsm, _ = _softmax_rows(x.astype(np.float64))
    losses = [-(1 - smoothing) * lsm[i, targets[i]] - smoothing * math.fsum(lsm[i]) / c
              for i in range(n)]
    wanted = (1 - smoothing) * np.eye(c)[targets] + smoothing / c
    t = _tensor(x, device, dtype)
    loss = F.cross_entropy(t, mt.tensor(backend.to_device(targets, device)),
                           label_smoothing=smoothing)
    loss.backward()
    _close(loss.numpy(), math.fsum(losses) / n, dtype, "cross_entropy forward")
    _close(t.grad.numpy(), (sm - wanted) / n, dtype, "cross_entropy gradient")
    record(["stability: logits of ±1e4 (cross_entropy)"], MATCHED)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
@FUZZ
@given(data=st.data())
def test_sigmoid_and_bce_extreme_logits(device, dtype, data):
    x = data.draw(extreme_logits(dtype)).ravel()
    y = data.draw(hnp.arrays(np.float64, x.shape, elements=st.sampled_from([0.0, 1.0, 0.25])))
    xs = x.astype(np.float64).tolist()
    sig = np.array([_sigmoid(v) for v in xs])
    # ℓ = y·softplus(−x) + (1 − y)·softplus(x): a different algebra from the op's formula
    bce = [yi * _softplus(-v) + (1 - yi) * _softplus(v) for v, yi in zip(xs, y.tolist())]

    t = _tensor(x, device, dtype)
    s = mt.sigmoid(t)
    s.backward(backend.to_device(np.ones_like(x), device))
    _close(s.numpy(), sig, dtype, "sigmoid forward")
    _close(t.grad.numpy(), sig * (1 - sig), dtype, "sigmoid gradient")

    t = _tensor(x, device, dtype)
    loss = F.binary_cross_entropy_with_logits(t, mt.tensor(backend.to_device(
        y.astype(dtype), device)), reduction="sum")
    loss.backward()
    _close(loss.numpy(), math.fsum(bce), dtype, "bce forward")
    _close(t.grad.numpy(), sig - y, dtype, "bce gradient")
    record(["stability: logits of ±1e4 (sigmoid, binary_cross_entropy_with_logits)"], MATCHED)


def _dec_exp(v):
    return D.exp(decimal.Decimal(v))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_pinned_points_at_50_digits(device, dtype):
    """A few values checked against 50-digit decimal arithmetic."""
    # logsumexp([1e4, 1e4]) = 1e4 + ln 2; logsumexp([1e4, -1e4]) = 1e4 + ln(1 + e^-2e4)
    two = F.logsumexp(_tensor([[1e4, 1e4], [1e4, -1e4]], device, dtype, grad=False))
    ln2 = D.ln(decimal.Decimal(2))
    _close(two.numpy(), [float(10000 + ln2), float(10000 + D.ln(1 + _dec_exp(-20000)))],
           dtype, "logsumexp pinned", factor=4)
    # softmax([1e4, 1e4 − 1]) = [1, e⁻¹]/(1 + e⁻¹)
    e1 = _dec_exp(-1)
    sm = F.softmax(_tensor([1e4, 1e4 - 1], device, dtype, grad=False))
    _close(sm.numpy(), [float(1 / (1 + e1)), float(e1 / (1 + e1))], dtype, "softmax pinned",
           factor=4)
    # cross_entropy([[1e4, −1e4]], [1]) = 2e4 + ln(1 + e^-2e4) = 2e4 (to 50 digits)
    ce = F.cross_entropy(_tensor([[1e4, -1e4]], device, dtype, grad=False),
                         mt.tensor(backend.to_device(np.array([1]), device)))
    _close(ce.numpy(), 20000.0, dtype, "cross_entropy pinned", factor=4)
    # σ(−80) in float32 and σ(−700) in float64 keep their relative accuracy (log σ finite)
    v = -80.0 if dtype == np.float32 else -700.0
    s = mt.sigmoid(_tensor([v], device, dtype, grad=False)).numpy()[0]
    exact = float(_dec_exp(v) / (1 + _dec_exp(v)))
    assert abs(s - exact) <= 8 * np.finfo(dtype).eps * exact, (s, exact)
    with quiet():
        assert np.isfinite(mt.log(mt.sigmoid(_tensor([v], device, dtype, grad=False))).numpy())
    record(["stability: pinned points (decimal, 50 digits)"], "matched the 50-digit value")


# ---------------------------------------------------------------- documented special values


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_log_sqrt_div_special_values_as_documented(device, dtype):
    """log(0) = −inf, log(x<0) = nan, ∂log/∂x at 0 = +inf; sqrt(0) = 0 with gradient +inf,
    sqrt(x<0) = nan; x/0 = ±inf, 0/0 = nan, ∂(a/b)/∂b at b = 0 is ∓inf or nan. No error."""
    with quiet():
        x = _tensor([0.0, -1.0, 1.0], device, dtype)
        y = mt.log(x)
        y.backward(backend.to_device(np.ones(3, dtype), device))
        np.testing.assert_array_equal(y.numpy(), [-np.inf, np.nan, 0.0])
        np.testing.assert_array_equal(x.grad.numpy(), [np.inf, -1.0, 1.0])

        x = _tensor([0.0, -1.0, 4.0], device, dtype)
        y = mt.sqrt(x)
        y.backward(backend.to_device(np.ones(3, dtype), device))
        np.testing.assert_array_equal(y.numpy(), [0.0, np.nan, 2.0])
        np.testing.assert_array_equal(x.grad.numpy(), [np.inf, np.nan, 0.25])

        a = _tensor([1.0, -1.0, 0.0, 1.0], device, dtype)
        b = _tensor([0.0, 0.0, 0.0, -0.0], device, dtype)
        y = a / b
        y.backward(backend.to_device(np.ones(4, dtype), device))
        np.testing.assert_array_equal(y.numpy(), [np.inf, -np.inf, np.nan, -np.inf])
        np.testing.assert_array_equal(a.grad.numpy(), [np.inf, np.inf, np.inf, -np.inf])
        np.testing.assert_array_equal(b.grad.numpy(), [-np.inf, np.inf, np.nan, -np.inf])
        # integers divide into float32 (PyTorch's true division), by zero included
        q = mt.tensor([1, 0]) / mt.tensor([0, 0])
        assert q.dtype == np.float32
        np.testing.assert_array_equal(q.numpy(), [np.inf, np.nan])
    record(["special values: log, sqrt, div at 0 and below"], "as documented")


def test_special_values_are_documented_in_the_op_modules():
    """The docstrings state what the tests above pin."""
    from minitl import guards
    from minitl.ops import elementwise, nn

    for text in ("log(0) = −inf", "sqrt(0) = 0 with gradient +inf", "x/0 = ±inf",
                 "0/0 = NaN"):
        assert text in elementwise.__doc__, text
    assert "log(0) = −inf" in guards.__doc__
    assert "−inf logits are masked out" in nn.__doc__
    assert "log(0) = −inf" in elementwise.Log.__doc__
    assert "At x = 0 the gradient is +inf" in elementwise.Sqrt.__doc__
    assert "x/0 = ±inf, 0/0 = nan" in elementwise.Div.__doc__
