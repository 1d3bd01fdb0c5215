"""Each fast path (``minitl/fast/``) against the plain op it replaces: the same values, the
same gradients, and a gradient check of its own; and the one switch that turns them off."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_ops_grad import conv_case, on, spread_out

import minitl as mt
import minitl.nn.functional as F
from minitl import fast
from minitl.fast import conv as fast_conv
from minitl.fast import losses as fast_losses
from minitl.fast import optim as fast_optim
from minitl.ops import conv as plain_conv
from minitl.ops import nn as plain_nn
from minitl.optim import adam as plain_adam
from minitl.testing import arrays, gradcheck, shapes


def _values_and_grads(op, arrays_, upstream, **params):
    leaves = [mt.tensor(a, requires_grad=True) for a in arrays_]
    out = op.apply(*leaves, **params)
    out.backward(upstream)
    return out.numpy(), [t.grad.numpy() for t in leaves]


def _same(plain_op, fast_op, arrays_, device, rng, **params):
    arrays_ = [on(device, a) for a in arrays_]
    shape = plain_op.apply(*[mt.tensor(a) for a in arrays_], **params).shape
    upstream = on(device, rng.standard_normal(shape))
    y_plain, g_plain = _values_and_grads(plain_op, arrays_, upstream, **params)
    y_fast, g_fast = _values_and_grads(fast_op, arrays_, upstream, **params)
    np.testing.assert_allclose(y_fast, y_plain, rtol=1e-12, atol=1e-12)
    for got, want in zip(g_fast, g_plain, strict=True):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    gradcheck(lambda *ts: fast_op.apply(*ts, **params), *arrays_)


def test_every_fast_path_replaces_a_plain_op_of_the_same_name():
    assert fast.select(plain_conv.Conv2d) is (fast_conv.Conv2d if fast.enabled()
                                              else plain_conv.Conv2d)
    for plain, faster in fast._versions.items():
        assert plain is not faster
        assert plain.__name__ in (faster.__name__, f"{faster.__name__}_composite")


@given(case=conv_case(), seed=st.integers(0, 2**16))
def test_fast_conv2d_matches_the_plain_one(device, case, seed):
    x, w, b, stride, padding = case
    inputs = (x, w) if b is None else (x, w, b)
    _same(plain_conv.Conv2d, fast_conv.Conv2d, inputs, device, np.random.default_rng(seed),
          stride=stride, padding=padding)


@given(data=st.data())
def test_fast_max_pool2d_matches_the_plain_one(device, data):
    k, stride = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    padding = data.draw(st.integers(0, k // 2))
    side = data.draw(st.integers(max(k - 2 * padding, 1), 6))
    x = spread_out(data.draw(arrays((data.draw(st.integers(1, 2)), 2, side, side + 1))))
    _same(plain_conv.MaxPool2d, fast_conv.MaxPool2d, [x], device,
          np.random.default_rng(data.draw(st.integers(0, 2**16))), kernel_size=k,
          stride=stride, padding=padding)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(data=st.data())
def test_fused_mse_loss_matches_the_composite(device, reduction, data):
    shape = data.draw(shapes(max_dims=3))
    a, b = (on(device, data.draw(arrays(shape))) for _ in range(2))
    upstream = on(device, data.draw(arrays(() if reduction != "none" else shape)))
    results = []
    for loss in (plain_nn.mse_loss_composite, fast_losses.mse_loss):
        ta, tb = mt.tensor(a, requires_grad=True), mt.tensor(b, requires_grad=True)
        out = loss(ta, tb, reduction)
        out.backward(upstream)
        results.append((out.numpy(), ta.grad.numpy(), tb.grad.numpy()))
    for got, want in zip(*results, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    gradcheck(lambda s, t: fast_losses.mse_loss(s, t, reduction), a, b)


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:invalid value")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(data=st.data())
def test_cross_entropy_on_rows_is_bit_identical_to_the_plain_one(device, dtype, data):
    """(N, C) scores index [rows, targets]; other layouts, smoothing and reduction="none"
    fall back to the plain op. Values and gradients have the same bits either way."""
    n, c = data.draw(st.integers(0, 6)), data.draw(st.integers(1, 5))
    extra = data.draw(st.sampled_from([(), (), (3,)]))  # (N, C, d) exercises the fallback
    reduction = data.draw(st.sampled_from(["mean", "sum", "none"]))
    smoothing = data.draw(st.sampled_from([0.0, 0.0, 0.25]))
    scores = on(device, data.draw(arrays((n, c) + extra, dtype=dtype)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    targets = mt.tensor(on(device, rng.integers(0, c, size=(n,) + extra)))
    upstream = on(device, rng.standard_normal((n,) + extra if reduction == "none" else ())
                  .astype(dtype))
    results = []
    for op in (plain_nn.CrossEntropy, fast_losses.CrossEntropy):
        leaf = mt.tensor(scores, requires_grad=True)
        out = op.apply(leaf, targets, reduction=reduction, label_smoothing=smoothing)
        out.backward(upstream)  # (the mean of no rows is NaN, with NumPy's warning)
        results.append((out.numpy(), leaf.grad.numpy()))
    for got, want in zip(*results, strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    if dtype == np.float64 and n:
        gradcheck(lambda s: fast_losses.CrossEntropy.apply(
            s, targets, reduction=reduction, label_smoothing=smoothing), scores)


@given(data=st.data())
def test_adam_update_with_one_buffer_is_bit_identical(data):
    shape = data.draw(shapes(max_dims=3))
    m = data.draw(arrays(shape, dtype=np.float32))
    v = np.abs(data.draw(arrays(shape, dtype=np.float32)))
    step, bias2 = data.draw(st.floats(1e-4, 1.0)), data.draw(st.floats(1e-3, 1.0))
    plain = plain_adam.adam_update(m, v, step, bias2, 1e-8)
    faster = fast_optim.adam_update(m, v, step, bias2, 1e-8)
    assert faster.dtype == plain.dtype == np.float32
    np.testing.assert_array_equal(faster, plain)


def _adam_run(update_each, kind, weight_decay, dtype, seed):
    """Parameters and Adam state after a run that exercises every way a group can change:
    a parameter skipped (no gradient: its step count falls behind), a group frozen and
    unfrozen, a state dict loaded, a deep copy of the optimizer."""
    import copy

    rng = np.random.default_rng(seed)
    shapes_ = [(3, 4), (4,), (2, 3, 2), (5,), (1,)]
    params = [mt.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True)
              for s in shapes_]
    opt = kind([{"params": params[:3]}, {"params": params[3:], "lr": 3e-2}], lr=1e-2,
               weight_decay=weight_decay)
    opt._update_group = lambda ps, group: update_each(opt, ps, group)
    for step in range(12):
        for i, p in enumerate(params):
            skipped = step in (3, 4) and i == 1
            p.grad = None if skipped else mt.tensor(rng.standard_normal(p.shape).astype(dtype))
        opt.param_groups[1]["frozen"] = step in (6, 7)
        if step == 9:
            opt.load_state_dict(copy.deepcopy(opt.state_dict()))
        if step == 10:
            twin = copy.deepcopy(opt)
            twin._update_group = lambda ps, group, t=twin: update_each(t, ps, group)
            twin.step()  # the copy's steps must not reach the original's state
        opt.step()
    return [p.numpy().copy() for p in params], opt.state_dict()["state"]


@pytest.mark.parametrize("kind", [mt.optim.Adam, mt.optim.AdamW])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_group_update_is_bit_identical(kind, weight_decay, dtype):
    """The multi-tensor update (flat buffers, one pass per line of Adam) against the plain
    one parameter at a time, through skips, freezing, loading and copying."""
    plain = _adam_run(plain_adam.update_each, kind, weight_decay, dtype, seed=3)
    faster = _adam_run(fast_optim.update_each, kind, weight_decay, dtype, seed=3)
    for got, want in zip(faster[0], plain[0], strict=True):
        assert got.dtype == want.dtype == dtype
        np.testing.assert_array_equal(got, want)
    assert faster[1].keys() == plain[1].keys()
    for index, state in plain[1].items():
        assert faster[1][index]["step"] == state["step"]
        for key in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_array_equal(faster[1][index][key], state[key])


def test_adam_group_update_keeps_each_state_a_view_of_its_parameter_shape():
    p, q = (mt.tensor(np.ones(s, dtype=np.float32), requires_grad=True) for s in ((2, 3), (3,)))
    opt = mt.optim.Adam([p, q], lr=0.1)
    for t in (p, q):
        t.grad = mt.tensor(np.ones(t.shape, dtype=np.float32))
    fast_optim.update_each(opt, [p, q], opt.param_groups[0])
    assert opt.state[p]["exp_avg"].shape == (2, 3) and opt.state[q]["exp_avg_sq"].shape == (3,)
    assert opt.state[p]["step"] == opt.state[q]["step"] == 1
    assert opt.state[p]["exp_avg"].base is opt.state[q]["exp_avg"].base  # one flat buffer


def test_max_pool2d_ties_and_nan_windows_agree():
    """Ties: the first largest (row-major) wins in both; a NaN window passes no gradient."""
    x = np.array([[[[1.0, 1.0, 0.0, np.nan], [0.0, 1.0, 2.0, 2.0]]]])
    results = [_values_and_grads(op, [x], np.ones((1, 1, 1, 2)), kernel_size=2)
               for op in (plain_conv.MaxPool2d, fast_conv.MaxPool2d)]
    (y_plain, (g_plain,)), (y_fast, (g_fast,)) = results
    np.testing.assert_array_equal(y_plain, y_fast)
    np.testing.assert_array_equal(g_plain, [[[[1, 0, 0, 0], [0, 0, 0, 0]]]])
    np.testing.assert_array_equal(g_fast, g_plain)


@pytest.mark.parametrize("flag", [False, True])
def test_the_switch_picks_the_version(flag):
    before = fast.enabled()
    try:
        fast.set_enabled(flag)
        x = mt.tensor(np.ones((1, 1, 4, 4)), requires_grad=True)
        y = F.max_pool2d(F.conv2d(x, mt.tensor(np.ones((1, 1, 3, 3))), padding=1))
        kinds = {y._ctx.fn, y._ctx.inputs[0]._ctx.fn}
        wanted = fast_conv if flag else plain_conv
        assert kinds == {wanted.MaxPool2d, wanted.Conv2d}
    finally:
        fast.set_enabled(before)
