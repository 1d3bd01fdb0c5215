"""Layer forward values against NumPy references; initialisation; dropout."""

import math

import numpy as np
import pytest

import minitl
from minitl import nn
from minitl.errors import ShapeError


def conv2d_reference(x, w, b, stride, padding):
    """Direct definition: one dot product per output pixel, looping over the pixels."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh = (h + 2 * padding - kh) // stride + 1
    ow = (wd + 2 * padding - kw) // stride + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            for k in range(o):
                out[:, k, i, j] = (patch * w[k]).sum(axis=(1, 2, 3)) + (0 if b is None else b[k])
    return out


def test_linear_forward_and_layout():
    layer = nn.Linear(4, 3, rng=0)
    assert layer.weight.shape == (3, 4) and layer.bias.shape == (3,)
    assert layer.weight.dtype == np.float32
    x = np.random.default_rng(1).standard_normal((5, 2, 4)).astype(np.float32)
    expected = x @ layer.weight.numpy().T + layer.bias.numpy()
    np.testing.assert_allclose(layer(minitl.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert nn.Linear(4, 3, bias=False, rng=0).bias is None


@pytest.mark.parametrize("stride,padding,bias", [(1, 0, True), (2, 1, True), (1, 2, False)])
def test_conv2d_forward_matches_loop_reference(stride, padding, bias):
    layer = nn.Conv2d(3, 4, (3, 2), stride=stride, padding=padding, bias=bias, dtype=np.float64,
                      rng=0)
    assert layer.weight.shape == (4, 3, 3, 2)
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 5))
    out = layer(minitl.tensor(x)).numpy()
    b = None if layer.bias is None else layer.bias.numpy()
    expected = conv2d_reference(x, layer.weight.numpy(), b, stride, padding)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


def test_pooling_and_flatten_shapes_and_values():
    x = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    t = minitl.tensor(x)
    maxed = nn.MaxPool2d(2)(t).numpy()
    np.testing.assert_array_equal(maxed, x.reshape(2, 3, 2, 2, 2, 2).max(axis=(3, 5)))
    averaged = nn.AvgPool2d(2)(t).numpy()
    np.testing.assert_allclose(averaged, x.reshape(2, 3, 2, 2, 2, 2).mean(axis=(3, 5)))
    assert nn.MaxPool2d(3, stride=1, padding=1)(t).shape == (2, 3, 4, 4)
    assert nn.Flatten()(t).shape == (2, 48)
    assert nn.Flatten(0, 1)(t).shape == (6, 4, 4)


def test_activations_match_numpy():
    x = np.linspace(-3, 3, 13)
    t = minitl.tensor(x)
    np.testing.assert_allclose(nn.ReLU()(t).numpy(), np.maximum(x, 0))
    np.testing.assert_allclose(nn.LeakyReLU(0.2)(t).numpy(), np.where(x > 0, x, 0.2 * x))
    np.testing.assert_allclose(nn.Tanh()(t).numpy(), np.tanh(x))
    np.testing.assert_allclose(nn.Sigmoid()(t).numpy(), 1 / (1 + np.exp(-x)))
    cdf = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    np.testing.assert_allclose(nn.GELU()(t).numpy(), x * cdf, rtol=1e-12)
    assert nn.Identity(3, anything=True)(t) is t


def test_layer_norm_matches_numpy():
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    layer = nn.LayerNorm((3, 4), dtype=np.float64)
    layer.weight.data[...] = np.random.default_rng(1).standard_normal((3, 4))
    layer.bias.data[...] = np.random.default_rng(2).standard_normal((3, 4))
    mu = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    expected = (x - mu) / np.sqrt(var + 1e-5) * layer.weight.numpy() + layer.bias.numpy()
    np.testing.assert_allclose(layer(minitl.tensor(x)).numpy(), expected, rtol=1e-10)
    last = nn.LayerNorm(4, elementwise_affine=False)(minitl.tensor(x)).numpy()
    expected_last = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(last, expected_last, rtol=1e-10)
    with pytest.raises(ShapeError, match="normalized_shape"):
        nn.LayerNorm(5)(minitl.tensor(x))


def test_default_init_bounds_and_seeded_determinism():
    layer = nn.Linear(50, 400, rng=0)
    bound = 1 / math.sqrt(50)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert np.abs(b).max() <= bound
    np.testing.assert_array_equal(w, nn.Linear(50, 400, rng=0).weight.numpy())
    assert not np.array_equal(w, nn.Linear(50, 400, rng=1).weight.numpy())
    conv = nn.Conv2d(4, 8, 3, rng=np.random.default_rng(0))
    assert np.abs(conv.weight.numpy()).max() <= 1 / math.sqrt(4 * 9)
    # one shared generator: successive layers differ, and the whole model is reproducible
    def build():
        rng = np.random.default_rng(7)
        return nn.Linear(3, 3, rng=rng), nn.Linear(3, 3, rng=rng)
    a1, a2 = build()
    b1, _ = build()
    assert not np.array_equal(a1.weight.numpy(), a2.weight.numpy())
    np.testing.assert_array_equal(a1.weight.numpy(), b1.weight.numpy())
    assert nn.Linear(2, 2, dtype=np.float64).weight.dtype == np.float64
    with pytest.raises(TypeError):
        nn.Linear(2, 2, dtype=np.int32)


def test_init_functions_fill_in_place():
    p = nn.Parameter(np.zeros((30, 20), dtype=np.float32))
    array = p.data
    assert nn.init.xavier_uniform_(p, rng=0) is p and p.data is array
    assert np.abs(p.numpy()).max() <= math.sqrt(6 / 50)
    nn.init.kaiming_normal_(p, nonlinearity="relu", rng=0)
    assert abs(p.numpy().std() - math.sqrt(2 / 20)) < 0.03
    nn.init.normal_(p, 1.0, 0.01, rng=0)
    assert abs(p.numpy().mean() - 1.0) < 0.01
    nn.init.uniform_(p, -0.5, 0.5, rng=0)
    assert -0.5 <= p.numpy().min() and p.numpy().max() < 0.5
    nn.init.zeros_(p)
    assert not p.numpy().any()
    nn.init.ones_(p)
    assert p.numpy().all() and p.dtype == np.float32
    with pytest.raises(ValueError):
        nn.init.kaiming_uniform_(nn.Parameter(np.zeros(3)))


def test_dropout_train_eval_and_seeded_determinism():
    x = minitl.ones(200, 50)
    layer = nn.Dropout(0.3, rng=0)
    out = layer(x).numpy()
    kept = out != 0
    assert 0.6 < kept.mean() < 0.8
    np.testing.assert_allclose(out[kept], 1 / 0.7, rtol=1e-6)
    np.testing.assert_array_equal(out, nn.Dropout(0.3, rng=0)(x).numpy())  # same seed
    assert not np.array_equal(out, layer(x).numpy())  # the generator moves on
    layer.eval()
    assert layer(x) is x
    with pytest.raises(ValueError):
        nn.Dropout(1.5)
