"""Reverse-mode automatic differentiation: Tensor, Function and backward.

The whole engine rests on three ideas.

1. **A Tensor holds an array and, optionally, how it was made.** ``tensor.data``
   is a NumPy (or CuPy) array. If the tensor came out of an op while gradients
   were being tracked, ``tensor._ctx`` points to a :class:`Context`: the record
   of that op (which :class:`Function`, which input tensors, which arrays it saved
   for its backward pass). Leaves, the tensors you create yourself, have no
   ``_ctx``.

2. **A Function is a pair of formulas on raw arrays.** ``forward(ctx, *arrays)``
   computes y = f(x₁, …, xₙ); ``backward(ctx, grad_out)`` receives ∂L/∂y and
   returns ∂L/∂xᵢ = ∂L/∂y · ∂y/∂xᵢ for each input (the chain rule, one link).
   ``Function.apply`` wraps the arrays in tensors and records the Context *only*
   when grad mode is on and some input requires a gradient. That one rule is
   what makes frozen layers free: nothing is recorded for them, and nothing is
   computed for them backward.

3. **backward() walks the recorded graph once, in reverse topological order**,
   with an explicit stack rather than recursion, so a chain of 10,000 ops works.
   Broadcasting in the forward pass (a (3,) bias added to a (64, 3) batch) means
   the gradient arrives with the broadcast shape; it is summed back to each
   input's shape here, in :func:`unbroadcast`, the one place that does it, so no
   op's backward can forget.

Memory stays bounded because a Context holds its inputs but never its output:
when you drop the loss tensor, the graph behind it is freed by reference
counting, and ``backward()`` releases each Context's saved arrays as soon as it
has used them (pass ``retain_graph=True`` to backpropagate twice).

**Version counters** keep saved arrays honest. Every in-place change the library
makes to a tensor (an optimizer step, ``load_state_dict``, an ``nn.init`` fill,
BatchNorm's running statistics) adds one to its ``_version``. A Context records
the versions of its inputs; before ``backward()`` computes anything it compares
them with the inputs' versions now, and if an input whose array the op saved has
changed it raises :class:`~minitl.errors.ModifiedInPlaceError` naming the op and
the tensor, instead of returning a gradient computed from the wrong numbers.
The check costs one integer comparison per input per op.
"""

from __future__ import annotations

import contextlib

import numpy as np

from . import backend
from .errors import (
    ArgumentError,
    DeviceError,
    DTypeError,
    GraphError,
    IndexingError,
    MinitlError,
    ModifiedInPlaceError,
    ShapeError,
)

# --------------------------------------------------------------------------
# Grad mode: the one piece of global state in minitl.
# --------------------------------------------------------------------------

_grad_enabled = True


def is_grad_enabled() -> bool:
    """True while operations are being recorded for backward."""
    return _grad_enabled


class _GradMode(contextlib.ContextDecorator):
    """Set grad mode inside a ``with`` block or a decorated function, then restore it."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._previous = []

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
    """Context manager / decorator: record nothing (evaluation, weight updates).

    >>> with no_grad():
    ...     y = model(x)          # y.requires_grad is False, no graph is kept
    """
    return _GradMode(False)


def enable_grad():
    """Context manager / decorator: record operations even inside ``no_grad()``."""
    return _GradMode(True)


# --------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------

DEFAULT_FLOAT = np.float32


def _is_floating(dtype) -> bool:
    return np.issubdtype(dtype, np.floating)


def result_type(*dtypes) -> np.dtype:
    """The dtype operands of ``dtypes`` compute in (PyTorch's rule): a floating dtype wins
    over integer and bool ones (int64 with float32 → float32, where NumPy gives float64);
    otherwise NumPy's promotion. The whole policy is in ``minitl/ops/_dtypes.py``."""
    first = dtypes[0]
    if all(d == first for d in dtypes):
        return np.dtype(first)
    floats = [d for d in dtypes if d.kind == "f"]
    return np.result_type(*(floats or dtypes))


def _scalar_dtype(op_name, reference_dtype, value) -> np.dtype:
    """The dtype a Python number takes next to tensors of ``reference_dtype``.

    float32 tensor * 0.5 stays float32 (NEP 50); an integer or bool tensor with a
    Python float gives the default float32 (as in PyTorch, where NumPy gives float64);
    a Python int that does not fit an integer tensor's dtype is a DTypeError rather
    than a silent wrap-around.
    """
    if reference_dtype.kind == "f":
        return reference_dtype  # the common case: any number next to a float tensor
    if isinstance(value, float):
        return np.dtype(DEFAULT_FLOAT)
    dtype = np.result_type(reference_dtype, value)
    if dtype.kind in "iu" and not isinstance(value, bool):
        info = np.iinfo(dtype)
        if not info.min <= value <= info.max:
            raise DTypeError(f"{op_name}: the Python integer {value} does not fit the tensor "
                             f"dtype {dtype} (range {info.min}..{info.max}); convert the "
                             "tensor first, e.g. with .long()")
    return dtype


def _np_dtype(where: str, dtype):
    """``np.dtype(dtype)``, or a DTypeError naming ``where`` if ``dtype`` is not a dtype."""
    try:
        return np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"{where}: {dtype!r} is not a dtype (use e.g. 'float32' or "
                         "np.float32)") from None


