"""API fuzzing of the layers: inputs of random rank (0-d to 5-d), random sizes (empty
batches included), every dtype and special values.

Each layer either returns what a NumPy reference of its forward pass computes, or
raises: a ShapeError naming the layer, the expected and the actual shape (wrong rank,
feature or channel count, a kernel larger than the input, BatchNorm training with at
most one value per channel); or a DTypeError naming the layer for a non-floating input
where the layer needs one. Chosen behaviour for an empty batch (N = 0): an empty output,
except BatchNorm in training mode (ShapeError, as in PyTorch).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rel_support import (
    FUZZ,
    Refuse,
    arrays_of,
    check_backward,
    classify,
    dtypes,
    erf,
    finite_max,
    leaf,
    quiet,
    record,
    run_reference,
)
from rel_support import assert_same as _assert_same

from minitl import nn
from minitl.errors import DTypeError, ShapeError

RNG_SEED = 0


def _linear(layer, x):
    w, b = layer.weight.numpy(), layer.bias.numpy()
    if x.ndim == 0 or x.shape[-1] != w.shape[1]:
        raise Refuse(ShapeError)
    if x.dtype.kind != "f":
        raise Refuse(DTypeError)
    return x @ w.T + b


def _conv(layer, x):
    w, b = layer.weight.numpy(), layer.bias.numpy()
    (kh, kw), (ph, pw) = layer.kernel_size, layer.padding
    if x.ndim != 4 or x.shape[1] != w.shape[1]:
        raise Refuse(ShapeError)
    if x.shape[2] + 2 * ph < kh or x.shape[3] + 2 * pw < kw:
        raise Refuse(ShapeError)
    if x.dtype.kind != "f":
        raise Refuse(DTypeError)
    dtype = np.result_type(x, w)
    work = np.float32 if dtype == np.float16 else dtype  # float16 sums in float32, as matmul
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))).astype(work)
    oh, ow = padded.shape[2] - kh + 1, padded.shape[3] - kw + 1
    y = np.zeros((x.shape[0], w.shape[0], oh, ow), dtype=work)
    for p in range(kh):
        for q in range(kw):
            y += np.einsum("nchw,oc->nohw", padded[:, :, p:p + oh, q:q + ow],
                           w[:, :, p, q].astype(work))
    return y.astype(dtype) + b.reshape(1, -1, 1, 1)


def _pool(kind, k, padding):
    def ref(layer, x):
        if x.ndim != 4 or min(x.shape[2:]) + 2 * padding < k:
            raise Refuse(ShapeError)
        if x.dtype.kind != "f":
            raise Refuse(DTypeError)
        fill = -np.inf if kind == "max" else 0
        padded = np.pad(x, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2),
                        constant_values=fill)
        stride = layer.stride
        oh, ow = ((padded.shape[2] - k) // stride + 1, (padded.shape[3] - k) // stride + 1)
        windows = np.stack([padded[:, :, p:p + stride * oh:stride, q:q + stride * ow:stride]
                            for p in range(k) for q in range(k)])
        return windows.max(axis=0) if kind == "max" else windows.mean(axis=0)

    return ref


def _batchnorm(dims):
    def ref(layer, x):
        c = layer.num_features
        if x.ndim not in dims or x.shape[1] != c:
            raise Refuse(ShapeError)
        if x.dtype.kind != "f":
            raise Refuse(DTypeError)
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, c) + (1,) * (x.ndim - 2)
        if layer.training:
            if x.size // c <= 1:
                raise Refuse(ShapeError)
            mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
        else:
            mu = layer.running_mean.numpy().reshape(shape).astype(x.dtype)
            var = layer.running_var.numpy().reshape(shape).astype(x.dtype)
        y = (x - mu) / np.sqrt(var + layer.eps)
        return y * layer.weight.numpy().reshape(shape) + layer.bias.numpy().reshape(shape)

    return ref


def _layernorm(layer, x):
    k = len(layer.normalized_shape)
    if x.ndim < k or x.shape[x.ndim - k:] != layer.normalized_shape:
        raise Refuse(ShapeError)
    if x.dtype.kind != "f":
        raise Refuse(DTypeError)
    axes = tuple(range(x.ndim - k, x.ndim))
    mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return (x - mu) / np.sqrt(var + layer.eps) * layer.weight.numpy() + layer.bias.numpy()


def _flatten(start, end):
    def ref(layer, x):
        ndim = x.ndim
        need = max(start + 1 if start >= 0 else -start, end + 1 if end >= 0 else -end)
        if ndim < need:
            raise Refuse(ShapeError)
        s, e = start % ndim, end % ndim
        if s > e:
            raise Refuse(ShapeError)
        return x.reshape(x.shape[:s] + (-1 if 0 not in x.shape else
                                        int(np.prod(x.shape[s:e + 1])),) + x.shape[e + 1:])

    return ref


def _activation(fn, rule):
    """Activation layers follow their op's rule: exact (ReLU) keeps integers and refuses
    bools; real (the others) computes integers and bools in float32."""

    def ref(layer, x):
        if rule == "exact" and x.dtype == np.bool_:
            raise Refuse(DTypeError)
        if rule == "real" and x.dtype.kind != "f":
            x = x.astype(np.float32)
        return fn(x)

    return ref


def _gelu(x):
    cdf = (0.5 * (1 + erf(x.astype(np.float64) / math.sqrt(2)))).astype(x.dtype)
    return np.where(cdf == 0, 0, x * cdf)


def _dropout_eval(layer, x):
    if x.dtype.kind != "f":
        raise Refuse(DTypeError)
    return x


LAYERS = {
    # name: (constructor, reference(layer, x), a valid input shape for the generator)
    "Linear": (lambda: nn.Linear(3, 2, rng=RNG_SEED), _linear, (2, 3)),
    "Conv2d": (lambda: nn.Conv2d(2, 3, 3, padding=1, rng=RNG_SEED), _conv, (2, 2, 3, 3)),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), _pool("max", 2, 0), (2, 2, 3, 4)),
    "AvgPool2d": (lambda: nn.AvgPool2d(3, stride=1, padding=1), _pool("avg", 3, 1),
                  (2, 2, 2, 3)),
    "BatchNorm1d(train)": (lambda: nn.BatchNorm1d(3), _batchnorm((2, 3)), (4, 3)),
    "BatchNorm1d(eval)": (lambda: nn.BatchNorm1d(3).eval(), _batchnorm((2, 3)), (4, 3, 2)),
    "BatchNorm2d(train)": (lambda: nn.BatchNorm2d(2), _batchnorm((4,)), (2, 2, 2, 2)),
    "BatchNorm2d(eval)": (lambda: nn.BatchNorm2d(2).eval(), _batchnorm((4,)), (2, 2, 2, 2)),
    "LayerNorm": (lambda: nn.LayerNorm(3), _layernorm, (2, 3)),
    "LayerNorm(2-d)": (lambda: nn.LayerNorm((2, 3)), _layernorm, (2, 2, 3)),
    "Flatten": (lambda: nn.Flatten(), _flatten(1, -1), (2, 3, 2)),
    "Flatten(0, -2)": (lambda: nn.Flatten(0, -2), _flatten(0, -2), (2, 3, 2)),
    "ReLU": (nn.ReLU, _activation(lambda x: np.maximum(x, 0), "exact"), (2, 3)),
    "LeakyReLU": (nn.LeakyReLU, _activation(lambda x: np.where(x > 0, x, 0.01 * x), "real"),
                  (2, 3)),
    "GELU": (nn.GELU, _activation(_gelu, "real"), (2, 3)),
    "Tanh": (nn.Tanh, _activation(np.tanh, "real"), (2, 3)),
    "Sigmoid": (nn.Sigmoid, _activation(lambda x: 1 / (1 + np.exp(-x)), "real"), (2, 3)),
    "Dropout(eval)": (lambda: nn.Dropout(0.5).eval(), _dropout_eval, (2, 3)),
    "Identity": (nn.Identity, lambda layer, x: x, (2, 3)),
}


@st.composite
def layer_input_shape(draw, valid):
    """Mostly near-valid shapes: the valid one, with one side changed, an axis added or
    removed, or the batch emptied; sometimes any shape of rank 0 to 5."""
    how = draw(st.sampled_from(["valid", "valid", "empty batch", "single example",
                                "one side", "rank", "random"]))
    shape = list(valid)
    if how == "empty batch":
        shape[0] = 0
    elif how == "single example":
        shape = [1, *shape[1:2], *(1 for _ in shape[2:])]
    elif how == "one side":
        i = draw(st.integers(0, len(shape) - 1))
        shape[i] = draw(st.integers(0, 5))
    elif how == "rank":
        if draw(st.booleans()) and shape:
            shape.pop(draw(st.integers(0, len(shape) - 1)))
        else:
            shape.insert(draw(st.integers(0, len(shape))), draw(st.integers(1, 3)))
    elif how == "random":
        shape = draw(st.lists(st.integers(0, 4), min_size=0, max_size=5))
    return tuple(shape)


def _input_classes(name, x, valid):
    out = []
    if x.ndim != len(valid):
        out.append("layer input: wrong rank")
    elif x.shape[1:] != valid[1:] and x.ndim > 1:
        out.append("layer input: wrong feature/channel/spatial size")
    if x.ndim and x.shape[0] == 0:
        out.append("layer input: empty batch (N = 0)")
    if name.startswith("BatchNorm") and "train" in name and x.ndim >= 2 and x.shape[1]:
        if x.size // x.shape[1] == 1:
            out.append("layer input: BatchNorm training with one value per channel")
    return out


def _float_weights(layer, dtype):
    """Weights in the input's float dtype when it is floating (float16 layers included)."""
    return layer.to(dtype=dtype) if np.dtype(dtype).kind == "f" else layer


