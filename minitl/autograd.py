"""Reverse-mode automatic differentiation: Tensor, Function, the graph walk, grad mode.

1. **A Tensor holds an array and, optionally, how it was made.** ``tensor.data`` is a
   NumPy (or CuPy) array. A tensor that came out of an op while gradients were being
   tracked has ``tensor._ctx``, a :class:`Context`: which :class:`Function` made it,
   from which input tensors, with which arrays saved for backward. Leaves (the tensors
   you create) have no ``_ctx``.
2. **A Function is a pair of formulas on raw arrays.** ``forward(ctx, *arrays)``
   computes y = f(x₁, …, xₙ); ``backward(ctx, grad_out)`` receives ∂L/∂y and returns
   ∂L/∂xᵢ = ∂L/∂y · ∂y/∂xᵢ for each input (one link of the chain rule).
   ``Function.apply`` records the Context *only* when grad mode is on and some input
   requires a gradient: that one rule makes frozen layers free.
3. **backward() walks the graph once, in reverse topological order**, with an explicit
   stack (a chain of 10,000 ops works). A gradient that arrives in a broadcast shape is
   summed back to its input's shape in :func:`unbroadcast`, the one place that does it.

A Context holds its inputs but never its output, so dropping the loss frees the graph;
``backward()`` frees each Context's saved arrays once used (``retain_graph=True``
keeps them). **Version counters** keep saved arrays honest: every in-place change the
library makes (an optimizer step, ``load_state_dict``, ``nn.init``) adds one to a
tensor's ``_version``; backward refuses a saved input whose version changed.

Checks (dtypes, devices, arguments, versions) live in :mod:`minitl.guards`; the ops in
:mod:`minitl.ops`; the Tensor's operators and conveniences in
:mod:`minitl.tensor_methods`.
"""

from __future__ import annotations

import contextlib

from . import backend, guards
from .errors import GraphError

_grad_enabled = True  # grad mode: the one piece of global state in minitl


def is_grad_enabled() -> bool:
    """True while operations are being recorded for backward."""
    return _grad_enabled


class _GradMode(contextlib.ContextDecorator):
    """Set grad mode inside a ``with`` block or a decorated function, then restore it."""

    def __init__(self, enabled: bool):
        self.enabled, self._previous = enabled, []

    def __enter__(self):
        global _grad_enabled
        self._previous.append(_grad_enabled)
        _grad_enabled = self.enabled
        return self

    def __exit__(self, *exc_info):
        global _grad_enabled
        _grad_enabled = self._previous.pop()
        return False


def no_grad():
    """Context manager / decorator: record nothing (evaluation, weight updates)."""
    return _GradMode(False)


def enable_grad():
    """Context manager / decorator: record operations even inside ``no_grad()``."""
    return _GradMode(True)


class Context:
    """What one op call remembers for backward: ``fn`` (the Function), ``inputs`` (None
    where an input was a constant), ``versions`` (each input's ``_version`` then),
    ``needs_input_grad``, ``saved`` (arrays kept by forward) and any attribute the
    Function sets (an axis, a shape)."""

    def __init__(self, fn):
        self.fn, self.inputs, self.versions, self.saved = fn, (), (), ()
        self.needs_input_grad, self.released = (), False

    def save_for_backward(self, *arrays):
        self.saved = arrays

    def release(self):
        """Drop everything backward needed, keeping only the op's name."""
        fn = self.fn
        self.__dict__.clear()
        self.fn, self.inputs, self.versions, self.saved, self.released = fn, (), (), (), True

    def __repr__(self):
        return f"<{self.fn.__name__} backward>"


class Function:
    """Base class of every differentiable op: two static methods on raw arrays.

    ``forward(ctx, *arrays, **params)`` returns y; ``backward(ctx, grad_out)`` returns
    one gradient per input (a single array for one input), None where
    ``ctx.needs_input_grad`` is False, in the input's shape or a broadcast of it.
    See ``minitl/ops/elementwise.py`` for many small examples.
    """

    @staticmethod
    def forward(ctx, *arrays, **params):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_out):
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **params) -> Tensor:
        tensors = [x for x in inputs if isinstance(x, Tensor)]
        guards.same_device(cls.__name__, tensors)
        if len(tensors) == len(inputs):  # the usual case: every input a tensor
            arrays = [t.data for t in tensors]
        else:  # numbers and arrays become constants (None in the graph)
            arrays = [x.data if isinstance(x, Tensor) else guards.operand(cls.__name__, x, tensors)
                      for x in inputs]
            inputs = tuple([x if isinstance(x, Tensor) else None for x in inputs])
        ctx = Context(cls)
        needs = ctx.needs_input_grad = tuple([x is not None and x._requires_grad for x in inputs])
        out = Tensor(cls.forward(ctx, *arrays, **params))
        if _grad_enabled and True in needs:
            ctx.inputs = inputs
            ctx.versions = tuple([0 if x is None else x._version for x in inputs])
            ctx.output_shape = out.data.shape  # for drawing the graph (minitl.viz)
            out._ctx, out._requires_grad = ctx, True
        return out


