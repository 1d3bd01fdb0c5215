"""One table drives the op tests: each entry says how to call an op, what NumPy
computes for it, and which inputs are fair (domains, kinks to avoid).

``test_ops_grad.py`` checks every entry's forward against its NumPy reference
and its backward against central differences, over hypothesis-drawn shapes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

import minitl as mt
import minitl.nn.functional as F


@dataclass
class Elementwise:
    name: str
    op: object  # minitl function of one or two tensors
    ref: object  # NumPy reference of the same arity
    arity: int = 1
    low: float = -2.0
    high: float = 2.0
    kinks: tuple = ()
    low_b: float | None = None  # domain of the second operand, when it differs
    high_b: float | None = None
    extra: dict = field(default_factory=dict)


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _np_gelu(x):
    return x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))


def _np_gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


UNARY = [
    Elementwise("neg", lambda x: -x, np.negative),
    Elementwise("exp", mt.exp, np.exp),
    Elementwise("log", mt.log, np.log, low=0.1, high=3.0),
    Elementwise("sqrt", mt.sqrt, np.sqrt, low=0.1, high=3.0),
    Elementwise("abs", mt.abs, np.abs, kinks=(0.0,)),
    Elementwise("tanh", mt.tanh, np.tanh),
    Elementwise("sigmoid", mt.sigmoid, _np_sigmoid, low=-6, high=6),
    Elementwise("relu", mt.relu, lambda x: np.maximum(x, 0), kinks=(0.0,)),
    Elementwise("leaky_relu", lambda x: mt.leaky_relu(x, 0.1),
                lambda x: np.where(x > 0, x, 0.1 * x), kinks=(0.0,)),
    Elementwise("gelu", mt.gelu, _np_gelu, low=-3, high=3),
    Elementwise("gelu_tanh", lambda x: mt.gelu(x, approximate="tanh"), _np_gelu_tanh, low=-3,
                high=3),
    Elementwise("clip", lambda x: mt.clip(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7),
                kinks=(-0.5, 0.7)),
    Elementwise("pow_scalar", lambda x: x**3, lambda x: x**3),
    Elementwise("pow_fractional", lambda x: x**1.5, lambda x: x**1.5, low=0.1, high=3.0),
    Elementwise("rsub_scalar", lambda x: 2.0 - x, lambda x: 2.0 - x),
    Elementwise("rdiv_scalar", lambda x: 1.5 / x, lambda x: 1.5 / x, low=0.3, high=3.0),
    Elementwise("softplus_composed", lambda x: mt.log(1.0 + mt.exp(x)),
                lambda x: np.log1p(np.exp(x))),
]

BINARY = [
    Elementwise("add", lambda a, b: a + b, np.add, arity=2),
    Elementwise("sub", lambda a, b: a - b, np.subtract, arity=2),
    Elementwise("mul", lambda a, b: a * b, np.multiply, arity=2),
    Elementwise("div", lambda a, b: a / b, np.divide, arity=2, low_b=0.5, high_b=3.0),
    Elementwise("pow", lambda a, b: a**b, np.power, arity=2, low=0.2, high=3.0, low_b=-2,
                high_b=2),
    Elementwise("where", lambda a, b: mt.where(a.data > 0, a, b),
                lambda a, b: np.where(a > 0, a, b), arity=2, kinks=(0.0,)),
]


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_logsumexp(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze(axis)


SOFTMAX_FAMILY = {
    "softmax": (F.softmax, _np_softmax),
    "log_softmax": (F.log_softmax, lambda x, axis: np.log(_np_softmax(x, axis))),
    "logsumexp": (F.logsumexp, _np_logsumexp),
}