@pytest.mark.parametrize("name", list(LAYERS))
@FUZZ
@given(data=st.data())
def test_layer(name, device, data):
    make, ref, valid = LAYERS[name]
    dtype = data.draw(dtypes)
    x = arrays_of(data.draw, dtype, data.draw(layer_input_shape(valid)))
    layer = _float_weights(make(), dtype).to(device)
    classes = classify([x], _input_classes(name, x, valid))
    host_layer = _float_weights(make(), dtype)  # same seed: same weights, on the host
    try:
        expected = np.asarray(run_reference(ref, host_layer, x))
        refusal = None
    except Refuse as r:
        refusal = r.error
    inputs = [leaf(x, device)]
    if refusal is not None:
        with quiet(), pytest.raises(refusal) as info:
            layer(*inputs)
        message = str(info.value)
        short = type(layer).__name__  # activations' dtype errors come from their op
        assert short.lower() in message.lower(), f"{name}: error does not name it: {message}"
        if refusal is ShapeError and "per channel" not in message:
            assert _shape_text(x.shape) in message, f"{name}: actual shape missing: {message}"
            assert "expected" in message, f"{name}: expected shape missing: {message}"
        record(classes, f"raised {type(info.value).__name__}")
        return
    with quiet():
        out = layer(*inputs)
    scale = finite_max(x) * 8 + 8
    with quiet():
        dtype_out = expected.dtype if expected.dtype.kind != "f" else np.result_type(
            expected.dtype, *(p.dtype for p in layer.parameters()))
    _assert_same(out, expected, dtype_out, scale=scale, factor=64, what=name,
                 sums=name in ("Linear", "Conv2d"))
    record(classes, "matched the reference")
    check_backward(out, inputs + list(layer.parameters()), name)


def _shape_text(shape):
    return re.sub(r",\)", ",)", str(tuple(shape)))


def test_batchnorm_train_error_reads_like_pytorch():
    with pytest.raises(ShapeError, match="expected more than 1 value per channel when "
                                         "training"):
        nn.BatchNorm1d(3)(leaf(np.zeros((1, 3), np.float32), "cpu"))
    with pytest.raises(ShapeError, match="more than 1 value per channel"):
        nn.BatchNorm2d(3)(leaf(np.zeros((0, 3, 2, 2), np.float32), "cpu"))
    out = nn.BatchNorm2d(3).eval()(leaf(np.zeros((0, 3, 2, 2), np.float32), "cpu"))
    assert out.shape == (0, 3, 2, 2)


def test_dropout_layer_in_training():
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    y = nn.Dropout(0.5, rng=0)(leaf(x, "cpu")).numpy()
    assert ((y == 0) | np.isclose(y, 2 * x)).all()
    with pytest.raises(DTypeError, match="Dropout"):
        nn.Dropout(0.5)(leaf(np.zeros(3, np.int64), "cpu"))
    assert nn.Dropout(0.5)(leaf(np.zeros((0, 4), np.float32), "cpu")).shape == (0, 4)