def _as_array(data, dtype=None, device=None):
    """Turn ``data`` into an array following minitl's dtype rules (see :func:`tensor`)."""
    if dtype is not None:
        dtype = _np_dtype("tensor", dtype)
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.ndarray) or backend.is_cupy_array(data):
        array = data if dtype is None else data.astype(dtype, copy=False)
    elif isinstance(data, np.generic):  # a NumPy scalar (what 0-d arithmetic returns)
        array = np.asarray(data, dtype=dtype)
    else:
        array = np.asarray(data, dtype=dtype)
        if dtype is None and array.dtype == np.float64:
            array = array.astype(DEFAULT_FLOAT)  # Python floats and lists default to float32
    if device is not None:
        array = backend.to_device(array, device)
    return array


def tensor(data, requires_grad: bool = False, dtype=None, device=None) -> Tensor:
    """Make a leaf tensor.

    dtype rules (as in PyTorch): a NumPy float array keeps its dtype; Python
    floats and (nested) lists of floats become float32; integers stay integers
    (int64), which is what class targets should be; bools stay bool.
    The data is copied, so later changes to ``data`` do not reach the tensor.
    """
    array = _as_array(data, dtype=dtype, device=device)
    if array is data or (isinstance(data, Tensor) and array is data.data):
        array = array.copy()
    return Tensor(array, requires_grad=requires_grad)


# --------------------------------------------------------------------------
# Context and Function
# --------------------------------------------------------------------------


class Context:
    """What one op call remembers for its backward pass.

    ``fn`` is the Function class, ``inputs`` the input tensors (None where an
    input was a constant), ``versions[i]`` input i's ``_version`` when the op
    ran, ``needs_input_grad[i]`` whether input i needs a gradient, ``saved`` the
    arrays the forward pass kept. A Function may also store plain attributes on
    it (an axis, a shape, a mask).
    """

    def __init__(self, fn):
        self.fn = fn
        self.inputs = ()
        self.versions = ()
        self.needs_input_grad = ()
        self.saved = ()
        self.released = False

    def save_for_backward(self, *arrays):
        self.saved = arrays

    def release(self):
        """Drop everything the backward pass needed, keeping only the op's name."""
        fn = self.fn
        self.__dict__.clear()
        self.fn = fn
        self.inputs = ()
        self.versions = ()
        self.saved = ()
        self.released = True

    def __repr__(self):
        return f"<{self.fn.__name__} backward>"


