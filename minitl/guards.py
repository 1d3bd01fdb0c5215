"""Guards: every check an op makes before it computes, and minitl's one dtype policy.

The ops in :mod:`minitl.ops` are written as plain math. Each calls a guard from this
module in one line at the top of its ``forward`` (``a, b = guards.exact("add", a, b)``);
the guard checks dtypes, shapes, devices and arguments, and either hands back the
operands ready to compute with or raises the typed error of :mod:`minitl.errors` that
names the op and the shapes, dtypes or devices at fault. Errors are raised where the
problem is detected, before NumPy sees the arrays, so NumPy never fails with an error
of its own and no error is made by reading another library's message.

**The dtype policy** (PyTorch's rules; ``tests/reliability`` fuzzes every public op
against them):

1. **Floating tensors** (float16, float32, float64) work with every op. Floating
   operands of different widths promote as in NumPy (float32 with float64 → float64).
2. **A floating operand wins over integer and bool ones**: int64 tensor × float32
   tensor → float32 (NumPy alone would give float64), and an integer or bool tensor
   combined with a Python float gives float32, the default dtype.
3. **Exact arithmetic keeps integers**: add, sub, mul, neg, abs, relu, clip, pow and
   matmul (and the reductions sum, max, min) on integer tensors return integers,
   wrapping on overflow as NumPy and PyTorch do. A negative integer power of an
   integer is an ArgumentError; a Python int that does not fit the tensor's integer
   dtype (int8 tensor + 1000) is a DTypeError.
4. **Real-valued maths turns integers and bools into float32 first**: div, exp, log,
   sqrt, tanh, sigmoid, gelu, leaky_relu, mean, var, std, softmax, log_softmax and
   logsumexp (PyTorch: exp of an int is a float; ``int / int`` is a float).
5. **Bool tensors are masks, not numbers**: arithmetic in which every operand is bool
   (``mask + mask``, ``-mask``, ``relu(mask)``) raises DTypeError; convert with
   ``.float()`` or ``.long()``. A bool mixed with a number counts as 0/1
   (``x * mask``). ``sum`` of a bool tensor counts its True values (int64), ``mean``
   gives their fraction (float32); max, min, argmax, argmin, where and the shape ops
   accept bools.
6. **Neural-network ops need floating inputs**: losses (scores and predictions),
   linear, dropout, batch/layer norm and the layers raise DTypeError on integer or
   bool inputs; an integer "logit" is almost always a bug. Class targets of
   cross_entropy and nll_loss must be integers; targets of mse_loss and
   binary_cross_entropy_with_logits may be bool or integer and are converted to the
   prediction's dtype.
7. **Special values follow IEEE 754, never an exception**: NaN propagates, overflow
   gives ±inf, log(0) = −inf, sqrt(−1) = NaN, x/0 = ±inf and 0/0 = NaN (NumPy may
   print a RuntimeWarning). Integer sums accumulate in 64 bits as in NumPy (uint8 →
   uint64, int32 → int64).

Other dtypes (complex, strings, bytes, objects, void, datetimes, timedeltas) are refused
with a DTypeError naming the function and the dtype, by :func:`supported_dtype`: no
creation function, conversion or op accepts them.
Python numbers take the dtype of the tensors beside them (float32 tensor * 0.5 stays
float32, NumPy 2's NEP 50 rule), and the data decides the device: an op whose tensors
sit on different devices is a DeviceError.
"""

from __future__ import annotations

import math

import numpy as np

from . import backend
from .errors import (
    ArgumentError,
    DeviceError,
    DTypeError,
    GraphError,
    IndexingError,
    ModifiedInPlaceError,
    ShapeError,
)

DEFAULT_FLOAT = np.float32
_KINDS = {"f": "floating", "i": "integer", "u": "integer", "b": "bool"}

# ---------------------------------------------------------------- dtypes


def result_type(*dtypes) -> np.dtype:
    """The dtype operands of ``dtypes`` compute in: a floating dtype wins over integer and
    bool ones (rule 2: int64 with float32 → float32, where NumPy gives float64); otherwise
    NumPy's promotion."""
    first = dtypes[0]
    if all(d == first for d in dtypes):
        return np.dtype(first)
    floats = [d for d in dtypes if d.kind == "f"]
    return np.result_type(*(floats or dtypes))


def scalar_dtype(op_name, reference_dtype, value) -> np.dtype:
    """The dtype a Python number takes next to tensors of ``reference_dtype``.

    float32 tensor * 0.5 stays float32 (NEP 50); an integer or bool tensor with a
    Python float gives float32 (PyTorch; NumPy would give float64); a Python int
    that does not fit an integer tensor's dtype is a DTypeError, not a wrap-around."""
    if reference_dtype.kind == "f":
        return reference_dtype
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


