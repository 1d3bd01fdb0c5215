"""Property tests for every differentiable op: forward against NumPy, backward against
central differences (float64, random upstream gradient, random shapes including 0-d and
broadcasting). See ``minitl.testing`` for how the check works."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_table import BINARY, SOFTMAX_FAMILY, UNARY

import minitl as mt
import minitl.nn.functional as F
from minitl import backend
from minitl.errors import ShapeError
from minitl.testing import (
    arrays,
    broadcastable_shapes,
    gradcheck,
    matmul_shapes,
    nudge_away,
    shapes,
)


def on(device, *arrays_):
    """The arrays moved to ``device`` (leaves for gradcheck)."""
    moved = tuple(backend.to_device(a, device) for a in arrays_)
    return moved if len(moved) > 1 else moved[0]


def spread_out(x, gap=0.1):
    """x with every pair of values at least ~gap apart, keeping their order (ties broken)."""
    ranks = np.argsort(np.argsort(x, axis=None, kind="stable")).reshape(x.shape)
    return ranks * gap + x * (gap / 10)


def assert_forward(out, expected, rtol=1e-10, atol=1e-12):
    got = out.numpy()
    assert got.shape == np.shape(expected)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


# ---------------------------------------------------------------- elementwise


@pytest.mark.parametrize("spec", UNARY, ids=lambda s: s.name)
@given(data=st.data())
def test_unary_ops(spec, device, data):
    x = data.draw(arrays(shapes(), spec.low, spec.high))
    x = nudge_away(x, spec.kinks)
    assert_forward(spec.op(mt.tensor(on(device, x))), spec.ref(x))
    gradcheck(spec.op, on(device, x))


@pytest.mark.parametrize("spec", BINARY, ids=lambda s: s.name)
@given(data=st.data())
def test_binary_ops_broadcast(spec, device, data):
    shape_a, shape_b = data.draw(broadcastable_shapes())
    a = nudge_away(data.draw(arrays(shape_a, spec.low, spec.high)), spec.kinks)
    low_b = spec.low if spec.low_b is None else spec.low_b
    high_b = spec.high if spec.high_b is None else spec.high_b
    b = data.draw(arrays(shape_b, low_b, high_b))
    assert_forward(spec.op(mt.tensor(on(device, a)), mt.tensor(on(device, b))), spec.ref(a, b))
    gradcheck(spec.op, *on(device, a, b))


@given(data=st.data())
def test_float32_stays_float32_with_python_scalars(data):
    x = mt.tensor(data.draw(arrays(shapes())).astype(np.float32), requires_grad=True)
    for y in (x + 1.0, 2.0 * x, x / 3.0, 1.0 - x, x**2.0, x * 2, mt.clip(x, -1.0, 1.0)):
        assert y.dtype == np.float32
    (x * 0.5).sum().backward()
    assert x.grad.dtype == np.float32


# ---------------------------------------------------------------- matmul


@given(data=st.data())
def test_matmul_batched_and_broadcast(device, data):
    shape_a, shape_b = data.draw(matmul_shapes())
    a, b = data.draw(arrays(shape_a)), data.draw(arrays(shape_b))
    assert_forward(mt.tensor(on(device, a)) @ mt.tensor(on(device, b)), a @ b)
    gradcheck(lambda s, t: s @ t, *on(device, a, b))


# ---------------------------------------------------------------- reductions


@st.composite
def array_and_axis(draw, min_side=1):
    shape = draw(shapes(min_side=min_side))
    x = draw(arrays(shape))
    ndim = len(shape)
    axis = draw(st.one_of(
        st.none(),
        st.integers(-ndim, ndim - 1) if ndim else st.none(),
        st.lists(st.integers(0, max(ndim - 1, 0)), unique=True, max_size=ndim).map(tuple),
    ))
    return x, axis, draw(st.booleans())


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
@given(case=array_and_axis())
def test_reductions(name, device, case):
    x, axis, keepdims = case
    if name in ("max", "min"):
        x = spread_out(x)  # no ties: the derivative jumps where two values are equal
    op = getattr(mt, name)
    ref = getattr(np, name)(x, axis=axis, keepdims=keepdims)
    assert_forward(op(mt.tensor(on(device, x)), axis=axis, keepdims=keepdims), ref)
    gradcheck(lambda t: op(t, axis=axis, keepdims=keepdims), on(device, x))


@given(case=array_and_axis(min_side=2), ddof=st.sampled_from([0, 1]))
def test_var(device, case, ddof):
    x, axis, keepdims = case
    axes = range(x.ndim) if axis is None else np.atleast_1d(axis).tolist()
    if int(np.prod([x.shape[a] for a in axes])) - ddof <= 0:
        with pytest.raises(ShapeError, match="degrees of freedom"):
            mt.var(mt.tensor(on(device, x)), axis=axis, ddof=ddof)
        return
    ref = np.var(x, axis=axis, keepdims=keepdims, ddof=ddof)
    assert_forward(mt.var(mt.tensor(on(device, x)), axis=axis, keepdims=keepdims, ddof=ddof),
                   ref)
    gradcheck(lambda t: t.var(axis=axis, keepdims=keepdims, ddof=ddof), on(device, x))


def test_max_shares_gradient_among_ties():
    x = mt.tensor(np.array([1.0, 3.0, 3.0, 2.0]), requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.5, 0.5, 0.0])


# ---------------------------------------------------------------- shape ops


@given(x=arrays(shapes()), data=st.data())
def test_reshape_flatten_squeeze_unsqueeze(device, x, data):
    sizes = [d for d in range(1, x.size + 1) if x.size % d == 0]
    first = data.draw(st.sampled_from(sizes))
    new_shape = (first, -1)
    axis = data.draw(st.integers(-x.ndim - 1, x.ndim))
    cases = [
        (lambda t: t.reshape(new_shape), x.reshape(new_shape)),
        (lambda t: t.flatten(), x.reshape(-1)),
        (lambda t: mt.squeeze(t), np.squeeze(x)),
        (lambda t: t.unsqueeze(axis), np.expand_dims(x, axis)),
    ]
    for fn, ref in cases:
        assert_forward(fn(mt.tensor(on(device, x))), ref)
        gradcheck(fn, on(device, x))


@given(x=arrays(shapes(min_dims=1)), data=st.data())
def test_permute_transpose(device, x, data):
    perm = data.draw(st.permutations(range(x.ndim)))
    d0, d1 = data.draw(st.integers(0, x.ndim - 1)), data.draw(st.integers(0, x.ndim - 1))
    assert_forward(mt.tensor(on(device, x)).permute(*perm), x.transpose(perm))
    assert_forward(mt.tensor(on(device, x)).transpose(d0, d1), np.swapaxes(x, d0, d1))
    assert_forward(mt.tensor(on(device, x)).T, x.T)
    gradcheck(lambda t: t.permute(*perm), on(device, x))
    gradcheck(lambda t: t.transpose(d0, d1), on(device, x))
    gradcheck(lambda t: t.T, on(device, x))


@given(shapes_=broadcastable_shapes(num_shapes=2), data=st.data())
def test_broadcast_to(device, shapes_, data):
    small, other = shapes_
    target = np.broadcast_shapes(small, other)
    x = data.draw(arrays(small))
    assert_forward(mt.broadcast_to(mt.tensor(on(device, x)), target), np.broadcast_to(x, target))
    gradcheck(lambda t: mt.broadcast_to(t, target), on(device, x))


@given(x=arrays(shapes(min_dims=1, max_side=6)), data=st.data())
def test_getitem_slices_and_integer_arrays(device, x, data):
    n = x.shape[0]
    start = data.draw(st.integers(-n, n - 1))
    step = data.draw(st.integers(1, 3))
    rows = np.asarray(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=6)))
    cases = [
        (slice(start, None, step),),
        (Ellipsis, 0) if x.ndim > 1 else (0,),
        (rows,),                        # repeated rows: their gradients must add up
        x > 0.0,                        # a boolean mask of the same shape
    ]
    for index in cases:
        index = index if isinstance(index, np.ndarray) else tuple(index)
        dev_index = on(device, index) if isinstance(index, np.ndarray) else index
        assert_forward(mt.tensor(on(device, x))[dev_index], x[index])
        gradcheck(lambda t, i=dev_index: t[i], on(device, x))


@given(data=st.data(), count=st.integers(1, 3))
def test_concatenate_and_stack(device, data, count):
    base = data.draw(shapes(min_dims=1))
    axis = data.draw(st.integers(-len(base), len(base) - 1))
    cat_parts = []
    for _ in range(count):
        shape = list(base)
        shape[axis] = data.draw(st.integers(1, 3))
        cat_parts.append(data.draw(arrays(tuple(shape))))
    stack_parts = [data.draw(arrays(base)) for _ in range(count)]
    stack_axis = data.draw(st.integers(-len(base) - 1, len(base)))
    assert_forward(mt.concatenate([mt.tensor(on(device, p)) for p in cat_parts], axis=axis),
                   np.concatenate(cat_parts, axis=axis))
    assert_forward(mt.stack([mt.tensor(on(device, p)) for p in stack_parts], axis=stack_axis),
                   np.stack(stack_parts, axis=stack_axis))
    gradcheck(lambda *ts: mt.concatenate(ts, axis=axis), *[on(device, p) for p in cat_parts])
    gradcheck(lambda *ts: mt.stack(ts, axis=stack_axis), *[on(device, p) for p in stack_parts])


# ---------------------------------------------------------------- softmax family and losses


@pytest.mark.parametrize("name", sorted(SOFTMAX_FAMILY))
@given(x=arrays(shapes(min_dims=1), -5, 5), data=st.data())
def test_softmax_family(name, device, x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    op, ref = SOFTMAX_FAMILY[name]
    assert_forward(op(mt.tensor(on(device, x)), axis=axis), ref(x, axis))
    gradcheck(lambda t: op(t, axis=axis), on(device, x))


@st.composite
def logits_and_targets(draw):
    n, c = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    extra = draw(st.lists(st.integers(1, 3), max_size=2))
    logits = draw(arrays((n, c, *extra), -4, 4))
    targets = draw(arrays((n, *extra), 0, c - 0.01)).astype(np.int64)
    return logits, targets


def _np_cross_entropy(logits, targets, smoothing):
    log_p = np.log(_softmax_axis1(logits))
    picked = np.take_along_axis(log_p, targets[:, None], 1)[:, 0]
    return -(1 - smoothing) * picked - smoothing * log_p.mean(axis=1)


def _softmax_axis1(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(case=logits_and_targets(), smoothing=st.sampled_from([0.0, 0.1]))
def test_cross_entropy_and_nll(device, case, reduction, smoothing):
    logits, targets = case
    ref = _np_cross_entropy(logits, targets, smoothing)
    ref = {"mean": ref.mean(), "sum": ref.sum(), "none": ref}[reduction]
    t_targets = mt.tensor(on(device, targets))
    out = F.cross_entropy(mt.tensor(on(device, logits)), t_targets, reduction=reduction,
                          label_smoothing=smoothing)
    assert_forward(out, ref, rtol=1e-9)
    gradcheck(lambda z: F.cross_entropy(z, t_targets, reduction=reduction,
                                        label_smoothing=smoothing), on(device, logits))
    log_p = np.log(_softmax_axis1(logits))
    nll_ref = -np.take_along_axis(log_p, targets[:, None], 1)[:, 0]
    nll_ref = {"mean": nll_ref.mean(), "sum": nll_ref.sum(), "none": nll_ref}[reduction]
    assert_forward(F.nll_loss(mt.tensor(on(device, log_p)), t_targets, reduction=reduction),
                   nll_ref, rtol=1e-9)
    gradcheck(lambda z: F.nll_loss(z, t_targets, reduction=reduction), on(device, log_p))


@given(shape=shapes(), data=st.data())
def test_mse_and_bce_with_logits(device, shape, data):
    a, b = data.draw(arrays(shape, -3, 3)), data.draw(arrays(shape, 0, 1))
    assert_forward(F.mse_loss(mt.tensor(on(device, a)), mt.tensor(on(device, b))),
                   ((a - b) ** 2).mean())
    ref = np.maximum(a, 0) - a * b + np.log1p(np.exp(-np.abs(a)))
    assert_forward(F.binary_cross_entropy_with_logits(mt.tensor(on(device, a)),
                                                      mt.tensor(on(device, b))), ref.mean())
    gradcheck(lambda s, t: F.mse_loss(s, t, reduction="sum"), *on(device, a, b))
    gradcheck(lambda s, t: F.binary_cross_entropy_with_logits(s, t, reduction="none"),
              *on(device, a, b))


@given(data=st.data())
def test_linear(device, data):
    batch = data.draw(st.lists(st.integers(1, 3), max_size=2))
    n_in, n_out = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    x = data.draw(arrays((*batch, n_in)))
    w, b = data.draw(arrays((n_out, n_in))), data.draw(arrays((n_out,)))
    assert_forward(F.linear(*[mt.tensor(on(device, v)) for v in (x, w, b)]), x @ w.T + b)
    gradcheck(F.linear, *on(device, x, w, b))


@given(x=arrays(shapes(min_dims=1)), p=st.sampled_from([0.0, 0.3, 0.9]))
def test_dropout(device, x, p):
    out = F.dropout(mt.tensor(on(device, x)), p=p, rng=7)
    kept = out.numpy() != 0
    np.testing.assert_allclose(out.numpy()[kept], x[kept] / (1 - p))
    assert F.dropout(mt.tensor(on(device, x)), p=p, training=False).numpy() is not None
    gradcheck(lambda t: F.dropout(t, p=p, rng=7), on(device, x))


# ---------------------------------------------------------------- convolution and pooling


def _np_conv2d(x, w, b, stride, padding):
    """Direct definition, loops over output pixels: slow but obviously right."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    n, _, h, wd = xp.shape
    o, _, kh, kw = w.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    y = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            y[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    return y if b is None else y + b[None, :, None, None]


def _np_pool(x, k, stride, padding, reduce, pad_value):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)),
                constant_values=pad_value)
    oh, ow = (xp.shape[2] - k) // stride + 1, (xp.shape[3] - k) // stride + 1
    y = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            y[:, :, i, j] = reduce(xp[:, :, i * stride:i * stride + k, j * stride:j * stride + k],
                                   axis=(2, 3))
    return y


