"""API fuzzing of every public op: random shapes (0-d and empty included), every dtype
(float16/32/64, int8/32/64, uint8, bool, mixed, Python scalars) and values (±inf, NaN,
±1e30). Each call must match a NumPy reference computed under minitl's dtype policy
(``minitl/guards.py``) or raise the ``MinitlError`` the policy names; where the
forward succeeds on floating inputs, backward must run and give every input a
gradient of its own shape and dtype.

The number of cases per class of bad input is printed at the end of the run (see
``conftest.py`` in this folder).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from rel_support import (
    DTYPES,
    FUZZ,
    Refuse,
    any_shape,
    arrays_of,
    check_backward,
    check_call,
    classify,
    compute_dtype,
    dtypes,
    erf,
    finite_max,
    leaf,
    operand_dtypes,
    quiet,
    record,
    run_reference,
)

import minitl as mt
import minitl.nn.functional as F
from minitl import ops
from minitl.errors import ArgumentError, DTypeError, IndexingError, ShapeError


@dataclass
class Op:
    name: str
    call: object  # minitl: (*operands, **params) -> Tensor
    ref: object  # NumPy: (*arrays in the compute dtype, **params) -> array
    rule: str  # "exact" | "real" | "any" | "float", see rel_support.compute_dtype
    out: object = None  # compute dtype -> output dtype (default: the compute dtype)
    scale: object = field(default=lambda *arrays, **params: 1.0)
    sums: bool = False  # a sum of products: see rel_support.assert_same


def _cast_all(operands, dtype):
    with np.errstate(all="ignore"):
        return [np.asarray(o, dtype=dtype) if isinstance(o, (bool, int, float))
                else np.asarray(o).astype(dtype) for o in operands]


def expectation(spec, operands, params):
    """A function returning (expected array, expected dtype) under the policy."""

    def expected():
        try:
            dtype = compute_dtype(spec.rule, operand_dtypes(operands))
        except Refuse as refused:  # a shape problem, if there is one, may be reported first
            try:
                run_reference(spec.ref, *_cast_all(operands, np.float64), **params)
            except Refuse as also:
                raise Refuse(_errors(refused) + _errors(also)) from None
            except (ValueError, TypeError, IndexError, ArithmeticError):
                pass
            raise
        arrays = _cast_all(operands, dtype)
        result = np.asarray(run_reference(spec.ref, *arrays, **params))
        out_dtype = spec.out(dtype) if spec.out else dtype
        return result, out_dtype

    return expected


def _errors(refusal):
    return refusal.error if isinstance(refusal.error, tuple) else (refusal.error,)


def run_case(spec, operands, params, device, extra_classes=()):
    classes = classify(operands, extra_classes)
    inputs = [leaf(o, device) for o in operands]
    scale = 1.0
    try:
        dtype = compute_dtype(spec.rule, operand_dtypes(operands))
        scale = spec.scale(*_cast_all(operands, dtype), **params)
    except (Refuse, ValueError, TypeError):
        pass
    out = check_call(lambda *xs: spec.call(*xs, **params), inputs,
                     expectation(spec, operands, params), classes,
                     what=f"{spec.name}{tuple(np.shape(o) for o in operands)} {params}",
                     scale=scale, sums=spec.sums)
    check_backward(out, [t for t in inputs if isinstance(t, mt.Tensor)], spec.name)


# ---------------------------------------------------------------- references


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _gelu(x):
    cdf = (0.5 * (1 + erf(x.astype(np.float64) / math.sqrt(2)))).astype(x.dtype)
    return np.where(cdf == 0, 0, x * cdf)


def _gelu_tanh(x):
    half = 0.5 * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return np.where(half == 0, 0, x * half)


def _broadcast(*arrays):
    try:
        np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        raise Refuse(ShapeError) from None


def _binary(fn):
    def ref(a, b):
        _broadcast(a, b)
        return fn(a, b)

    return ref


def _magnitude(*arrays, **params):
    return finite_max(*arrays)


UNARY = [
    Op("neg", lambda x: -x, np.negative, "exact"),
    Op("abs", mt.abs, np.abs, "exact"),
    Op("relu", mt.relu, lambda x: np.maximum(x, 0), "exact"),
    Op("exp", mt.exp, np.exp, "real"),
    Op("log", mt.log, np.log, "real"),
    Op("sqrt", mt.sqrt, np.sqrt, "real"),
    Op("tanh", mt.tanh, np.tanh, "real"),
    Op("sigmoid", mt.sigmoid, _sigmoid, "real"),
    Op("leaky_relu", lambda x: mt.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x),
       "real"),
    Op("gelu", mt.gelu, _gelu, "real", scale=_magnitude),
    Op("gelu_tanh", lambda x: mt.gelu(x, approximate="tanh"), _gelu_tanh, "real",
       scale=_magnitude),
]

# clip's bounds take part in the dtype like Python scalars: they are listed as operands
CLIP = [
    Op("clip_float_bounds", lambda x, lo, hi: mt.clip(x, lo, hi), np.clip, "exact"),
    Op("clip_int_bounds", lambda x, lo, hi: mt.clip(x, lo, hi), np.clip, "exact"),
]

BINARY = [
    Op("add", lambda a, b: a + b, _binary(np.add), "exact"),
    Op("sub", lambda a, b: a - b, _binary(np.subtract), "exact"),
    Op("mul", lambda a, b: a * b, _binary(np.multiply), "exact"),
    Op("div", lambda a, b: a / b, _binary(np.divide), "real"),
    Op("pow", lambda a, b: a**b, _binary(np.power), "exact"),
    Op("where", None, None, "any"),  # built per case around its condition, see test_binary
]


def _where_spec(cond, cond_tensor):
    def ref(a, b):
        if cond.dtype != np.bool_:
            raise Refuse(DTypeError)
        try:
            np.broadcast_shapes(cond.shape, a.shape, b.shape)
        except ValueError:
            raise Refuse(ShapeError) from None
        return np.where(cond, a, b)

    return Op("where", lambda a, b: mt.where(cond_tensor, a, b), ref, "any")


@st.composite
def operand(draw, shape, dtype):
    """An array of ``dtype`` and ``shape``, or now and then a Python scalar."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.one_of(st.booleans(), st.integers(-300, 300),
                              st.sampled_from([0.5, -2.5, 1e30, math.inf, math.nan])))
    return arrays_of(draw, dtype, shape)


