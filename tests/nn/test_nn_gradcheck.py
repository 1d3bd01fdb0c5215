"""Gradient checks of the layers (float64), w.r.t. the input and the layer's own parameters.

``through_layer`` runs the layer's real ``forward`` with gradcheck's float64 leaves put in
place of its Parameters, so the check covers exactly what the layer computes; a second
backward with the real Parameters must then give them the same gradients.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import minitl
from minitl import nn
from minitl.testing import gradcheck

SETTINGS = settings(deadline=None, max_examples=10)
seeds = st.integers(0, 2**16)


def through_layer(layer, names):
    def fn(x, *params):
        saved = dict(layer._parameters)
        layer._parameters.update(zip(names, params))
        try:
            return layer(x)
        finally:
            layer._parameters.clear()
            layer._parameters.update(saved)
    return fn


def check_layer(layer, x, rng):
    """gradcheck w.r.t. x and every parameter, then compare the real Parameters' grads."""
    layer.double()
    names = [n for n, p in layer.named_parameters(recurse=False)]
    params = [getattr(layer, n).data.copy() for n in names]
    fn = through_layer(layer, names)
    assert gradcheck(fn, x, *params, rng=rng)

    # the same gradients reach the layer's own Parameters
    leaves = [minitl.tensor(a, requires_grad=True) for a in [x, *params]]
    upstream = np.random.default_rng(rng).standard_normal(fn(*leaves).shape)
    fn(*leaves).backward(upstream)
    layer.zero_grad()
    xt = minitl.tensor(x, requires_grad=True)
    layer(xt).backward(upstream)
    np.testing.assert_allclose(xt.grad.numpy(), leaves[0].grad.numpy(), rtol=1e-10, atol=1e-12)
    for name, leaf in zip(names, leaves[1:]):
        np.testing.assert_allclose(getattr(layer, name).grad.numpy(), leaf.grad.numpy(),
                                   rtol=1e-10, atol=1e-12)


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.booleans(), seeds)
def test_linear_gradients(batch, fan_in, fan_out, bias, seed):
    layer = nn.Linear(fan_in, fan_out, bias=bias, rng=seed)
    x = np.random.default_rng(seed + 1).standard_normal((batch, fan_in))
    check_layer(layer, x, seed)


@SETTINGS
@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3),
       st.integers(1, 2), st.integers(0, 1), st.integers(0, 2), seeds)
def test_conv2d_gradients(n, c_in, c_out, k, stride, padding, extra, seed):
    layer = nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding, rng=seed)
    x = np.random.default_rng(seed + 1).standard_normal((n, c_in, k + extra, k + extra + 1))
    check_layer(layer, x, seed)


def _random_affine(layer, seed):
    rng = np.random.default_rng(seed + 7)
    layer.weight.data[...] = rng.standard_normal(layer.weight.shape)
    layer.bias.data[...] = rng.standard_normal(layer.bias.shape)


@SETTINGS
@given(st.integers(2, 4), st.integers(1, 3), st.sampled_from([(), (3,)]), st.booleans(), seeds)
def test_batchnorm1d_gradients(n, channels, tail, train, seed):
    layer = nn.BatchNorm1d(channels).double()
    _random_affine(layer, seed)
    layer.running_var.data[...] = 0.5 + np.random.default_rng(seed).random(channels)
    layer.train(train)
    x = np.random.default_rng(seed + 1).standard_normal((n, channels, *tail))
    check_layer(layer, x, seed)


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), seeds)
def test_batchnorm2d_gradients_in_train_mode(n, channels, h, w, seed):
    if n * h * w < 2:
        h = 2  # training needs two values per channel
    layer = nn.BatchNorm2d(channels).double()
    _random_affine(layer, seed)
    x = np.random.default_rng(seed + 1).standard_normal((n, channels, h, w))
    check_layer(layer, x, seed)


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 3), st.integers(2, 5), st.booleans(), seeds)
def test_layernorm_gradients(n, t, d, two_axes, seed):
    layer = nn.LayerNorm((t, d) if two_axes else d).double()
    _random_affine(layer, seed)
    x = np.random.default_rng(seed + 1).standard_normal((n, t, d))
    check_layer(layer, x, seed)