def unbroadcast(grad, shape, op_name="op"):
    """Sum ``grad`` down to ``shape``: the adjoint of broadcasting ``shape`` up.

    If x of shape (3,) was broadcast to (64, 3), each x[j] was used 64 times, so
    ∂L/∂x[j] = Σᵢ ∂L/∂y[i, j]: sum over the new leading axes, and over every
    axis where x had size 1 but the gradient does not.
    """
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    guards.unbroadcastable(op_name, grad.shape, shape)
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, s in enumerate(shape) if s == 1 and grad.shape[extra + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape) if axes else grad.reshape(shape)


def _topological_order(root: Context) -> list[Context]:
    """Every Context reachable from ``root``, each before the Contexts it depends on: an
    iterative depth-first search whose reversed post-order starts at the output."""
    post_order, visited, stack = [], set(), [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            post_order.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        for t in node.inputs:
            if t is not None and t._ctx is not None and t._ctx not in visited:
                stack.append((t._ctx, False))
    post_order.reverse()
    return post_order


def _accumulate_leaf(leaf: Tensor, grad):
    # Never in place: a gradient array may be shared with another tensor's.
    leaf.grad = Tensor(grad) if leaf.grad is None else Tensor(leaf.grad.data + grad)


def run_backward(root: Tensor, grad, retain_graph: bool = False):
    """Propagate ``grad`` (∂L/∂root) to every leaf that requires a gradient."""
    if root._ctx is None:  # a leaf: its gradient is the upstream gradient itself
        return _accumulate_leaf(root, grad)
    order = _topological_order(root._ctx)
    guards.graph(order)  # every check before any gradient is computed
    pending = {root._ctx: grad}  # ∂L/∂(output of node), summed over its uses
    for node in order:
        grad_out = pending.pop(node, None)
        if grad_out is None:  # no gradient reached this node (its uses needed none)
            continue
        grads = guards.gradients(node, node.fn.backward(node, grad_out))
        for t, needs, g in zip(node.inputs, node.needs_input_grad, grads):
            if not needs or t is None:
                continue
            data = t.data
            if g.shape != data.shape:
                g = unbroadcast(g, data.shape, node.fn.__name__)
            if g.dtype != data.dtype:
                g = g.astype(data.dtype)
            if t._ctx is None:
                _accumulate_leaf(t, g)
            else:
                key = t._ctx
                pending[key] = g if key not in pending else pending[key] + g
        if not retain_graph:
            node.release()


class Tensor:
    """An n-dimensional array that can remember how it was computed.

    What a PyTorch user will recognise: ``data`` (the raw array), ``requires_grad``,
    ``grad`` (a Tensor, summed over backward calls until reset to None), ``shape``,
    ``dtype``, ``device``, ``backward()``, ``detach()``. ``_version`` counts the
    in-place changes the library has made. Operators and methods (``a + b``,
    ``x.sum(axis=1)``) are attached in :mod:`minitl.tensor_methods`. minitl has no
    in-place Tensor methods and no index assignment: ops return new tensors.
    """

    __array_ufunc__ = None  # make NumPy defer to us: ndarray + Tensor calls Tensor.__radd__
    __array_priority__ = 1000
    _version = 0  # a class default: a tensor gets its own counter on its first change

    def __init__(self, data, requires_grad: bool = False):
        if not (isinstance(data, backend.np.ndarray) or backend.is_cupy_array(data)):
            data = guards.as_array(data)
        self.data = data
        """The raw NumPy (or CuPy) array. Writing straight into it (``t.data += 1``) is
        **not tracked** by the version counter, so backward cannot notice it; library code
        that changes a tensor in place calls :meth:`_bump_version` after it."""
        self.grad: Tensor | None = None
        self._ctx: Context | None = None
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True  # through the setter, which checks the dtype

    @property
    def requires_grad(self) -> bool:
        """Whether backward computes a gradient for this tensor. Setting it to False
        freezes the tensor and clears ``.grad``, so an old gradient never reaches an
        optimizer."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool):
        flag = bool(flag)
        if self._ctx is not None and not flag:
            raise GraphError("requires_grad can only be switched off on a leaf tensor; "
                             "use .detach() to cut a computed tensor out of the graph")
        if flag:
            guards.requires_grad_dtype(self.dtype)
        self._requires_grad = flag
        if not flag:
            self.grad = None

    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Set ``requires_grad`` (False also clears ``.grad``). Returns self."""
        self.requires_grad = flag
        return self

    def _bump_version(self) -> None:
        """Record an in-place change of ``data`` (see the module docstring)."""
        self._version += 1

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self):
        """The Context that produced this tensor (None for a leaf)."""
        return self._ctx

    def backward(self, grad=None, retain_graph: bool = False):
        """Compute ∂self/∂leaf for every leaf that requires a gradient, into ``leaf.grad``.
        ``grad`` (∂L/∂self) may be omitted only for a single value (a loss): it is 1."""
        run_backward(self, guards.backward_start(self, grad), retain_graph=retain_graph)

    def detach(self) -> Tensor:
        """The same data (shared, not copied), cut out of the graph, with its own version
        counter."""
        return Tensor(self.data)

    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return int(self.data.size)

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    __hash__ = object.__hash__
