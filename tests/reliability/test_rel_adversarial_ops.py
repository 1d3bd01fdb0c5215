"""What an adversarial pass found in the ops and the ways tensors are made: operands that
are not numbers, pow's gradient at zero, float16 sums, gradients at ±inf, and arguments
of the wrong type or range. Each case is refused by a named minitl error or computed
right, never silently wrong."""

from __future__ import annotations

import re

import numpy as np
import pytest

import minitl as mt
import minitl.ops as ops
from minitl.errors import ArgumentError, DTypeError, MinitlError

# ---------------------------------------------------------------- S1 operands that are not numbers


@pytest.mark.parametrize("operand", [2 + 3j, "5", None, object(), b"1", np.complex128(1j),
                                     np.array([1j, 2j]), np.array(["a", "b"]),
                                     np.array([None, None])],
                         ids=["complex", "str", "None", "object", "bytes", "np-complex",
                              "complex-array", "str-array", "object-array"])
@pytest.mark.parametrize("op", [ops.add, ops.sub, ops.mul, ops.div, ops.pow],
                         ids=["add", "sub", "mul", "div", "pow"])
def test_operands_that_are_not_real_numbers_are_refused(op, operand):
    x = mt.tensor([1.0, 2.0])
    with pytest.raises(DTypeError, match=op.__name__):
        op(x, operand)
    with pytest.raises(DTypeError, match=op.__name__):
        op(operand, x)


def test_operator_syntax_refuses_them_too_and_names_the_operand():
    x = mt.tensor([1.0, 2.0])
    with pytest.raises(DTypeError, match="complex"):
        x * (2 + 3j)
    with pytest.raises(DTypeError, match="str"):
        x + "5"
    with pytest.raises(DTypeError, match="None"):
        x * None


def test_complex_tensors_do_not_lose_their_imaginary_part_silently():
    x = mt.tensor([1.0, 2.0])
    z = mt.Tensor(np.array([1j, 2j]))
    with pytest.raises(DTypeError, match="complex"):
        x * z


# ---------------------------------------------------------------- dtypes outside the policy

#: Every dtype kind the policy refuses, and the word the error uses for it.
REFUSED_DTYPES = {"object": (object, "Python objects"), "str": (str, "strings"),
                  "bytes": (bytes, "bytes"), "void": ("V8", "void"),
                  "datetime": ("datetime64[s]", "datetimes"),
                  "timedelta": ("timedelta64[s]", "timedeltas"),
                  "complex": (np.complex64, "complex")}


def _raw(dtype):
    """A tensor of a refused dtype, wrapped by the engine's constructor as it is."""
    return mt.Tensor(np.zeros(2, dtype=dtype))


#: Every way minitl makes a tensor of a given dtype, by the name its error must carry.
MAKERS = {
    "tensor": lambda dt: mt.tensor([1, 2], dtype=dt),
    "zeros": lambda dt: mt.zeros(2, dtype=dt),
    "ones": lambda dt: mt.ones(2, 3, dtype=dt),
    "full": lambda dt: mt.full((2,), 1, dtype=dt),
    "zeros_like": lambda dt: mt.zeros_like(_raw(dt)),
    "ones_like": lambda dt: mt.ones_like(_raw(dt)),
    "arange": lambda dt: mt.arange(3, dtype=dt),
    "randn": lambda dt: mt.randn(2, rng=0, dtype=dt),
    "rand": lambda dt: mt.rand(2, rng=0, dtype=dt),
    "to": lambda dt: mt.tensor([1.0, 2.0]).to(dtype=dt),
    "astype": lambda dt: mt.tensor([1.0, 2.0]).astype(dt),
}


def test_every_creation_function_is_covered():
    import inspect

    import minitl.creation as creation

    public = {name for name, f in vars(creation).items()
              if inspect.isfunction(f) and f.__module__ == creation.__name__
              and not name.startswith("_")}
    assert public <= set(MAKERS), f"add {sorted(public - set(MAKERS))} to MAKERS"


@pytest.mark.parametrize("kind", REFUSED_DTYPES)
@pytest.mark.parametrize("maker", MAKERS)
def test_creation_and_conversion_refuse_dtypes_outside_the_policy(maker, kind):
    dtype, word = REFUSED_DTYPES[kind]
    shown = np.zeros(2, dtype=dtype).dtype if maker.endswith("_like") else np.dtype(dtype)
    with pytest.raises(DTypeError, match=rf"^{maker}: dtype {re.escape(str(shown))} "
                                         rf"\([^)]*{word}"):
        MAKERS[maker](dtype)