@pytest.mark.parametrize("spec", UNARY, ids=lambda s: s.name)
@FUZZ
@given(data=st.data())
def test_unary(spec, device, data):
    x = arrays_of(data.draw, data.draw(dtypes), data.draw(any_shape()))
    run_case(spec, [x], {}, device)


@pytest.mark.parametrize("spec", CLIP, ids=lambda s: s.name)
@FUZZ
@given(data=st.data())
def test_clip(spec, device, data):
    x = arrays_of(data.draw, data.draw(dtypes), data.draw(any_shape()))
    if spec.name == "clip_float_bounds":
        lo, hi = -0.5, data.draw(st.sampled_from([0.7, -1.0]))  # -1.0: lo > hi gives hi
    else:
        lo, hi = data.draw(st.sampled_from([(-3, 5), (0, 200), (-1000, 1000)]))
    run_case(spec, [x, lo, hi], {}, device)


@pytest.mark.parametrize("spec", BINARY, ids=lambda s: s.name)
@FUZZ
@given(data=st.data())
def test_binary(spec, device, data):
    broadcastable = data.draw(st.booleans())
    if broadcastable:
        shape_a, shape_b = data.draw(hnp.mutually_broadcastable_shapes(
            num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=3)).input_shapes
    else:
        shape_a, shape_b = data.draw(any_shape()), data.draw(any_shape())
    a = data.draw(operand(shape_a, data.draw(dtypes)))
    b = data.draw(operand(shape_b, data.draw(dtypes)))
    extra = [] if broadcastable else ["shape: operands drawn independently (may not broadcast)"]
    if spec.name == "where":
        cond_shape = data.draw(st.sampled_from([np.shape(a), np.shape(b), ()]))
        cond = arrays_of(data.draw, data.draw(st.sampled_from([np.bool_, np.bool_, np.int64])),
                         cond_shape)
        if cond.dtype != np.bool_:
            extra.append("where: non-bool condition")
        spec = _where_spec(cond, leaf(cond, device))
    if isinstance(a, (bool, int, float)) and isinstance(b, (bool, int, float)):
        a = np.asarray(a)  # at least one operand must be a tensor
    run_case(spec, [a, b], {}, device, extra)