#: What the dtypes outside the policy hold, for the message that refuses them.
_REFUSED_KINDS = {"c": "complex numbers", "O": "Python objects", "U": "strings",
                  "S": "bytes", "V": "raw (void) records", "M": "datetimes",
                  "m": "timedeltas"}


def supported_dtype(where: str, dtype) -> np.dtype:
    """``dtype`` if the dtype policy admits it (a floating, integer or bool dtype), else a
    DTypeError naming ``where`` and the dtype.

    The one gate of the policy: every way to make a tensor from data or a dtype (the
    creation functions, ``Tensor`` of a list, ``astype``, ``to``, ``Module.to``,
    ``Parameter``) and every op's tensor operands pass through it, so complex, string,
    bytes, object, void, datetime and timedelta dtypes never reach the arithmetic.
    (``Tensor(array)`` wraps an array as it is: it is the engine's own constructor, and
    any op given such a tensor refuses it here.)"""
    dtype = np.dtype(dtype)
    if dtype.kind not in _KINDS:
        what = _REFUSED_KINDS.get(dtype.kind, f"kind {dtype.kind!r}")
        raise DTypeError(f"{where}: dtype {dtype} ({what}) is not supported; minitl computes "
                         "with floating, integer and bool tensors only")
    return dtype


def as_dtype(where: str, dtype) -> np.dtype:
    """``np.dtype(dtype)`` if it is a dtype the policy admits; else a DTypeError naming
    ``where`` (see :func:`supported_dtype`)."""
    try:
        parsed = np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"{where}: {dtype!r} is not a dtype (use e.g. 'float32' or "
                         "np.float32)") from None
    return supported_dtype(where, parsed)


def to_arguments(where: str, device, dtype) -> tuple:
    """``(device, dtype)`` of a ``to`` call: ``to("cuda")``, ``to(np.float64)``,
    ``to("float64")`` or ``to(device=..., dtype=...)``, the device normalised and the
    dtype checked by :func:`as_dtype` (None where not given)."""
    if device is not None and not isinstance(device, str):
        if dtype is not None:
            raise TypeError(f"{where}(): got two dtypes")
        device, dtype = None, device
    elif isinstance(device, str):
        try:
            device = backend.normalize_device(device)
        except DeviceError:
            try:
                dtype, device = np.dtype(device), None
            except TypeError:
                raise DeviceError(f"{where}(): {device!r} is neither a device ('cpu', "
                                  "'cuda') nor a dtype") from None
    return device, None if dtype is None else as_dtype(where, dtype)


def as_array(data, dtype=None, device=None, where: str = "tensor"):
    """``data`` as an array by minitl's rules: a NumPy float array keeps its dtype, Python
    floats and lists of them become float32, integers stay int64, bools stay bool. Data
    whose dtype the policy refuses (strings, None, objects, ...) is a DTypeError naming
    ``where``."""
    if dtype is not None:
        dtype = as_dtype(where, dtype)
    array = _to_array(data, dtype, device)
    supported_dtype(where, array.dtype)
    return array


def _to_array(data, dtype=None, device=None):
    """What :func:`as_array` converts, before the policy is checked."""
    if isinstance(data, np.generic) and dtype is None and device is None:
        return np.asarray(data)  # a NumPy scalar (what x.sum() returns) keeps its dtype
    from .autograd import Tensor  # (imported here: the engine imports this module)

    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.ndarray) or backend.is_cupy_array(data):
        array = data if dtype is None else data.astype(dtype, copy=False)
    else:
        array = np.asarray(data, dtype=dtype)
        if dtype is None and array.dtype == np.float64 and not isinstance(data, np.generic):
            array = array.astype(DEFAULT_FLOAT)  # Python floats and lists default to float32
    if device is not None:
        array = backend.to_device(array, device)
    return array


def _common_dtype(op_name, arrays):
    for a in arrays:
        supported_dtype(op_name, a.dtype)
    return result_type(*(a.dtype for a in arrays))


def _all_float_alike(arrays):
    """The fast path of every rule: operands that already share one floating dtype."""
    dtype = arrays[0].dtype
    return dtype.kind == "f" and all(a.dtype == dtype for a in arrays[1:])


def _cast(arrays, dtype):
    return tuple(a if a.dtype == dtype else a.astype(dtype) for a in arrays)