@pytest.mark.parametrize("make, where", [
    (lambda: mt.tensor(["a", "b"]), "tensor"),
    (lambda: mt.tensor([b"a"]), "tensor"),
    (lambda: mt.tensor(None), "tensor"),
    (lambda: mt.tensor([1, None]), "tensor"),
    (lambda: mt.tensor(np.array(["2020-01-01"], dtype="datetime64[D]")), "tensor"),
    (lambda: mt.tensor(mt.Tensor(np.array([1, 2], dtype=object))), "tensor"),
    (lambda: mt.Tensor([1, "a"]), "tensor"),
    (lambda: mt.arange(np.datetime64("2020-01-01"), np.datetime64("2020-01-03")), "arange"),
    (lambda: mt.tensor([1.0]).to(object), "to"),
    (lambda: mt.tensor([1.0]).to("object"), "to"),
    (lambda: mt.nn.Parameter(np.array([1.0, 2.0], dtype=object)), "Parameter"),
    (lambda: mt.nn.Linear(2, 2).to(dtype=object), "Module.to"),
], ids=["str-list", "bytes-list", "None", "list-with-None", "datetime-array",
        "object-tensor", "Tensor-of-list", "arange-datetimes", "to-positional",
        "to-string", "Parameter", "Module.to"])
def test_dtypes_implied_by_the_data_are_refused_too(make, where):
    with pytest.raises(DTypeError, match=rf"^{re.escape(where)}: dtype "):
        make()


def test_the_policys_dtypes_still_convert():
    x = mt.tensor([1.0, 2.0])
    assert x.to(np.float64).dtype == np.float64 and x.to("float16").dtype == np.float16
    assert x.astype("int8").dtype == np.int8 and x.to(dtype=bool).dtype == np.bool_
    assert mt.zeros(2, dtype="uint8").dtype == np.uint8 and mt.arange(3).dtype == np.int64


# ---------------------------------------------------------------- S8 pow's edge cases


def _pow_grads(a, b):
    ta = mt.tensor(np.array(a, np.float64), requires_grad=True)
    tb = mt.tensor(np.array(b, np.float64), requires_grad=True)
    ops.pow(ta, tb).backward(mt.tensor(np.ones(np.broadcast_shapes(ta.shape, tb.shape))))
    return ta.grad.numpy(), tb.grad.numpy()


def test_pow_gradient_wrt_the_exponent_at_zero_base_is_zero():
    # d(0**y)/dy = 0**y · ln 0 is 0 for y > 0 (the function is constant 0 there), as PyTorch
    _, grad_b = _pow_grads([0.0, 0.0, 0.0], [0.5, 2.0, 3.0])
    np.testing.assert_array_equal(grad_b, [0.0, 0.0, 0.0])


def test_pow_gradient_wrt_the_base_at_zero_exponent_is_zero():
    # x**0 = 1 for every x, so d/dx = 0, also at x = 0 (where 0 · 0**-1 would be NaN)
    grad_a, _ = _pow_grads([0.0, 2.0, -3.0], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(grad_a, [0.0, 0.0, 0.0])


def test_pow_edge_cases_keep_the_ordinary_values_elsewhere():
    grad_a, grad_b = _pow_grads([2.0, 0.0], [3.0, 2.0])
    np.testing.assert_allclose(grad_a, [3 * 4.0, 0.0])
    np.testing.assert_allclose(grad_b, [8 * np.log(2.0), 0.0])
    # at 0 with a negative exponent the value is inf and the gradients stay infinite/NaN
    with np.errstate(all="ignore"):
        grad_a, grad_b = _pow_grads([0.0], [-1.0])
    assert not np.isfinite(grad_a[0]) and not np.isfinite(grad_b[0])


# ---------------------------------------------------------------- K1 float16 sums and means


def test_float16_sum_accumulates_wider_and_returns_float16():
    x = np.ones((5000, 2), np.float16)  # float16 alone stops counting at 2048
    got = mt.tensor(x).sum(axis=0)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got.numpy(), x.astype(np.float64).sum(axis=0))


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_float16_sum_and_mean_match_float64(axis):
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 4, (3000, 3)).astype(np.float16)
    exact_sum = x.astype(np.float64).sum(axis=axis)
    exact_mean = x.astype(np.float64).mean(axis=axis)
    got_sum, got_mean = mt.tensor(x).sum(axis=axis), mt.tensor(x).mean(axis=axis)
    assert got_sum.dtype == np.float16 and got_mean.dtype == np.float16
    # one float16 rounding of the exact result, nothing accumulated
    np.testing.assert_allclose(got_sum.numpy(), exact_sum, rtol=2 ** -10)
    np.testing.assert_allclose(got_mean.numpy(), exact_mean, rtol=2 ** -10)