def _matmul_ref(a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise Refuse(ShapeError)
    try:
        return np.matmul(a, b)
    except ValueError:
        raise Refuse(ShapeError) from None


MATMUL = Op("matmul", lambda a, b: a @ b, _matmul_ref, "exact", sums=True,
            scale=lambda a, b: finite_max(a) * finite_max(b) * max(np.shape(a)[-1:] or (1,)))


@FUZZ
@given(data=st.data())
def test_matmul(device, data):
    if data.draw(st.booleans()):
        shape_a, shape_b = data.draw(hnp.mutually_broadcastable_shapes(
            signature="(m?,n),(n,p?)->(m?,p?)", max_dims=3, min_side=0, max_side=3)).input_shapes
        extra = []
    else:
        shape_a, shape_b = data.draw(any_shape()), data.draw(any_shape())
        extra = ["shape: operands drawn independently (may not align)"]
    a = arrays_of(data.draw, data.draw(dtypes), shape_a)
    b = arrays_of(data.draw, data.draw(dtypes), shape_b)
    run_case(MATMUL, [a, b], {}, device, extra)


# ---------------------------------------------------------------- reductions


def _axes(x, axis):
    """Normalised axes, or Refuse(ShapeError) for an out-of-range or repeated axis."""
    if axis is None:
        return tuple(range(x.ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    ndim = x.ndim
    for a in axes:
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise Refuse(ShapeError)
    normal = tuple(a % max(ndim, 1) for a in axes)
    if len(set(normal)) != len(normal):
        raise Refuse(ShapeError)
    return normal if ndim else ()


def _group_size(x, axis):
    axes = _axes(x, axis)
    return int(np.prod([x.shape[a] for a in axes])) if x.ndim else 1


def _reduce(fn, empty_refused=False):
    def ref(x, axis=None, keepdims=False, **kw):
        axes = _axes(x, axis)
        if empty_refused and (x.size == 0 or any(x.shape[a] == 0 for a in axes)):
            raise Refuse(ShapeError)
        return fn(x, axis=axes if x.ndim else None, keepdims=keepdims, **kw)

    return ref


def _var_ref(fn):
    """var/std; float16 is computed in float32 (as minitl documents: NumPy's own float16
    var overflows for values near 6e4, giving inf where the variance is 0)."""

    def ref(x, axis=None, keepdims=False, ddof=0):
        if _group_size(x, axis) - ddof <= 0:
            raise Refuse(ShapeError)
        work = x.astype(np.float32) if x.dtype == np.float16 else x
        return _reduce(fn)(work, axis=axis, keepdims=keepdims, ddof=ddof).astype(x.dtype)

    return ref


def _arg_ref(fn):
    def ref(x, axis=None, keepdims=False):
        if axis is not None and not isinstance(axis, int):
            raise Refuse(ShapeError)
        axes = _axes(x, axis)
        if x.size == 0:
            raise Refuse(ShapeError)
        single = None if axis is None or x.ndim == 0 else axes[0]
        return np.asarray(fn(x, axis=single, keepdims=keepdims), dtype=np.int64)

    return ref


def _row_max(x, axis):
    if x.shape[axis] == 0:
        return np.full(x.shape[:axis] + (1,) + x.shape[axis + 1:], -np.inf, dtype=x.dtype)
    return x.max(axis=axis, keepdims=True)


def _as_row(fn):
    """Softmax-family references: an int axis; a 0-d input is a row of one element."""

    def ref(x, axis=-1, **kw):
        if not isinstance(axis, int):
            raise Refuse(ShapeError)
        if x.ndim == 0:
            if axis not in (0, -1):
                raise Refuse(ShapeError)
            return fn(x.reshape(1), 0, **kw).reshape(())
        (axis,) = _axes(x, axis)
        return fn(x, axis, **kw)

    return ref


def _softmax(x, axis):
    e = np.exp(x - _row_max(x, axis))
    return e / e.sum(axis=axis, keepdims=True)


def _log_softmax(x, axis):
    shifted = x - _row_max(x, axis)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _logsumexp(x, axis, keepdims=False):
    """The documented semantics, row by row, written without the shared-max shortcut."""
    rows = np.moveaxis(x, axis, -1)
    out = np.empty(rows.shape[:-1], dtype=x.dtype)
    for index in np.ndindex(out.shape):
        row = rows[index].astype(np.float64)
        if np.isnan(row).any():
            out[index] = np.nan
        elif np.isposinf(row).any():
            out[index] = np.inf
        elif row.size == 0 or np.isneginf(row).all():
            out[index] = -np.inf
        else:
            m = row.max()
            out[index] = m + math.log(math.fsum(math.exp(v - m) for v in row))
    return np.expand_dims(out, axis) if keepdims else out


def _sum_dtype(dtype):
    return np.sum(np.zeros(1, dtype=dtype)).dtype


REDUCTIONS = [
    Op("sum", mt.sum, _reduce(np.sum), "any", out=_sum_dtype,
       scale=lambda x, **p: finite_max(x) * max(x.size, 1)),
    Op("mean", mt.mean, _reduce(np.mean), "real", scale=_magnitude),
    Op("max", mt.max, _reduce(np.max, empty_refused=True), "any"),
    Op("min", mt.min, _reduce(np.min, empty_refused=True), "any"),
    Op("var", mt.var, _var_ref(np.var), "real",
       scale=lambda x, **p: finite_max(x) ** 2 * max(x.size, 1)),
    Op("std", mt.std, _var_ref(np.std), "real",
       scale=lambda x, **p: finite_max(x) * max(x.size, 1)),
    Op("argmax", mt.argmax, _arg_ref(np.argmax), "any", out=lambda d: np.dtype(np.int64)),
    Op("argmin", mt.argmin, _arg_ref(np.argmin), "any", out=lambda d: np.dtype(np.int64)),
    Op("softmax", F.softmax, _as_row(_softmax), "real"),
    Op("log_softmax", F.log_softmax, _as_row(_log_softmax), "real", scale=_magnitude),
    Op("logsumexp", F.logsumexp, _as_row(_logsumexp), "real", scale=_magnitude),
]


@st.composite
def axis_for(draw, ndim, tuples=True):
    single = st.integers(-ndim - 1, ndim)
    options = [st.none(), single, single]
    if tuples:
        options.append(st.lists(st.integers(-ndim - 1, ndim), min_size=0, max_size=2).map(tuple))
    return draw(st.one_of(*options))


@pytest.mark.parametrize("spec", REDUCTIONS, ids=lambda s: s.name)
@FUZZ
@given(data=st.data())
def test_reduction(spec, device, data):
    x = arrays_of(data.draw, data.draw(dtypes), data.draw(any_shape()))
    params = {}
    if spec.name in ("softmax", "log_softmax", "logsumexp"):
        params["axis"] = data.draw(st.integers(-x.ndim - 1, x.ndim))
        if spec.name == "logsumexp":
            params["keepdims"] = data.draw(st.booleans())
    else:
        params["axis"] = data.draw(axis_for(x.ndim, tuples=not spec.name.startswith("arg")))
        params["keepdims"] = data.draw(st.booleans())
        if spec.name in ("var", "std"):
            params["ddof"] = data.draw(st.sampled_from([0, 1]))
    extra = []
    try:
        _axes(x, params["axis"])
    except Refuse:
        extra.append("argument: axis out of range or repeated")
    run_case(spec, [x], params, device, extra)


# ---------------------------------------------------------------- shape ops


def _indexing(fn):
    def ref(x):
        try:
            return fn(x)
        except IndexError:
            raise Refuse(IndexingError) from None

    return ref


def _shape_ref(fn):
    def ref(*xs):
        try:
            return fn(*xs)
        except ValueError:
            raise Refuse(ShapeError) from None

    return ref


def _rotation(ndim, negative_first=False):
    """(1, 2, …, 0); with negative_first, its first axis counted from the end."""
    axes = [(i + 1) % ndim for i in range(ndim)]
    if negative_first and axes:
        axes[0] -= ndim
    return axes


SHAPE_OPS = [
    Op("reshape(-1)", lambda x: x.reshape(-1), lambda x: x.reshape(-1), "any"),
    Op("reshape(bad)", lambda x: x.reshape(x.size + 1),
       lambda x: (_ for _ in ()).throw(Refuse(ShapeError)), "any"),
    Op("permute(reversed)", lambda x: x.permute(*reversed(range(x.ndim))), np.transpose, "any"),
    Op("permute(mixed-sign axes)", lambda x: x.permute(*_rotation(x.ndim, negative_first=True)),
       lambda x: np.transpose(x, _rotation(x.ndim)), "any"),
    Op("transpose(0, -1)", lambda x: x.transpose(0, -1),
       lambda x: np.swapaxes(x, 0, -1) if x.ndim else x, "any"),
    Op("flatten", mt.flatten, lambda x: x.reshape(-1), "any"),
    Op("squeeze", mt.squeeze, np.squeeze, "any"),
    Op("unsqueeze(0)", lambda x: mt.unsqueeze(x, 0), lambda x: np.expand_dims(x, 0), "any"),
    Op("broadcast_to", lambda x: mt.broadcast_to(x, (2,) + x.shape),
       lambda x: np.broadcast_to(x, (2,) + x.shape), "any"),
    Op("getitem[..., ::-1]", lambda x: x[..., ::-1], _indexing(lambda x: x[..., ::-1]), "any"),
    Op("getitem[0]", lambda x: x[0], _indexing(lambda x: x[0]), "any"),
    Op("getitem[mask]", lambda x: x[x.data == x.data], _indexing(lambda x: x[x == x]), "any"),
    Op("cat", lambda a, b: mt.cat([a, b]), _shape_ref(lambda a, b: np.concatenate([a, b])),
       "any"),
    Op("to(device)", lambda x: mt.to(x, x.device), lambda x: x, "any"),
    Op("stack", lambda a, b: mt.stack([a, b], axis=-1),
       _shape_ref(lambda a, b: np.stack([a, b], axis=-1)), "any"),
]


@pytest.mark.parametrize("spec", SHAPE_OPS, ids=lambda s: s.name)
@FUZZ
@given(data=st.data())
def test_shape_op(spec, device, data):
    shape = data.draw(any_shape())
    x = arrays_of(data.draw, data.draw(dtypes), shape)
    operands = [x]
    if spec.name in ("cat", "stack"):
        other = data.draw(st.sampled_from(["same", "longer", "random"]))
        if other == "same" or not shape:
            shape_b = shape
        elif other == "longer":
            shape_b = (shape[0] + 1,) + shape[1:]
        else:
            shape_b = data.draw(any_shape())
        operands.append(arrays_of(data.draw, data.draw(dtypes), shape_b))
    run_case(spec, operands, {}, device)


def _check_axis(ndim, a, extra=0):
    """``a`` normalised for a tensor of ``ndim`` axes (+extra new ones), or Refuse."""
    n = max(ndim + extra, 1)
    if not -n <= a < n:
        raise Refuse(ShapeError)
    return a % n


@st.composite
def shape_op_case(draw, x):
    """(name, minitl call, reference) for a shape op with randomly drawn arguments."""
    ndim = x.ndim
    axis = st.integers(-ndim - 2, ndim + 1)
    kind = draw(st.sampled_from(["permute", "transpose", "squeeze", "unsqueeze", "flatten",
                                 "reshape", "broadcast_to", "cat", "stack", "getitem"]))
    if kind == "permute":
        axes = list(draw(st.permutations(range(ndim))))
        axes = [a - ndim if draw(st.booleans()) else a for a in axes]
        if axes and draw(st.integers(0, 4)) == 0:
            axes[0] = draw(axis)  # maybe a repeat or out of range

        def ref(a):
            normal = [_check_axis(ndim, v) for v in axes]
            if sorted(normal) != list(range(ndim)):
                raise Refuse(ShapeError)
            return np.transpose(a, normal)

        return f"permute{tuple(axes)}", lambda t: t.permute(*axes), ref
    if kind == "transpose":
        d0, d1 = draw(axis), draw(axis)

        def ref(a):
            d = _check_axis(ndim, d0), _check_axis(ndim, d1)
            return np.swapaxes(a, *d) if ndim else a

        return f"transpose{d0, d1}", lambda t: t.transpose(d0, d1), ref
    if kind == "squeeze":
        ax = draw(st.one_of(st.none(), axis))

        def ref(a):
            if ax is None:
                return np.squeeze(a)
            d = _check_axis(ndim, ax)
            if ndim and a.shape[d] != 1:
                raise Refuse(ShapeError)
            return np.squeeze(a, d) if ndim else a

        return f"squeeze({ax})", lambda t: mt.squeeze(t, ax), ref
    if kind == "unsqueeze":
        ax = draw(axis)

        def ref(a):
            return np.expand_dims(a, _check_axis(ndim, ax, extra=1))

        return f"unsqueeze({ax})", lambda t: mt.unsqueeze(t, ax), ref
    if kind == "flatten":
        start, end = draw(axis), draw(axis)

        def ref(a):
            s, e = _check_axis(ndim, start), _check_axis(ndim, end)
            if ndim == 0:
                return a.reshape(1)
            if s > e:
                raise Refuse(ShapeError)
            return a.reshape(a.shape[:s] + (int(np.prod(a.shape[s:e + 1])),) + a.shape[e + 1:])

        return f"flatten{start, end}", lambda t: mt.flatten(t, start, end), ref
    if kind == "reshape":
        shape = list(draw(any_shape(max_dims=3)))
        if shape and draw(st.booleans()):
            shape[0] = -1
        if draw(st.booleans()):  # often a valid one
            shape = [-1] + ([x.shape[-1]] if ndim and x.shape[-1] else [])

        def ref(a):
            try:
                return a.reshape(shape)
            except ValueError:
                raise Refuse(ShapeError) from None

        return f"reshape{tuple(shape)}", lambda t: t.reshape(*shape), ref
    if kind == "broadcast_to":
        target = tuple(draw(any_shape(max_dims=2))) + tuple(
            draw(st.sampled_from([n, 1, 2, 0])) for n in x.shape)

        def ref(a):
            try:
                return np.broadcast_to(a, target)
            except ValueError:
                raise Refuse(ShapeError) from None

        return f"broadcast_to{target}", lambda t: mt.broadcast_to(t, target), ref
    if kind in ("cat", "stack"):
        ax = draw(axis)
        fn = np.concatenate if kind == "cat" else np.stack

        def ref(a):
            if kind == "cat" and ndim == 0:
                raise Refuse(ShapeError)
            _check_axis(ndim, ax, extra=int(kind == "stack"))
            return fn([a, a[::-1] if ndim else a], axis=ax)

        mine = mt.cat if kind == "cat" else mt.stack
        return f"{kind}(axis={ax})", lambda t: mine([t, t[::-1] if t.ndim else t], axis=ax), ref
    index = draw(index_for(x.shape))

    def ref(a):
        try:
            return a[index]
        except IndexError:
            raise Refuse(IndexingError) from None

    return f"getitem[{index!r}]", lambda t: t[index], ref


@st.composite
def index_for(draw, shape):
    """Integers (negative and out of range too), slices, None, Ellipsis, integer arrays
    (with repeats) and boolean masks."""
    parts = []
    for n in shape[:draw(st.integers(0, len(shape)))]:
        kind = draw(st.sampled_from(["int", "slice", "slice", "none", "array"]))
        if kind == "int":
            parts.append(draw(st.integers(-n - 1, n)))
        elif kind == "slice":
            parts.append(slice(draw(st.one_of(st.none(), st.integers(-n - 1, n + 1))),
                               draw(st.one_of(st.none(), st.integers(-n - 1, n + 1))),
                               draw(st.sampled_from([None, 1, 2, -1]))))
        elif kind == "none":
            parts.append(None)
        else:
            parts.append(np.array(draw(st.lists(st.integers(-n, max(n - 1, -n)), max_size=3)),
                                  dtype=np.int64))
    if draw(st.integers(0, 4)) == 0:
        return np.asarray(draw(hnp.arrays(np.bool_, shape)))  # a mask of the whole shape
    if draw(st.booleans()):
        parts.append(Ellipsis)
    return tuple(parts)


@FUZZ
@given(data=st.data())
def test_shape_op_with_drawn_arguments(device, data):
    """Shape ops with random axes, shapes and indices (negative, repeated, out of range)."""
    x = arrays_of(data.draw, data.draw(dtypes), data.draw(any_shape()))
    name, call, ref = data.draw(shape_op_case(x))
    spec = Op(name, call, ref, "any")
    extra = []
    try:
        run_reference(ref, x)
    except Refuse:
        extra.append("argument: invalid axis, shape or index for a shape op")
    run_case(spec, [x], {}, device, extra)


@FUZZ
@given(dtype=dtypes, target=st.sampled_from(["float16", "float32", "float64", "int64", "uint8",
                                              "bool"]), data=st.data())
def test_astype(device, dtype, target, data):
    x = arrays_of(data.draw, dtype, data.draw(any_shape()))
    spec = Op("astype", lambda t: t.astype(target), lambda a: a.astype(target), "any",
              out=lambda d: np.dtype(target))
    run_case(spec, [x], {}, device)
    with pytest.raises(DTypeError):
        mt.tensor(x).astype("not-a-dtype")


# ---------------------------------------------------------------- losses and nn ops


def _pick_targets(draw, n_shape, classes):
    """Class targets: mostly valid, sometimes out of range, sometimes a wrong dtype."""
    kind = draw(st.sampled_from(["valid", "valid", "valid", "out of range", "float", "bool"]))
    if kind == "valid" or classes == 0 and kind == "out of range":
        high = max(classes - 1, 0)
        t = draw(hnp.arrays(draw(st.sampled_from([np.int64, np.int32, np.uint8])), n_shape,
                            elements=st.integers(0, high)))
    elif kind == "out of range":
        t = draw(hnp.arrays(np.int64, n_shape, elements=st.integers(-2, classes + 1)))
    elif kind == "float":
        t = draw(hnp.arrays(np.float32, n_shape, elements=st.integers(0, 3).map(float)))
    else:
        t = draw(hnp.arrays(np.bool_, n_shape))
    return t, kind


def _cross_entropy_ref(logits, targets, reduction, smoothing, log_input):
    axis = 0 if logits.ndim == 1 else 1
    expected_shape = () if logits.ndim <= 1 else (logits.shape[0],) + logits.shape[2:]
    refuse_if((DTypeError, logits.dtype.kind != "f" or targets.dtype.kind not in "iu"),
              (ShapeError, logits.ndim == 0 or targets.shape != expected_shape))
    classes = logits.shape[axis]
    t = targets.astype(np.int64)
    if ((t < 0) | (t >= classes)).any():
        raise Refuse(ArgumentError)
    log_p = logits if log_input else _log_softmax(logits, axis)
    picked = np.take_along_axis(log_p, np.expand_dims(t, axis), axis).squeeze(axis)
    losses = -picked
    if smoothing:
        losses = (1 - smoothing) * losses - smoothing * log_p.mean(axis=axis)
    if reduction == "mean":
        return losses.mean()
    return losses.sum() if reduction == "sum" else losses


@FUZZ
@given(data=st.data(), log_input=st.booleans())
def test_cross_entropy_and_nll(device, data, log_input):
    """cross_entropy(logits, targets) and nll_loss(log_probs, targets): scores of any rank
    and dtype, targets valid, out of range, float or bool."""
    scores_shape = data.draw(any_shape(max_dims=3))
    scores = arrays_of(data.draw, data.draw(dtypes), scores_shape)
    if len(scores_shape) == 0:
        n_shape = ()
    elif len(scores_shape) == 1:
        n_shape = ()
    else:
        n_shape = (scores_shape[0],) + scores_shape[2:]
    if data.draw(st.integers(0, 6)) == 0:
        n_shape = n_shape + (1,)  # a wrong target shape
    classes = scores_shape[0 if len(scores_shape) == 1 else 1] if scores_shape else 0
    targets, kind = _pick_targets(data.draw, n_shape, classes)
    reduction = data.draw(st.sampled_from(["mean", "sum", "none"]))
    smoothing = 0.0 if log_input else data.draw(st.sampled_from([0.0, 0.1]))
    extra = [] if kind == "valid" else [f"targets: {kind}"]
    if log_input:
        spec = Op("nll_loss", lambda s, t: F.nll_loss(s, t, reduction=reduction),
                  lambda s, t: _cross_entropy_ref(s, t, reduction, 0.0, True), "any",
                  scale=lambda s, t: finite_max(s) * max(s.size, 1))
    else:
        spec = Op("cross_entropy",
                  lambda s, t: F.cross_entropy(s, t, reduction=reduction,
                                               label_smoothing=smoothing),
                  lambda s, t: _cross_entropy_ref(s, t, reduction, smoothing, False), "any",
                  scale=lambda s, t: finite_max(s) * max(s.size, 1))
    # the operands keep their own dtypes (targets are not promoted with the scores)
    expected_dtype = scores.dtype

    def expected():
        return np.asarray(run_reference(spec.ref, scores, targets)), expected_dtype

    inputs = [leaf(scores, device), leaf(targets, device)]
    out = check_call(spec.call, inputs, expected, classify([scores, targets], extra),
                     what=f"{spec.name}{scores.shape, targets.shape} {reduction}",
                     scale=spec.scale(scores, targets))
    check_backward(out, inputs, spec.name)


def _target_cast(target, prediction):
    return target.astype(prediction.dtype) if target.dtype.kind in "biu" else target


def refuse_if(*problems):
    """Refuse with every error class whose condition holds (either may be raised first)."""
    errors = tuple(error for error, bad in problems if bad)
    if errors:
        raise Refuse(errors)


def _mse_ref(x, y):
    refuse_if((DTypeError, x.dtype.kind != "f"), (ShapeError, x.shape != y.shape))
    y = _target_cast(y, x)
    return ((x - y) ** 2).mean()


def _bce_ref(x, y):
    refuse_if((DTypeError, x.dtype.kind != "f"), (ShapeError, x.shape != y.shape))
    y = _target_cast(y, x)
    return (np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))).mean()


@pytest.mark.parametrize("name", ["mse_loss", "binary_cross_entropy_with_logits"])
@FUZZ
@given(data=st.data())
def test_elementwise_losses(device, name, data):
    shape = data.draw(any_shape())
    x = arrays_of(data.draw, data.draw(dtypes), shape)
    y_shape = shape if data.draw(st.integers(0, 5)) else data.draw(any_shape())
    y = arrays_of(data.draw, data.draw(dtypes), y_shape)
    ref = _mse_ref if name == "mse_loss" else _bce_ref
    call = getattr(F, name)

    def expected():
        result = np.asarray(run_reference(ref, x, y))
        return result, result.dtype

    inputs = [leaf(x, device), leaf(y, device)]
    extra = [] if x.shape == y.shape else ["shape: target shape differs from the input's"]
    out = check_call(call, inputs, expected, classify([x, y], extra), what=f"{name}",
                     scale=finite_max(x, y) ** 2 * 4)
    check_backward(out, inputs, name)


def _linear_ref(x, w, b):
    refuse_if((DTypeError, any(a.dtype.kind != "f" for a in (x, w, b))),
              (ShapeError, x.ndim == 0 or x.shape[-1] != w.shape[1]))
    return x @ w.T + b


@FUZZ
@given(data=st.data())
def test_linear(device, data):
    in_f, out_f = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    lead = data.draw(any_shape(max_dims=2))
    last = in_f if data.draw(st.integers(0, 4)) else data.draw(st.integers(0, 4))
    x = arrays_of(data.draw, data.draw(dtypes), lead + (last,) if data.draw(st.integers(0, 8))
                  else ())
    w = arrays_of(data.draw, data.draw(st.sampled_from(DTYPES[:3] + (np.dtype(np.int64),))),
                  (out_f, in_f))
    b = arrays_of(data.draw, data.draw(st.sampled_from(DTYPES[:3])), (out_f,))

    def expected():
        result = np.asarray(run_reference(_linear_ref, x, w, b))
        return result, np.result_type(x.dtype, w.dtype, b.dtype)

    inputs = [leaf(a, device) for a in (x, w, b)]
    extra = [] if x.ndim and x.shape[-1] == in_f else ["shape: wrong feature count"]
    out = check_call(F.linear, inputs, expected, classify([x, w, b], extra), what="linear",
                     sums=True, scale=finite_max(x) * finite_max(w) * in_f + finite_max(b))
    check_backward(out, inputs, "linear")


@FUZZ
@given(data=st.data(), p=st.sampled_from([0.0, 0.5, 1.0]), training=st.booleans())
def test_dropout(device, data, p, training):
    x = arrays_of(data.draw, data.draw(dtypes), data.draw(any_shape()))
    classes = classify([x])
    if x.dtype.kind != "f":
        with pytest.raises(DTypeError):
            F.dropout(mt.tensor(x), p, training=training, rng=0)
        record(classes, "raised DTypeError")
        return
    t = leaf(x, device)
    with quiet():
        out = F.dropout(t, p, training=training, rng=0)
    got = out.numpy()
    assert got.shape == x.shape and got.dtype == x.dtype
    # a dropped element is x·0: 0, or NaN where x is ±inf or NaN (IEEE, as in PyTorch)
    with quiet():
        dropped = np.where(np.isfinite(x), 0, np.nan).astype(x.dtype)
        if not training or p == 0.0:
            np.testing.assert_array_equal(got, x)
        elif p == 1.0:
            np.testing.assert_array_equal(got, dropped)
        else:
            kept = np.isclose(got, 2 * x, equal_nan=True)
            assert (kept | np.isclose(got, dropped, equal_nan=True)).all()
    record(classes, "matched the reference")
    check_backward(out, [t], "dropout")


def test_every_public_op_is_fuzzed():
    """Each name in ``minitl.ops.__all__`` is exercised by a test in this file
    (conv2d and the pools are fuzzed in test_rel_conv_fuzz.py)."""
    covered = {s.name.split("(")[0].split("[")[0] for s in UNARY + BINARY + REDUCTIONS
               + SHAPE_OPS} | {"clip", "matmul", "astype", "to", "concatenate", "getitem",
                               "cross_entropy", "nll_loss", "mse_loss", "transpose",
                               "binary_cross_entropy_with_logits", "linear", "dropout",
                               "conv2d", "max_pool2d", "avg_pool2d", "permute", "reshape",
                               "unsqueeze", "broadcast_to", "stack"}
    assert set(ops.__all__) <= covered, set(ops.__all__) - covered


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_python_int_that_does_not_fit_is_a_dtype_error(dtype):
    x = mt.tensor(np.zeros(3, dtype=dtype))
    if dtype.kind in "iu":
        with pytest.raises(DTypeError, match=rf"add: .*{2**70}.*{dtype}"):
            x + 2**70
    else:
        assert (x + 1).dtype == (np.int64 if dtype == np.bool_ else dtype)