def exact(op_name, *arrays, broadcast=True):
    """Operands of exact arithmetic (rule 3), broadcast-checked and cast to one dtype;
    bools alone refused."""
    if broadcast and len(arrays) > 1:
        broadcast_shape(op_name, *(a.shape for a in arrays))
    if _all_float_alike(arrays):
        return arrays
    dtype = _common_dtype(op_name, arrays)
    if dtype.kind == "b":
        raise DTypeError(f"{op_name}: arithmetic on bool tensors is not supported (bools are "
                         "masks); convert with .float() or .long() first")
    return _cast(arrays, dtype)


def real(op_name, *arrays):
    """Operands of real-valued maths (rule 4), broadcast-checked, in their common floating
    dtype (float32 for integers and bools)."""
    if len(arrays) > 1:
        broadcast_shape(op_name, *(a.shape for a in arrays))
    if _all_float_alike(arrays):
        return arrays
    dtype = _common_dtype(op_name, arrays)
    return _cast(arrays, dtype if dtype.kind == "f" else np.dtype(DEFAULT_FLOAT))


def common(op_name, *arrays):
    """Operands of ops that only move values (where, concatenate, max, ...), cast to one
    dtype; any supported dtype, bool included."""
    if _all_float_alike(arrays):
        return arrays
    return _cast(arrays, _common_dtype(op_name, arrays))


def floating(op_name, *named):
    """Rule 6: each ``(role, array)`` pair must hold a floating array (None is skipped)."""
    for role, array in named:
        if array is not None and array.dtype.kind != "f":
            raise DTypeError(f"{op_name}: {role} must be a floating-point tensor, got dtype "
                             f"{array.dtype} (convert with .float())")


def target_like(target, prediction):
    """A bool or integer target Tensor in the prediction's dtype (a float one as it is)."""
    from .autograd import Tensor

    if target.dtype.kind in "biu":
        return Tensor(target.data.astype(prediction.dtype))
    return target


def cast_target(op_name, x, dtype) -> np.dtype:
    from .autograd import Tensor

    if not isinstance(x, Tensor):
        raise ArgumentError(f"{op_name} expects a Tensor, got {type(x).__name__}")
    return as_dtype(op_name, dtype)


def condition(op_name, cond, a, b):
    if cond.dtype != bool:
        raise DTypeError(f"{op_name}: the condition must be boolean, got dtype {cond.dtype}")
    broadcast_shape(op_name, cond.shape, a.shape, b.shape)


def requires_grad_dtype(dtype):
    if dtype.kind != "f":
        raise DTypeError(f"only floating-point tensors can require gradients, got dtype {dtype}")


# ---------------------------------------------------------------- devices and operands


def same_device(op_name, tensors):
    """Every tensor of one op on one device, or a DeviceError listing where each one is."""
    if backend.cupy is None:  # without CuPy every array is a NumPy array
        return
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        described = ", ".join(f"{tuple(t.shape)} on {t.device}" for t in tensors)
        raise DeviceError(f"{op_name}: tensors on different devices ({described}); "
                          "move them to one device first with .to('cpu') or .to('cuda')")


def on_device_of(op_name, x, tensors, array=None):
    """The non-tensor operand ``x`` of an op on ``tensors`` (which share one device), as an
    array on their device. ``array``: ``x`` already converted by the caller's dtype rules
    (``np.asarray(x)`` if None).

    Data that has no device (a Python or NumPy scalar, a list) is made on the tensors'
    device: a scalar is a scalar on every device. An array is never moved behind the
    user's back: a NumPy array meeting tensors on 'cuda' (or a CuPy array meeting tensors
    on 'cpu') is a DeviceError naming the op and both devices. The documented moves are
    ``mt.tensor(x, device=...)``, ``tensor.to(...)`` and ``module.to(...)``."""
    device = tensors[0].device
    if isinstance(x, np.ndarray) or backend.is_cupy_array(x):
        where = backend.device_of(x)
        if where != device:
            kind = "a CuPy" if where == "cuda" else "a NumPy"
            raise DeviceError(f"{op_name}: {kind} array of shape {tuple(x.shape)} on {where} "
                              f"meets tensors on {device}; move it first, e.g. "
                              f"mt.tensor(x, device='{device}')")
        return x if array is None else array
    array = np.asarray(x) if array is None else array
    return array if device == "cpu" else backend.to_device(array, device)


