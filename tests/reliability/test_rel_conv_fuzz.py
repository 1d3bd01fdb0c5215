"""API fuzzing of conv2d, max_pool2d and avg_pool2d (``minitl/ops/conv.py``): random
ranks, channel counts, spatial sizes (smaller than the kernel included), empty batches,
dtypes and special values, against direct NumPy references (a loop over kernel offsets).

Policy (rule 6 of ``minitl/guards.py``): these are neural-network ops and need
floating inputs; floating operands promote as in NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rel_support import (
    DTYPES,
    FLOATS,
    FUZZ,
    Refuse,
    arrays_of,
    check_backward,
    check_call,
    classify,
    finite_max,
    leaf,
    run_reference,
)

import minitl.nn.functional as F
from minitl.errors import DTypeError, ShapeError


def _refuse_if(*problems):
    errors = tuple(error for error, bad in problems if bad)
    if errors:
        raise Refuse(errors)


def _too_small(x, kernel, padding):
    return x.ndim == 4 and any(s + 2 * p < k for s, k, p in zip(x.shape[2:], kernel, padding))


def _windows_ref(x, kernel, stride, padding, pad_value):
    """(N, C, OH, OW, kh, kw) patches of x, built with explicit loops (no stride tricks)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, h, w = x.shape
    padded = np.full((n, c, h + 2 * ph, w + 2 * pw), pad_value, dtype=x.dtype)
    padded[:, :, ph:ph + h, pw:pw + w] = x
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    out = np.empty((n, c, oh, ow, kh, kw), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = padded[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
    return out


def _conv_ref(x, w, b, stride, padding):
    _refuse_if((DTypeError, any(a is not None and a.dtype.kind != "f" for a in (x, w, b))),
               (ShapeError, x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1]
                or _too_small(x, w.shape[2:], padding)))
    dtype = np.result_type(*(a.dtype for a in (x, w, b) if a is not None))
    # float16 products are summed in float32, as NumPy's float16 matmul does (otherwise
    # partial sums near 6e4 overflow in an order-dependent way)
    work = np.float32 if dtype == np.float16 else dtype
    patches = _windows_ref(x.astype(work), w.shape[2:], stride, padding, 0)
    y = np.einsum("ncijpq,ocpq->noij", patches, w.astype(work)).astype(dtype)
    return y if b is None else y + b.astype(dtype).reshape(1, -1, 1, 1)


def _pool_ref(kind, x, kernel, stride, padding):
    _refuse_if((DTypeError, x.dtype.kind != "f"),
               (ShapeError, x.ndim != 4 or _too_small(x, kernel, padding)))
    pad = -np.inf if kind == "max" else 0
    windows = _windows_ref(x, kernel, stride, padding, pad)
    return windows.max(axis=(4, 5)) if kind == "max" else windows.mean(axis=(4, 5))


@st.composite
def nchw(draw, channels):
    rank = draw(st.sampled_from([4, 4, 4, 4, 3, 2, 5]))
    shape = [draw(st.integers(0, 2)), channels] + [draw(st.integers(1, 5)) for _ in range(2)]
    if draw(st.integers(0, 5)) == 0:
        shape[1] = draw(st.integers(0, 3))  # a wrong channel count
    return tuple(shape[:rank]) if rank <= 4 else tuple(shape) + (2,)


float_dtypes = st.sampled_from([np.dtype(d) for d in FLOATS])
non_float_dtypes = st.sampled_from([d for d in DTYPES if d.kind != "f"])


def _conv_case(device, data, x_dtype, w_dtype, b_dtype):
    channels, out_ch = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
    k = data.draw(st.integers(1, 3))
    x = arrays_of(data.draw, x_dtype, data.draw(nchw(channels)))
    w = arrays_of(data.draw, w_dtype, (out_ch, channels, k, k))
    b = arrays_of(data.draw, b_dtype, (out_ch,)) if data.draw(st.booleans()) else None
    stride, padding = data.draw(st.integers(1, 2)), data.draw(st.integers(0, 1))
    operands = [x, w] + ([b] if b is not None else [])
    classes = classify(operands, _layout_classes(x, channels, (k, k), padding))

    def expected():
        y = np.asarray(run_reference(_conv_ref, x, w, b, (stride, stride),
                                     (padding, padding)))
        return y, np.result_type(*(a.dtype for a in operands))

    inputs = [leaf(a, device) for a in operands]
    out = check_call(lambda *t: F.conv2d(*t, stride=stride, padding=padding), inputs,
                     expected, classes, what="conv2d", sums=True,
                     scale=finite_max(x) * finite_max(w) * channels * k * k + finite_max(b))
    check_backward(out, inputs, "conv2d")


@FUZZ
@given(data=st.data(), dtype=float_dtypes)
def test_conv2d(device, data, dtype):
    """Floating input, weight and bias of one dtype: any layout, values, empty batches."""
    _conv_case(device, data, dtype, dtype, dtype)


@FUZZ
@given(data=st.data(), wide=st.sampled_from([np.dtype(np.float32), np.dtype(np.float64)]))
def test_conv2d_bias_wider_than_input(device, data, wide):
    _conv_case(device, data, np.dtype(np.float16), np.dtype(np.float16), wide)


@FUZZ
@given(data=st.data(), dtype=non_float_dtypes, op=st.sampled_from(["conv", "max", "avg"]))
def test_conv_and_pools_refuse_non_float_input(device, data, dtype, op):
    if op == "conv":
        _conv_case(device, data, dtype, np.dtype(np.float32), np.dtype(np.float32))
    else:
        _pool_case(device, data, op, dtype)


def _pool_case(device, data, kind, dtype):
    channels = data.draw(st.integers(1, 2))
    x = arrays_of(data.draw, dtype, data.draw(nchw(channels)))
    k = data.draw(st.integers(1, 3))
    stride = data.draw(st.sampled_from([None, 1, 2]))
    padding = data.draw(st.integers(0, k // 2))
    classes = classify([x], _layout_classes(x, None, (k, k), padding))

    def expected():
        s = k if stride is None else stride
        y = np.asarray(run_reference(_pool_ref, kind, x, (k, k), (s, s), (padding, padding)))
        return y, x.dtype

    fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    inputs = [leaf(x, device)]
    out = check_call(lambda t: fn(t, k, stride, padding), inputs, expected, classes,
                     what=f"{kind}_pool2d", scale=finite_max(x))
    check_backward(out, inputs, f"{kind}_pool2d")


@pytest.mark.parametrize("kind", ["max", "avg"])
@FUZZ
@given(data=st.data(), dtype=float_dtypes)
def test_pool2d(device, kind, data, dtype):
    _pool_case(device, data, kind, dtype)


def _layout_classes(x, channels, kernel, padding):
    out = []
    if x.ndim != 4:
        out.append("layout: wrong rank for NCHW")
    elif channels is not None and x.shape[1] != channels:
        out.append("layout: wrong channel count")
    if x.ndim == 4 and x.shape[0] == 0:
        out.append("layout: empty batch (N = 0)")
    if x.ndim == 4 and min(s + 2 * padding - k for s, k in zip(x.shape[2:], kernel)) < 0:
        out.append("layout: kernel larger than the (padded) input")
    return out