# ---------------------------------------------------------------- K2 gradients at ±inf

INF = np.inf


@pytest.mark.parametrize("name, fn, x, expected", [
    ("relu", ops.relu, [-INF, INF], [0.0, 1.0]),
    ("abs", ops.abs, [-INF, INF], [-1.0, 1.0]),
    ("exp", ops.exp, [-INF, INF], [0.0, INF]),
    ("sigmoid", ops.sigmoid, [-INF, INF], [0.0, 0.0]),
    ("tanh", ops.tanh, [-INF, INF], [0.0, 0.0]),
    ("softmax", lambda t: ops.softmax(t) * mt.tensor([1.0, 2.0, 3.0], dtype=np.float64),
     [-INF, 0.0, 1.0], None),
    ("logsumexp", lambda t: ops.logsumexp(t, axis=-1), [-INF, 0.0, 1.0], None),
    ("clip", lambda t: ops.clip(t, -1.0, 1.0), [-INF, INF], [0.0, 0.0]),
    ("gelu", ops.gelu, [-INF, INF], [0.0, 1.0]),
    ("gelu-tanh", lambda t: ops.gelu(t, approximate="tanh"), [-INF, INF], [0.0, 1.0]),
    ("leaky_relu", ops.leaky_relu, [-INF, INF], [0.01, 1.0]),
], ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradients_at_infinite_inputs_take_their_limits(name, fn, x, expected, dtype):
    t = mt.tensor(np.array(x, dtype), requires_grad=True)
    with np.errstate(invalid="ignore"):  # -inf + inf in the sum below: its value is unused
        y = fn(t)
        (y.sum() if y.ndim else y).backward()
    if expected is None:  # softmax, log-sum-exp: the -inf entry has weight 0
        finite = np.array(x[1:], np.float64)
        p = np.exp(finite - finite.max())
        p /= p.sum()
        if name == "softmax":  # d/dx_i Σ_j w_j s_j = s_i (w_i − Σ w s)
            w = np.array([2.0, 3.0])
            expected = [0.0, *(p * (w - (w * p).sum()))]
        else:
            expected = [0.0, *p]
    np.testing.assert_allclose(t.grad.numpy(), expected, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- R8, C4 arguments


@pytest.mark.parametrize("make", [
    lambda: mt.randn(-1), lambda: mt.rand(2, -3), lambda: mt.zeros(-1), lambda: mt.ones((2, -1)),
    lambda: mt.randn(2.5), lambda: mt.zeros("3"),
], ids=["randn-1", "rand-neg", "zeros-1", "ones-neg", "randn-float", "zeros-str"])
def test_creation_refuses_bad_shapes_by_name(make):
    with pytest.raises(ArgumentError, match="shape|size"):
        make()


def test_arange_with_step_zero_is_a_named_error():
    with pytest.raises(ArgumentError, match="arange.*step"):
        mt.arange(0, 5, 0)
    with pytest.raises(ArgumentError, match="arange.*step"):
        mt.arange(0.0, 1.0, 0.0)


@pytest.mark.parametrize("make", [
    lambda: mt.tensor([1.0], dtype=123), lambda: mt.zeros(2, dtype=123),
    lambda: mt.ones(2, dtype=[1]), lambda: mt.full(2, 1.0, dtype=123),
    lambda: mt.arange(3, dtype=123), lambda: mt.randn(2, dtype=123),
    lambda: mt.rand(2, dtype="no-such-type"), lambda: mt.nn.Linear(2, 2).to(dtype=123),
], ids=["tensor", "zeros", "ones", "full", "arange", "randn", "rand", "module.to"])
def test_dtype_arguments_that_are_not_dtypes_are_named_errors(make):
    with pytest.raises(DTypeError, match="dtype|not a"):
        make()


@pytest.mark.parametrize("p", ["0.5", None, [0.5], float("nan")])
def test_dropout_probability_must_be_a_number_in_range(p):
    with pytest.raises(ArgumentError, match="dropout.*p"):
        ops.dropout(mt.tensor([1.0, 2.0]), p=p)


@pytest.mark.parametrize("axis", [1.5, "1", 1.0])
def test_axes_must_be_integers(axis):
    x = mt.tensor(np.zeros((2, 3), np.float32))
    for fn in (lambda: ops.softmax(x, axis=axis), lambda: x.sum(axis=axis),
               lambda: ops.log_softmax(x, axis=axis)):
        with pytest.raises(MinitlError, match="axis"):
            fn()