class Function:
    """Base class of every differentiable op.

    Subclasses write two static methods on raw arrays (NumPy or CuPy)::

        class Exp(Function):
            '''y = eˣ;  ∂y/∂x = eˣ = y'''
            @staticmethod
            def forward(ctx, x):
                y = get_array_module(x).exp(x)
                ctx.save_for_backward(y)
                return y

            @staticmethod
            def backward(ctx, grad_out):
                (y,) = ctx.saved
                return grad_out * y

    ``backward`` returns one gradient per input of ``forward`` (a single array
    when there is one input); it may return None for inputs whose
    ``ctx.needs_input_grad`` is False, and it may return a gradient in the
    broadcast shape: the engine sums it back to the input's shape.
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
        _check_same_device(cls.__name__, tensors)
        if len(tensors) == len(inputs):  # the usual case: nothing to convert
            arrays = [t.data for t in tensors]
        else:
            arrays = [_input_array(cls.__name__, x, tensors) for x in inputs]

        ctx = Context(cls)
        needs = tuple([isinstance(x, Tensor) and x._requires_grad for x in inputs])
        ctx.needs_input_grad = needs
        try:
            out = Tensor(cls.forward(ctx, *arrays, **params))
        except MinitlError:
            raise
        except (TypeError, ValueError, IndexError, ArithmeticError) as exc:
            raise _as_minitl_error(cls.__name__, arrays, exc) from None
        if _grad_enabled and True in needs:
            if len(tensors) == len(inputs):  # the usual case again: every input a tensor
                ctx.inputs = inputs
            else:
                ctx.inputs = tuple(x if isinstance(x, Tensor) else None for x in inputs)
            ctx.versions = tuple([0 if x is None else x._version for x in ctx.inputs])
            ctx.output_shape = out.shape  # for drawing the graph (minitl.viz)
            out._ctx = ctx
            out._requires_grad = True
        return out


def _as_minitl_error(op_name, arrays, exc) -> MinitlError:
    """Turn an error NumPy raised inside an op's forward into one that names the op.

    The user sees which op failed and the shapes and dtypes it was given,
    instead of a traceback from deep inside NumPy.
    """
    inputs = ", ".join(
        f"{tuple(a.shape)} {a.dtype}" if hasattr(a, "shape") else repr(a) for a in arrays
    )
    message = str(exc)
    if not message.split(" ", 1)[0].endswith(":"):
        message = f"{op_name}: {message}"
    message = f"{message} (inputs: {inputs})"
    if isinstance(exc, IndexError) and not isinstance(exc, ValueError):
        return IndexingError(message)
    if isinstance(exc, TypeError):
        return DTypeError(message)
    if "shape" in message or "broadcast" in message or "axis" in message:
        return ShapeError(message)
    return ArgumentError(message)


def _check_same_device(op_name, tensors):
    if backend.cupy is None:  # without CuPy every array is a NumPy array
        return
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        described = ", ".join(f"{tuple(t.shape)} on {t.device}" for t in tensors)
        raise DeviceError(
            f"{op_name}: tensors on different devices ({described}); "
            "move them to one device first with .to('cpu') or .to('cuda')"
        )


def _input_array(op_name, x, tensors):
    """The raw array for one input of an op; Python numbers take the tensors' dtype.

    ``float32_tensor * 0.5`` must stay float32 (NumPy 2's NEP 50 rule), so a
    Python scalar becomes a 0-d array of the dtype :func:`_scalar_dtype` gives it
    next to the tensors, on their device. An operand that is not a real number
    (complex, str, bytes, None, any other object, or an array of them) is a
    DTypeError naming the op and the operand: NumPy would cast it silently
    (dropping an imaginary part, parsing '5' as 5, turning None into NaN).
    """
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, (bool, int, float)) and tensors:
        reference = (tensors[0].data.dtype if len(tensors) == 1
                     else result_type(*(t.dtype for t in tensors)))
        dtype = _scalar_dtype(op_name.lower(), reference, x)
        xp = backend.get_array_module(tensors[0].data)
        try:
            return xp.asarray(x, dtype=dtype)
        except OverflowError:
            raise DTypeError(f"{op_name.lower()}: the Python number {x} does not fit "
                             f"dtype {dtype}") from None
    array = x if isinstance(x, np.ndarray) or backend.is_cupy_array(x) else _as_array(x)
    if array.dtype.kind not in "biuf":
        shown = repr(x) if len(repr(x)) <= 40 else repr(x)[:40] + "..."
        raise DTypeError(f"{op_name.lower()}: operand {shown} of type {type(x).__name__} "
                         f"(dtype {array.dtype}) is not a real number; minitl computes with "
                         "floating, integer and bool values only")
    return array


# --------------------------------------------------------------------------
# Broadcasting, undone in one place
# --------------------------------------------------------------------------


def unbroadcast(grad, shape, op_name="op"):
    """Sum ``grad`` down to ``shape``: the adjoint of broadcasting ``shape`` up.

    If x of shape (3,) was broadcast to (64, 3), each x[j] was used 64 times, so
    ∂L/∂x[j] = Σᵢ ∂L/∂y[i, j]: sum over the new leading axes, and over every
    axis where x had size 1 but the gradient does not.
    """
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0 or any(s != 1 and s != g for s, g in zip(shape, grad.shape[extra:])):
        raise GraphError(
            f"{op_name}.backward returned a gradient of shape {grad.shape} "
            f"for an input of shape {shape}"
        )
    axes = tuple(range(extra)) + tuple(
        extra + i for i, s in enumerate(shape) if s == 1 and grad.shape[extra + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape) if axes else grad.reshape(shape)


# --------------------------------------------------------------------------
# Backward pass
# --------------------------------------------------------------------------


def _topological_order(root: Context) -> list[Context]:
    """Every Context reachable from ``root``, each before all the Contexts it depends on.

    An iterative depth-first search: a node goes into ``post_order`` only after
    all its inputs' nodes have, so the reversed list starts at the output.
    """
    post_order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            post_order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for t in node.inputs:
            if t is not None and t._ctx is not None and id(t._ctx) not in visited:
                stack.append((t._ctx, False))
    post_order.reverse()
    return post_order


def _check_versions(node: Context) -> None:
    """Raise if an array ``node`` saved for backward was changed in place since the op ran.

    Only a changed input whose array the op actually saved (or a view of it) is an
    error: an op that saved nothing of it (an addition) still has the right gradient.
    """
    for i, (t, version) in enumerate(zip(node.inputs, node.versions)):
        if t is None or t._version == version:
            continue
        xp = backend.get_array_module(t.data)
        if not any(hasattr(s, "shape") and xp.may_share_memory(s, t.data) for s in node.saved):
            continue
        kind = type(t).__name__ if t._ctx is None else f"output of {t._ctx.fn.__name__}"
        raise ModifiedInPlaceError(
            f"backward through {node.fn.__name__}: its input {i} (a {kind} of shape {t.shape}, "
            f"dtype {t.dtype}) was saved for the gradient at version {version} and has since "
            f"been changed in place (now version {t._version}), e.g. by optimizer.step() or "
            "load_state_dict() between the forward pass and backward(). Call backward() "
            "before changing the weights, or run the forward pass again."
        )


def _accumulate_leaf(leaf: Tensor, grad):
    # Never in place: a gradient array may be shared with another tensor's.
    leaf.grad = Tensor(grad) if leaf.grad is None else Tensor(leaf.grad.data + grad)


def run_backward(root: Tensor, grad, retain_graph: bool = False):
    """Propagate ``grad`` (∂L/∂root) to every leaf that requires a gradient."""
    if root._ctx is None:  # a leaf: its gradient is the upstream gradient itself
        _accumulate_leaf(root, grad)
        return
    order = _topological_order(root._ctx)
    for node in order:  # every check before any gradient is computed or accumulated
        if node.released:
            raise GraphError(
                f"backward through {node.fn.__name__} a second time: its saved arrays were "
                "freed after the first backward; pass retain_graph=True the first time"
            )
        for t, version in zip(node.inputs, node.versions):
            if t is not None and t._version != version:
                _check_versions(node)
                break
    pending = {id(root._ctx): grad}  # ∂L/∂(output of node), summed over its uses
    for node in order:
        grad_out = pending.pop(id(node), None)
        if grad_out is None:  # the node does not lead to root's value (cannot happen) or no grad
            continue
        grads = node.fn.backward(node, grad_out)
        if not isinstance(grads, tuple):
            grads = (grads,)
        if len(grads) != len(node.inputs):
            raise GraphError(
                f"{node.fn.__name__}.backward returned {len(grads)} gradients "
                f"for {len(node.inputs)} inputs"
            )
        for t, needs, g in zip(node.inputs, node.needs_input_grad, grads):
            if not needs or t is None:
                continue
            if g is None:
                raise GraphError(f"{node.fn.__name__}.backward returned None for an input "
                                 "that requires a gradient")
            data = t.data
            if g.shape != data.shape:
                g = unbroadcast(g, data.shape, node.fn.__name__)
            if g.dtype != data.dtype:
                g = g.astype(data.dtype)
            if t._ctx is None:
                _accumulate_leaf(t, g)
            else:
                key = id(t._ctx)
                pending[key] = g if key not in pending else pending[key] + g
        if not retain_graph:
            node.release()


# --------------------------------------------------------------------------
# Tensor
# --------------------------------------------------------------------------


class Tensor:
    """An n-dimensional array that can remember how it was computed.

    Attributes a PyTorch user will recognise: ``data`` (the raw array),
    ``requires_grad``, ``grad`` (a Tensor, summed over backward calls until you
    reset it to None or zero), ``shape``, ``dtype``, ``device``, ``_version``
    (how many in-place changes the library has made to it). The arithmetic
    operators and methods such as ``x.relu()`` or ``x.sum(axis=1)`` are attached
    in :mod:`minitl.ops`, next to the Functions that implement them. minitl has
    no in-place Tensor methods and no index assignment (``t[i] = v``): ops always
    return new tensors.
    """

    # Make NumPy defer to us: ndarray + Tensor calls Tensor.__radd__.
    __array_ufunc__ = None
    __array_priority__ = 1000

    _version = 0  # a class default: a tensor gets its own counter on its first change

    def __init__(self, data, requires_grad: bool = False):
        if not (isinstance(data, np.ndarray) or backend.is_cupy_array(data)):
            data = _as_array(data)
        self.data = data
        """The raw NumPy (or CuPy) array. Reading it is free; writing straight into it
        (``t.data[...] = v``, ``t.data += 1``) is **not tracked**: it does not bump the
        version counter, so a graph that saved this array will not notice and backward
        may return a wrong gradient without a word (as in PyTorch). Library code that
        changes a tensor in place calls :meth:`_bump_version` after it; do the same, or
        change weights only through an optimizer, ``load_state_dict`` or ``nn.init``."""
        self.grad: Tensor | None = None
        self._ctx: Context | None = None
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True  # through the setter, which checks the dtype

    # -- gradient bookkeeping ------------------------------------------------

    @property
    def requires_grad(self) -> bool:
        """Whether backward computes a gradient for this tensor. Setting it to False
        freezes the tensor and clears its gradient (``.grad = None``), so a gradient
        computed before the freeze can never reach an optimizer."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool):
        flag = bool(flag)
        if self._ctx is not None and not flag:
            raise GraphError(
                "requires_grad can only be switched off on a leaf tensor; "
                "use .detach() to cut a computed tensor out of the graph"
            )
        if flag and not _is_floating(self.dtype):
            raise DTypeError(
                f"only floating-point tensors can require gradients, got dtype {self.dtype}"
            )
        self._requires_grad = flag
        if not flag:
            self.grad = None

    def _bump_version(self) -> None:
        """Record an in-place change of ``data``: every library write into a tensor's array
        calls this, so that backward can refuse a graph that saved the old values."""
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

        ``grad`` is the upstream gradient ∂L/∂self. It may be omitted only when
        ``self`` holds a single value (a loss), in which case it is 1.
        """
        if not self.requires_grad:
            raise GraphError(
                "backward: this tensor does not require a gradient and has no graph behind it "
                "(were all inputs frozen, or was it computed under no_grad()?)"
            )
        if grad is None:
            if self.size != 1:
                raise GraphError(
                    f"backward: the tensor has shape {self.shape}, not a single value; pass the "
                    "upstream gradient (.backward(grad) with the same shape) or reduce it first "
                    "with .sum() or .mean()"
                )
            grad_array = self._xp.ones_like(self.data)
        else:
            if isinstance(grad, Tensor):
                _check_same_device("backward", [self, grad])
            grad_array = _as_array(grad, dtype=self.dtype)
            if backend.device_of(grad_array) != self.device:
                raise DeviceError(f"backward: gradient on {backend.device_of(grad_array)}, "
                                  f"tensor on {self.device}")
            if grad_array.shape != self.shape:
                raise ShapeError(
                    f"backward: gradient of shape {grad_array.shape} given for a tensor "
                    f"of shape {self.shape}; they must match"
                )
        run_backward(self, grad_array, retain_graph=retain_graph)

    def detach(self) -> Tensor:
        """The same data (shared, not copied), cut out of the graph. The detached tensor
        has its own version counter: an in-place change made through the original (an
        optimizer step) shows in its values but not in its ``_version``."""
        return Tensor(self.data)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Set ``requires_grad`` (False also clears ``.grad``). Returns self."""
        self.requires_grad = flag
        return self

    # -- array facts -----------------------------------------------------------

    @property
    def _xp(self):
        return backend.get_array_module(self.data)

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

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def numpy(self) -> np.ndarray:
        """The values as a host NumPy array (shared on the CPU, copied from a GPU)."""
        return backend.to_numpy(self.data)

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def item(self):
        """The single value as a Python number."""
        if self.size != 1:
            raise ShapeError(f"item: tensor of shape {self.shape} has {self.size} values, not 1")
        return self.numpy().reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def __repr__(self):
        extras = ""
        if self.device != "cpu":
            extras += f", device='{self.device}'"
        if self._ctx is not None:
            extras += f", grad_fn={self._ctx.fn.__name__}"
        elif self.requires_grad:
            extras += ", requires_grad=True"
        body = np.array2string(self.numpy(), precision=4, separator=", ", threshold=20)
        return f"tensor({body}, dtype={self.dtype}{extras})"

    def __bool__(self):
        if self.size != 1:
            raise ShapeError(f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                             "use .any() or .all()")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    __hash__ = object.__hash__