def operand(op_name, x, tensors):
    """The raw array for a non-tensor input of an op, on the tensors' device
    (:func:`on_device_of`). Python numbers take the tensors' dtype; a NumPy scalar keeps
    its own, as a 0-d array would (np.float64 is a Python float, so it takes the tensors').
    An operand that is not a real number (complex, str, bytes, None, any other object, or
    an array of them) is a DTypeError: NumPy would cast it silently (dropping an imaginary
    part, parsing '5' as 5, turning None into NaN)."""
    op_name = op_name.lower()
    if isinstance(x, (bool, int, float)) and tensors:
        reference = (tensors[0].data.dtype if len(tensors) == 1
                     else result_type(*(t.dtype for t in tensors)))
        dtype = scalar_dtype(op_name, reference, x)
        if dtype.kind == "f" and isinstance(x, int) and abs(x) > np.finfo(dtype).max:
            raise DTypeError(f"{op_name}: the Python number {x} does not fit dtype {dtype}")
        return backend.get_array_module(tensors[0].data).asarray(x, dtype=dtype)
    if isinstance(x, int) and not isinstance(x, bool) and not -2**63 <= x < 2**63:
        raise DTypeError(f"{op_name}: the Python number {x} does not fit dtype int64")
    array = x if isinstance(x, np.ndarray) or backend.is_cupy_array(x) else _to_array(x)
    if array.dtype.kind not in _KINDS:
        shown = repr(x) if len(repr(x)) <= 40 else repr(x)[:40] + "..."
        raise DTypeError(f"{op_name}: operand {shown} of type {type(x).__name__} "
                         f"(dtype {array.dtype}) is not a real number; minitl computes with "
                         "floating, integer and bool values only")
    return on_device_of(op_name, x, tensors, array) if tensors else array


# ---------------------------------------------------------------- shapes and axes


def broadcast_shape(op_name: str, *shapes) -> tuple:
    """The shape NumPy broadcasting gives ``shapes``, or a ShapeError naming ``op_name``."""
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for s in shapes:
        for i, n in enumerate(s, start=ndim - len(s)):
            if n != 1 and out[i] not in (1, n):
                listed = " and ".join(str(tuple(s)) for s in shapes)
                raise ShapeError(f"{op_name}: shapes {listed} cannot be broadcast together "
                                 "(trailing dimensions must be equal or 1)")
            out[i] = n if n != 1 else out[i]
    return tuple(out)


