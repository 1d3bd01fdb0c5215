"""Tools to test gradients: a numerical gradient check and hypothesis strategies.

These are public: use them to property-test an op you write yourself.

    from hypothesis import given
    from minitl.testing import gradcheck, arrays, shapes

    @given(arrays(shapes()))
    def test_my_square(x):
        gradcheck(lambda t: t * t, x)

How :func:`gradcheck` decides a backward is right. For inputs x and an op
y = f(x) it draws a random upstream gradient g of y's shape and compares two
numbers for the scalar φ(x) = Σ f(x) ⊙ g:

* analytic: run ``y.backward(g)``, read ``x.grad``;
* numerical: central differences, (φ(x + εe) − φ(x − εe)) / 2ε, for every
  element e of small inputs, and along a few random unit directions d for
  large ones (then the analytic side is ⟨x.grad, d⟩).

The random g matters: with g = 1 (a plain ``.sum()``) a backward that forgets
a transpose, or swaps two gradients of the same shape, can still pass.
Everything runs in float64, where ε = 1e-6 gives errors near 1e-9.
"""

from __future__ import annotations

import numpy as np

from . import backend
from .autograd import Tensor, no_grad

__all__ = [
    "GradcheckError", "arrays", "broadcastable_shapes", "gradcheck", "matmul_shapes",
    "nudge_away", "shapes",
]


class GradcheckError(AssertionError):
    """The analytic gradient of some input disagrees with the numerical one."""


def _as_float64_leaf(x):
    if isinstance(x, Tensor):
        data, wants_grad = x.data, x.requires_grad or np.issubdtype(x.dtype, np.floating)
    else:
        data = x if (isinstance(x, np.ndarray) or backend.is_cupy_array(x)) else np.asarray(x)
        wants_grad = np.issubdtype(data.dtype, np.floating)
    if not wants_grad:
        return Tensor(data)  # integer targets, boolean masks: constants
    xp = backend.get_array_module(data)
    return Tensor(xp.array(data, dtype=np.float64), requires_grad=True)


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-6, rtol=1e-4, rng=None, max_elements=64,
              directions=4) -> bool:
    """Check ``fn``'s backward against central differences; raise GradcheckError if they differ.

    ``inputs`` are arrays or Tensors; floating ones become float64 leaves that
    require a gradient (a Tensor passed with ``requires_grad=False`` is still
    checked: pass integer arrays for constants). ``fn`` takes Tensors and returns
    a Tensor. Also checks that every gradient has its input's shape.
    Returns True, so it can be used in an ``assert``.
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    leaves = [_as_float64_leaf(x) for x in inputs]
    checked = [i for i, t in enumerate(leaves) if t.requires_grad]
    out = fn(*leaves)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    xp = backend.get_array_module(out.data)
    upstream = xp.asarray(rng.standard_normal(out.shape))

    def phi():
        with no_grad():
            return float((fn(*leaves).data.astype(np.float64) * upstream).sum())

    if not out.requires_grad:
        raise GradcheckError("gradcheck: the output does not depend on any input that "
                             "requires a gradient")
    out.backward(upstream)

    for i in checked:
        leaf = leaves[i]
        if leaf.grad is None:
            analytic = xp.zeros(leaf.shape)
        else:
            analytic = leaf.grad.data
            if analytic.shape != leaf.shape:
                raise GradcheckError(f"input {i}: gradient shape {analytic.shape} differs from "
                                     f"input shape {leaf.shape}")
        original = leaf.data.copy()
        if leaf.size <= max_elements:
            probes = []
            for flat in range(leaf.size):
                d = xp.zeros(leaf.size)
                d[flat] = 1.0
                where = np.unravel_index(flat, leaf.shape)
                probes.append((f"element {where}", d.reshape(leaf.shape)))
        else:
            probes = []
            for k in range(directions):
                d = xp.asarray(rng.standard_normal(leaf.shape))
                probes.append((f"random direction {k}", d / float(xp.linalg.norm(d))))
        for label, d in probes:
            leaf.data = original + eps * d
            plus = phi()
            leaf.data = original - eps * d
            minus = phi()
            leaf.data = original
            numeric = (plus - minus) / (2 * eps)
            exact = float((analytic * d).sum())
            if not abs(numeric - exact) <= atol + rtol * abs(numeric):
                raise GradcheckError(
                    f"input {i} (shape {leaf.shape}), {label}: backward gives {exact:.8g}, "
                    f"central differences give {numeric:.8g}"
                )
    return True


# --------------------------------------------------------------------------
# hypothesis strategies
# --------------------------------------------------------------------------


def shapes(min_dims=0, max_dims=4, min_side=1, max_side=5):
    """Array shapes, the 0-d shape () included when ``min_dims`` is 0."""
    from hypothesis.extra import numpy as hnp

    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4):
    """Tuples of ``num_shapes`` shapes that broadcast together (sizes of 1 and missing axes)."""
    from hypothesis.extra import numpy as hnp

    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, max_side=max_side
    ).map(lambda result: result.input_shapes)


def matmul_shapes(max_dims=3, max_side=4):
    """Pairs of shapes valid for ``a @ b``: 1-D operands, matrices and broadcast batches."""
    from hypothesis.extra import numpy as hnp

    return hnp.mutually_broadcastable_shapes(
        signature="(m?,n),(n,p?)->(m?,p?)", max_dims=max_dims, max_side=max_side
    ).map(lambda result: result.input_shapes)


def arrays(shape, low=-2.0, high=2.0, dtype=np.float64):
    """float64 arrays with elements in [low, high]; ``shape`` is a shape or a strategy of shapes."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    elements = st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)
    return hnp.arrays(dtype, shape, elements=elements)


def nudge_away(array, points=(0.0,), margin=1e-2):
    """Move every element closer than ``margin`` to one of ``points`` out to that margin.

    Central differences straddle a kink (relu at 0, abs at 0, ties in max)
    and then disagree with either one-sided derivative; tests move inputs off
    the kinks rather than loosening the tolerance.
    """
    out = np.array(array, dtype=np.float64, copy=True)
    for p in points:
        close = np.abs(out - p) < margin
        out[close] = p + np.where(out[close] >= p, margin, -margin)
    return out