@st.composite
def conv_case(draw):
    n, c, o = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    k, stride, padding = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(0, 1))
    h = draw(st.integers(max(k - 2 * padding, 1), 6))
    w_side = draw(st.integers(max(k - 2 * padding, 1), 6))
    x = draw(arrays((n, c, h, w_side)))
    w = draw(arrays((o, c, k, k)))
    b = draw(st.one_of(st.none(), arrays((o,))))
    return x, w, b, stride, padding


@given(case=conv_case())
def test_conv2d(device, case):
    x, w, b, stride, padding = case
    inputs = (x, w) if b is None else (x, w, b)
    out = F.conv2d(*[mt.tensor(on(device, v)) for v in inputs], stride=stride, padding=padding)
    assert_forward(out, _np_conv2d(x, w, b, stride, padding), rtol=1e-9, atol=1e-10)
    gradcheck(lambda *ts: F.conv2d(*ts, stride=stride, padding=padding),
              *[on(device, v) for v in inputs])


@pytest.mark.parametrize("kind", ["max", "avg"])
@given(data=st.data())
def test_pooling(device, kind, data):
    k = data.draw(st.integers(1, 3))
    stride = data.draw(st.integers(1, 3))
    padding = data.draw(st.integers(0, k // 2))
    side = data.draw(st.integers(max(k - 2 * padding, 1), 6))
    x = data.draw(arrays((data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)), side,
                          side + 1)))
    if kind == "max":
        x = spread_out(x)  # no ties inside a window
        op, ref = F.max_pool2d, _np_pool(x, k, stride, padding, np.max, -np.inf)
    else:
        op, ref = F.avg_pool2d, _np_pool(x, k, stride, padding, np.mean, 0.0)
    assert_forward(op(mt.tensor(on(device, x)), k, stride=stride, padding=padding), ref)
    gradcheck(lambda t: op(t, k, stride=stride, padding=padding), on(device, x))