def axes(op_name: str, axis, ndim: int) -> tuple:
    """``axis`` (None, int or tuple, negatives allowed) as a sorted tuple of non-negative
    axes. As in PyTorch, a 0-d tensor accepts axis 0 and -1 (and reduces nothing)."""
    if axis is None:
        return tuple(range(ndim))
    given = tuple(axis) if isinstance(axis, (tuple, list, range)) else (axis,)
    out = []
    for a in given:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise ArgumentError(f"{op_name}: axis must be an integer (or a tuple of them), "
                                f"got {a!r} of type {type(a).__name__}")
        if not -max(ndim, 1) <= a < max(ndim, 1):  # a 0-d tensor has axes 0 and -1
            raise ShapeError(f"{op_name}: axis {a} is out of range for a {ndim}-d tensor")
        out.append(int(a) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise ShapeError(f"{op_name}: repeated axis in {axis}")
    return tuple(sorted(out)) if ndim else ()


def axis(op_name: str, axis, ndim: int) -> int:
    """One axis, as a non-negative int (0 for a 0-d tensor)."""
    return (axes(op_name, (axis,), ndim) or (0,))[0]


def swapped_axes(op_name, dim0, dim1, ndim):
    """The permutation that swaps two axes (None for both: reverse them all; a 0-d tensor
    has axes 0 and -1 and nothing to swap, PyTorch's rule)."""
    if dim0 is None and dim1 is None:
        return None
    if dim0 is None or dim1 is None:
        raise ArgumentError(f"{op_name}: give two axes to swap, or none to reverse all axes")
    dim0, dim1 = axis(op_name, dim0, ndim), axis(op_name, dim1, ndim)
    order = list(range(ndim))
    if ndim:
        order[dim0], order[dim1] = order[dim1], order[dim0]
    return tuple(order)


def nonempty_axes(op_name, axis_, shape) -> tuple:
    """The axes of a max or min: none of them may be empty (there is no max of nothing)."""
    found = axes(op_name, axis_, len(shape))
    if math.prod(shape) == 0 or any(shape[a] == 0 for a in found):
        raise ShapeError(f"{op_name}: cannot reduce an empty axis of a tensor of shape "
                         f"{tuple(shape)}")
    return found


def arg_axis(op_name, axis_, shape):
    """The one axis (or None: all) of argmax/argmin, which must not be empty."""
    if axis_ is not None:
        if not isinstance(axis_, (int, np.integer)):
            raise ShapeError(f"{op_name}: axis must be an int or None, got {axis_!r}")
        axis_ = (axes(op_name, axis_, len(shape)) or (None,))[0]
    if math.prod(shape) == 0 or (axis_ is not None and shape[axis_] == 0):
        raise ShapeError(f"{op_name}: cannot take the {op_name} of an empty axis of a tensor "
                         f"of shape {tuple(shape)}")
    return axis_


def degrees_of_freedom(op_name, axis_, shape, ddof) -> tuple:
    """The axes of a variance, which must leave n − ddof > 0."""
    found = axes(op_name, axis_, len(shape))
    n = math.prod(shape[a] for a in found)
    if n - ddof <= 0:
        raise ShapeError(f"{op_name}: {n} values per group with ddof={ddof} leave no degrees "
                         "of freedom")
    return found


def reshape(op_name, shape_in, shape) -> tuple:
    """``shape`` (one entry may be -1) checked against the size of ``shape_in``."""
    size = math.prod(shape_in)
    known = math.prod(s for s in shape if s != -1)
    unknown = sum(s == -1 for s in shape)
    if unknown > 1 or any(s < -1 for s in shape) or (
            size != known if not unknown else (known == 0 or size % known)):
        raise ShapeError(f"{op_name}: cannot reshape a tensor of shape {tuple(shape_in)} "
                         f"({size} values) into {tuple(shape)}")
    return tuple(size // known if s == -1 else s for s in shape)


def permutation(op_name, axes_given, shape) -> tuple:
    ndim = len(shape)
    if axes_given is None:
        return tuple(reversed(range(ndim)))
    normal = tuple(int(a) % ndim if -ndim <= a < ndim else -1 for a in axes_given)
    if sorted(normal) != list(range(ndim)):
        raise ShapeError(f"{op_name}: {tuple(axes_given)} is not a permutation of the "
                         f"{ndim} axes of a tensor of shape {tuple(shape)}")
    return normal


def broadcastable_to(op_name, shape_in, shape):
    if broadcast_shape(op_name, shape_in, shape) != tuple(shape):
        raise ShapeError(f"{op_name}: a tensor of shape {tuple(shape_in)} cannot be broadcast "
                         f"to {tuple(shape)}")


def joined(op_name, arrays, axis_, new_axis=False) -> int:
    """The axis along which ``arrays`` are concatenated (equal shapes outside it) or
    stacked (``new_axis``: equal shapes everywhere)."""
    ref = arrays[0]
    if not new_axis and ref.ndim == 0:
        raise ShapeError(f"{op_name}: 0-d tensors cannot be concatenated; use stack")
    found = axis(op_name, axis_, ref.ndim + new_axis)
    for a in arrays[1:]:
        if a.ndim != ref.ndim or any(m != n for i, (m, n) in enumerate(zip(a.shape, ref.shape))
                                     if new_axis or i != found):
            where = "(all must be equal)" if new_axis else f"outside axis {found}"
            raise ShapeError(f"{op_name}: shapes {[tuple(x.shape) for x in arrays]} differ "
                             f"{where}")
    return found


def flatten_range(op_name, start_dim, end_dim, ndim):
    start, end = axis(op_name, start_dim, ndim), axis(op_name, end_dim, ndim)
    if start > end:
        raise ShapeError(f"{op_name}: start_dim {start_dim} comes after end_dim {end_dim}")
    return start, end


def size_one_axes(op_name, axis_, shape):
    """The axes to squeeze: those named, each of size 1, or (None) every axis of size 1."""
    if axis_ is None:
        return tuple(i for i, n in enumerate(shape) if n == 1)
    found = axes(op_name, axis_, len(shape))
    for a in found:
        if shape[a] != 1:
            raise ShapeError(f"{op_name}: axis {a} of shape {tuple(shape)} has size "
                             f"{shape[a]}, not 1")
    return found


def as_tensor(op_name, x):
    """``x`` itself if it is a Tensor, else a constant Tensor of it (for composite ops)."""
    from .autograd import Tensor

    return x if isinstance(x, Tensor) else Tensor(operand(op_name, x, []))


def loss_operands(op_name, prediction, target, reduction_):
    """An elementwise loss's floating prediction and its target, as tensors of one shape
    (broadcasting there is usually a bug; a bool or integer target takes the
    prediction's dtype), and a valid reduction."""
    prediction, target = as_tensor(op_name, prediction), as_tensor(op_name, target)
    if prediction.shape != target.shape:
        raise ShapeError(f"{op_name}: input of shape {prediction.shape} and target of shape "
                         f"{target.shape} must match (broadcasting here is usually a bug)")
    reduction(op_name, reduction_)
    floating(op_name, ("the input", prediction.data))
    return prediction, target_like(target, prediction)


def matmul(a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must have at least 1 dimension, got shapes "
                         f"{a.shape} and {b.shape} (use * for scalars)")
    inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if a.shape[-1] != inner_b:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not align: "
                         f"{a.shape[-1]} (last axis of the first) != {inner_b} "
                         f"({'only' if b.ndim == 1 else 'second-to-last'} axis of the second)")
    broadcast_shape("matmul (batch axes)", a.shape[:-2], b.shape[:-2])
    return exact("matmul", a, b, broadcast=False)


def linear(x, weight, bias):
    if x.dtype.kind != "f" or weight.dtype.kind != "f" or (bias is not None and
                                                           bias.dtype.kind != "f"):
        floating("linear", ("the input", x), ("the weight", weight), ("the bias", bias))
    if weight.ndim != 2 or x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ShapeError(f"linear: input of shape {x.shape} does not fit weight of shape "
                         f"{weight.shape} (needs input.shape[-1] == weight.shape[1])")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ShapeError(f"linear: bias of shape {bias.shape} should be ({weight.shape[0]},)")


def index(op_name, shape, index_, device="cpu"):
    """An index (ints, slices, None, one Ellipsis, integer arrays, boolean masks) that fits
    ``shape``: every integer inside its axis, masks matching the axes they cover, integer
    arrays broadcastable together. Index arrays may come from the host for a tensor on
    ``device`` 'cuda' (CuPy copies them over, as PyTorch does); an index array on the GPU
    for a tensor on the CPU is a DeviceError."""
    parts = index_ if isinstance(index_, tuple) else (index_,)
    if device == "cpu" and any(backend.is_cupy_array(p) for p in parts):
        raise DeviceError(f"{op_name}: an index array on cuda for a tensor on cpu; move the "
                          "index first with .cpu()")

    def fail(why):
        raise IndexingError(f"{op_name}: index {index_!r} does not fit a tensor of shape "
                            f"{tuple(shape)}: {why}")

    if sum(p is Ellipsis for p in parts) > 1:
        fail("more than one Ellipsis")
    def is_mask(p):
        return getattr(p, "dtype", None) is not None and p.dtype.kind == "b"

    def adds_axis(p):  # None and a Python bool index no axis of x: they add one
        return p is None or isinstance(p, bool)

    used = sum(p.ndim if is_mask(p) else 1 for p in parts
               if not adds_axis(p) and p is not Ellipsis)
    if used > len(shape):
        fail(f"{used} indexed axes for {len(shape)}")
    dim, advanced = 0, []
    for part in parts:
        dtype = getattr(part, "dtype", None)
        if adds_axis(part):
            continue
        if part is Ellipsis:
            dim += len(shape) - used
        elif is_mask(part):
            if tuple(part.shape) != tuple(shape[dim:dim + part.ndim]):
                fail(f"a boolean index of shape {tuple(part.shape)} at axis {dim}")
            advanced.append((int(part.sum()),))
            dim += part.ndim
        elif isinstance(part, (int, np.integer)) and not isinstance(part, bool) or (
                dtype is not None and dtype.kind in "iu"):
            values = np.asarray(backend.to_numpy(part) if dtype is not None else part)
            if values.size and (values.min() < -shape[dim] or values.max() >= shape[dim]):
                fail(f"out of range for axis {dim} of size {shape[dim]}")
            if dtype is not None:
                advanced.append(tuple(part.shape))
            dim += 1
        elif isinstance(part, slice):
            if part.step == 0:
                fail("a slice step of 0")
            dim += 1
        else:
            fail(f"{part!r} is not an int, slice, None, Ellipsis or integer/boolean array")
    try:
        broadcast_shape(op_name, *advanced)
    except ShapeError:
        fail(f"index arrays of shapes {advanced} cannot be broadcast together")


# ---------------------------------------------------------------- arguments


def reduction(op_name, value):
    if value not in ("mean", "sum", "none"):
        raise ArgumentError(f"{op_name}: reduction must be 'mean', 'sum' or 'none', "
                            f"got {value!r}")


def number_in(op_name, name, value, low, high):
    """A real number in [low, high] (bools, NaN and non-numbers refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not low <= value <= high:
        raise ArgumentError(f"{op_name}: {name} must be a number in [{low}, {high}], "
                            f"got {value!r}")


def clip(x, lo, hi):
    """Clip's operand in the dtype its numeric bounds give it (as Python scalars would)."""
    if lo is None and hi is None:
        raise ArgumentError("clip: give at least one of min and max")
    for b in (lo, hi):
        if b is not None and not isinstance(b, (int, float, np.number)):
            raise ArgumentError(f"clip: min and max must be numbers, got {type(b).__name__}")
    dtype = result_type(x.dtype, *(scalar_dtype("clip", x.dtype, b)
                                   for b in (lo, hi) if b is not None))
    return exact("clip", x.astype(dtype, copy=False))[0]


def power(a, b):
    """Pow's operands (exact arithmetic); integers to negative integer powers refused
    (NumPy raises there and CuPy does not: checked here, the same on both)."""
    a, b = exact("pow", a, b)
    if a.dtype.kind in "biu" and b.dtype.kind in "iu" and b.size and a.size \
            and int(b.min()) < 0:
        raise ArgumentError("pow: integers to negative integer powers are not allowed; "
                            "convert to floats first (.float())")
    return a, b


def sizes(args) -> tuple:
    """``f(2, -1)`` or ``f((2, -1))`` (reshape's sizes, permute's axes) as a tuple of ints."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    for s in args:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise ArgumentError(f"sizes and axes must be integers, got {s!r} in {args}")
    return tuple(int(s) for s in args)


def index_arrays(index):
    """An index with Tensors replaced by their arrays and lists by NumPy arrays."""
    from .autograd import Tensor

    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(index_arrays(i) for i in index)
    return np.asarray(index) if isinstance(index, list) else index


def choice(op_name, name, value, allowed):
    if value not in allowed:
        raise ArgumentError(f"{op_name}: {name} must be one of {allowed}, got {value!r}")


def class_targets(op_name, scores, targets, reduction_="mean", label_smoothing=0.0):
    """(N, C, d₁, …) floating scores against (N, d₁, …) integer class targets in [0, C);
    a valid reduction and label smoothing in [0, 1]."""
    reduction(op_name, reduction_)
    number_in(op_name, "label_smoothing", label_smoothing, 0, 1)
    floating(op_name, ("scores", scores))
    if targets.dtype.kind not in "iu":
        raise DTypeError(f"{op_name}: targets must be integer class indices, got dtype "
                         f"{targets.dtype} (convert with .long(), or use "
                         "binary_cross_entropy_with_logits for 0/1 floats)")
    if scores.ndim == 0:
        raise ShapeError(f"{op_name}: scores must have a class axis, got a 0-d tensor")
    expected = scores.shape[1:0] if scores.ndim == 1 else (scores.shape[0],) + scores.shape[2:]
    if targets.shape != expected:
        raise ShapeError(f"{op_name}: scores of shape {scores.shape} need targets of shape "
                         f"{expected}, got {targets.shape}")
    num_classes = scores.shape[0] if scores.ndim == 1 else scores.shape[1]
    bad = (targets < 0) | (targets >= num_classes)
    if bad.any():  # one reduction, and on a GPU a single device sync
        values = backend.to_numpy(targets[bad])[:5].tolist()
        raise ArgumentError(f"{op_name}: target values {values} are outside "
                            f"[0, {num_classes - 1}] for {num_classes} classes")


def pair(op_name, name, value) -> tuple:
    """An int or a pair of ints (a kernel size, stride or padding) as a pair."""
    if type(value) is int:  # the common cases first (not bool: True is no size)
        return (value, value)
    if type(value) is tuple and len(value) == 2 and type(value[0]) is type(value[1]) is int:
        return value
    both = (value, value) if isinstance(value, (int, np.integer)) else tuple(value) \
        if isinstance(value, (tuple, list)) else ()
    if len(both) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                 for v in both):
        raise ArgumentError(f"{op_name}: {name} must be an int or a pair of ints, "
                            f"got {value!r}")
    return tuple(int(v) for v in both)


def _output_side(op_name, size, kernel, stride, padding):
    out = (size + 2 * padding - kernel) // stride + 1
    if out <= 0:
        raise ShapeError(f"{op_name}: kernel {kernel} with padding {padding} does not fit an "
                         f"input side of {size}")
    return out


def conv2d(x, w, b, stride, padding):
    """Floating NCHW input, (O, C, kh, kw) weight, (O,) bias; returns them in one dtype
    with the stride, padding and output size."""
    floating("conv2d", ("the input", x), ("the weight", w), ("the bias", b))
    x, w, *rest = common("conv2d", *(a for a in (x, w, b) if a is not None))  # widest float
    stride, padding = pair("conv2d", "stride", stride), pair("conv2d", "padding", padding)
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1]:
        raise ShapeError(f"conv2d: input {x.shape} and weight {w.shape} do not fit: expected "
                         "input (N, C, H, W) and weight (out_channels, C, kh, kw) with the "
                         "same C")
    if b is not None and rest[0].shape != (w.shape[0],):
        raise ShapeError(f"conv2d: bias of shape {rest[0].shape} should be ({w.shape[0]},)")
    if min(stride) < 1 or min(padding) < 0:
        raise ArgumentError(f"conv2d: stride must be ≥ 1 and padding ≥ 0, got {stride}, "
                            f"{padding}")
    out_hw = tuple(_output_side("conv2d", x.shape[2 + i], w.shape[2 + i], stride[i],
                                padding[i]) for i in range(2))
    return x, w, (rest[0] if rest else None), stride, padding, out_hw


def pool2d(op_name, x, kernel_size, stride, padding):
    """A floating NCHW input and the pooling window; padding at most half the kernel."""
    floating(op_name, ("the input", x))
    kernel = pair(op_name, "kernel_size", kernel_size)
    stride = kernel if stride is None else pair(op_name, "stride", stride)
    padding = pair(op_name, "padding", padding)
    if x.ndim != 4:
        raise ShapeError(f"{op_name}: expected an (N, C, H, W) input, got shape {x.shape}")
    if min(kernel) < 1 or min(stride) < 1 or min(padding) < 0:
        raise ArgumentError(f"{op_name}: kernel and stride must be ≥ 1, padding ≥ 0")
    if padding[0] * 2 > kernel[0] or padding[1] * 2 > kernel[1]:
        raise ArgumentError(f"{op_name}: padding {padding} must be at most half the kernel "
                            f"{kernel}")
    out_hw = tuple(_output_side(op_name, x.shape[2 + i], kernel[i], stride[i], padding[i])
                   for i in range(2))
    return kernel, stride, padding, out_hw


# ---------------------------------------------------------------- the backward pass


def saved_versions(node) -> None:
    """Raise if an array ``node`` saved for backward was changed in place since the op ran.

    Only a changed input whose array the op actually saved (or a view of it) is an
    error: an op that saved nothing of it (an addition) still has the right gradient."""
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
            "before changing the weights, or run the forward pass again.")


def graph(order) -> None:
    """Before any gradient is computed: no node freed by an earlier backward, no saved
    array changed in place."""
    for node in order:
        if node.released:
            raise GraphError(f"backward through {node.fn.__name__} a second time: its saved "
                             "arrays were freed after the first backward; pass "
                             "retain_graph=True the first time")
        for t, version in zip(node.inputs, node.versions):
            if t is not None and t._version != version:
                saved_versions(node)
                break


def gradients(node, grads) -> tuple:
    """One gradient per input, and an array wherever an input needs one."""
    if not isinstance(grads, tuple):
        grads = (grads,)
    if len(grads) != len(node.inputs):
        raise GraphError(f"{node.fn.__name__}.backward returned {len(grads)} gradients "
                         f"for {len(node.inputs)} inputs")
    for t, needs, g in zip(node.inputs, node.needs_input_grad, grads):
        if needs and t is not None and g is None:
            raise GraphError(f"{node.fn.__name__}.backward returned None for an input "
                             "that requires a gradient")
    return grads


def unbroadcastable(op_name, grad_shape, shape):
    extra = len(grad_shape) - len(shape)
    if extra < 0 or any(s != 1 and s != g for s, g in zip(shape, grad_shape[extra:])):
        raise GraphError(f"{op_name}.backward returned a gradient of shape {grad_shape} "
                         f"for an input of shape {shape}")


def backward_start(t, grad):
    """The upstream gradient of ``t.backward(grad)`` as an array of ``t``'s shape."""
    if not t.requires_grad:
        raise GraphError("backward: this tensor does not require a gradient and has no graph "
                         "behind it (were all inputs frozen, or was it computed under "
                         "no_grad()?)")
    if grad is None:
        if t.size != 1:
            raise GraphError(f"backward: the tensor has shape {t.shape}, not a single value; "
                             "pass the upstream gradient (.backward(grad) with the same shape) "
                             "or reduce it first with .sum() or .mean()")
        return backend.get_array_module(t.data).ones_like(t.data)
    from .autograd import Tensor

    if isinstance(grad, Tensor):
        same_device("backward", [t, grad])
        grad = grad.data
    array = on_device_of("backward", grad, [t], as_array(grad, dtype=t.dtype))
    if array.shape != t.shape:
        raise ShapeError(f"backward: gradient of shape {array.shape} given for a tensor "
                         f"of shape {t.shape}; they must match")
    return array
