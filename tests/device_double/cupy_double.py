"""A strict stand-in for CuPy, backed by NumPy: the GPU path checked on a machine without one.

``MINITL_TEST_BACKEND=double`` (the third leg of ``make test``) installs this module as
``cupy``, and :mod:`device_double.cupyx_double` as ``cupyx``, in the test process only
(:func:`device_double.install`, before minitl is imported). minitl then finds "CuPy" and
one "GPU", and every array on 'cuda' is an :class:`ndarray` of this module. It is never
importable as ``cupy`` anywhere else.

What it enforces, as CuPy does (checked against the source of CuPy 13.6):

* A device array is not a ``numpy.ndarray``, nor a subclass of one.
* No implicit conversion to the host: ``np.asarray(d)``, ``np.array(d)`` and
  ``d.__array__()`` raise TypeError. ``d.get()``, ``cupy.asnumpy(d)``, ``d.item()``,
  ``d.tolist()``, ``float(d)``, ``int(d)`` and ``bool(d)`` copy back explicitly.
* No host arrays in device work: a ``numpy.ndarray`` (0-d included) as an operand of an
  operator, ufunc or routine is a TypeError (CuPy's "Unsupported type <class
  'numpy.ndarray'>"). Python and NumPy *scalars* are accepted. Only ``cupy.asarray`` and
  ``cupy.array`` take host data (the explicit move), and, as in CuPy, integer or boolean
  index arrays and the values of an advanced-index assignment (which CuPy copies over);
  a comparison with a 0-d host array compares with its value (CuPy's workaround).
* NumPy functions called on device arrays run on the device, as CuPy's
  ``__array_ufunc__``/``__array_function__`` make them: ``np.exp(d)`` and
  ``np.zeros_like(d)`` give device arrays; a function this module lacks is a TypeError.
* Reductions and scalar indexing give 0-d device arrays, never NumPy scalars.
* Only the CuPy names minitl uses exist, each with the parameters CuPy 13 gives it (a
  ``def`` with CuPy's signature, so a keyword CuPy lacks is a TypeError here too).
  Anything else is an AttributeError, as a misspelt name would be on a GPU; a name minitl
  starts to use is added here after checking it in CuPy's API reference.

What it cannot catch: numerics (every result is NumPy's, bit for bit: a GPU's reduction
order, float16 kernels, TF32 matrix products and fused kernels give other last bits),
random streams (``cupy.random`` is absent), asynchrony (streams, synchronisation: every
call here finishes before it returns), memory limits (no device memory to run out of) and
speed.
"""

from __future__ import annotations

import functools
import sys
import types

import numpy as np

__version__ = "13.0.0+device-double"

_SCALAR_TYPES = (bool, int, float, complex, np.generic)


def _unsupported(x):
    return TypeError(f"Unsupported type {type(x)}")


def _kernel_arg(x):
    """An operand of an elementwise kernel: a device array or a scalar, as CuPy's kernels
    accept (a host array, a list or any other object is refused)."""
    if isinstance(x, ndarray):
        return x._host
    if isinstance(x, _SCALAR_TYPES):
        return x
    raise _unsupported(x)


def _device_arg(x):
    """An argument of a routine: device arrays pass as their buffers, host arrays are
    refused (also inside lists and tuples), anything else (shapes, axes, numbers) passes."""
    if isinstance(x, ndarray):
        return x._host
    if isinstance(x, np.ndarray):
        raise _unsupported(x)
    if isinstance(x, (list, tuple)):
        return type(x)(_device_arg(v) for v in x)
    return x


def _index_arg(x):
    """An index: device index arrays as buffers; host index arrays and lists are allowed
    (CuPy copies them to the device)."""
    if isinstance(x, ndarray):
        return x._host
    if isinstance(x, tuple):
        return tuple(_index_arg(v) for v in x)
    return x


def _is_advanced(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, (ndarray, np.ndarray, list)) for p in parts)


def _wrap(result):
    """NumPy results as device arrays (a NumPy scalar becomes a 0-d device array)."""
    if isinstance(result, np.ndarray):
        return ndarray._of(result)
    if isinstance(result, np.generic):
        return ndarray._of(np.asarray(result))
    if isinstance(result, (tuple, list)):
        return type(result)(_wrap(r) for r in result)
    return result


def _routine(fn):
    """A CuPy routine: device arguments computed on as NumPy arrays, host arrays refused,
    results returned as device arrays. ``fn`` carries CuPy's signature."""

    @functools.wraps(fn)
    def routine(*args, **kwargs):
        args = [_device_arg(a) for a in args]
        kwargs = {k: _device_arg(v) for k, v in kwargs.items()}
        return _wrap(fn(*args, **kwargs))

    return routine


def _out(out):
    if out is None:
        return None
    if not isinstance(out, ndarray):
        raise TypeError("Output arguments must be cupy.ndarray")
    return out._host


# ----------------------------------------------------------------------------- the array


class _Flags:
    """CuPy's ``ndarray.flags``: contiguity and ownership only (no ``writeable``)."""

    def __init__(self, host):
        self.c_contiguous = bool(host.flags.c_contiguous)
        self.f_contiguous = bool(host.flags.f_contiguous)
        self.owndata = bool(host.flags.owndata)


def _binary(np_op, reflected=False):
    def op(self, other):
        if _defers_to(other):
            return NotImplemented
        other = _kernel_arg(other)
        return _wrap(np_op(other, self._host) if reflected else np_op(self._host, other))

    return op


def _in_place(np_op):
    def op(self, other):
        np_op(self._host, _kernel_arg(other), out=self._host)
        return self

    return op


def _comparison(np_op):
    def op(self, other):
        if _defers_to(other):
            return NotImplemented
        if isinstance(other, np.ndarray) and other.ndim == 0:
            other = other.item()  # CuPy's workaround (numpy<1.13): a 0-d host array's value
        if other is None or (not isinstance(other, ndarray)
                             and type(other).__eq__ is object.__eq__):
            if np_op in (np.equal, np.not_equal):
                return _wrap(np.full(self.shape, np_op is np.not_equal))
        return _wrap(np_op(self._host, _kernel_arg(other)))

    return op


def _defers_to(other) -> bool:
    """CuPy's ``_should_use_rop``: let ``other``'s reflected operator run instead."""
    if isinstance(other, ndarray):
        return False
    other_ufunc = getattr(other, "__array_ufunc__", ndarray)
    if other_ufunc is not ndarray:
        return other_ufunc is None
    return getattr(other, "__array_priority__", 0) > ndarray.__array_priority__


class ndarray:
    """A device array: its values live in a NumPy buffer that host code cannot reach
    except through ``get()`` and the other explicit copies."""

    __slots__ = ("_host",)
    __array_priority__ = 100

    @classmethod
    def _of(cls, host: np.ndarray) -> ndarray:
        array = object.__new__(cls)
        array._host = host
        return array

    # -- what CuPy refuses
    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def __array_ufunc__(self, ufunc_, method, *inputs, **kwargs):
        mine = getattr(sys.modules[__name__], ufunc_.__name__, None)
        if not isinstance(mine, ufunc) or method != "__call__":
            return NotImplemented
        if any(not isinstance(x, (*_SCALAR_TYPES, ndarray, np.ndarray)) for x in inputs):
            return NotImplemented
        if "out" in kwargs:
            (kwargs["out"],) = kwargs["out"]
        return mine(*inputs, **kwargs)

    def __array_function__(self, func, types_, args, kwargs):
        try:
            where = functools.reduce(getattr, func.__module__.split(".")[1:],
                                     sys.modules[__name__])
            mine = getattr(where, func.__name__)
        except AttributeError:
            return NotImplemented
        if not all(issubclass(t, (ndarray, np.ndarray)) for t in types_):
            return NotImplemented
        return mine(*args, **kwargs)

    # -- attributes
    shape = property(lambda self: self._host.shape)
    dtype = property(lambda self: self._host.dtype)
    ndim = property(lambda self: self._host.ndim)
    size = property(lambda self: self._host.size)
    itemsize = property(lambda self: self._host.itemsize)
    nbytes = property(lambda self: self._host.nbytes)
    strides = property(lambda self: self._host.strides)
    flags = property(lambda self: _Flags(self._host))
    T = property(lambda self: _wrap(self._host.T))

    # -- explicit copies to the host
    def get(self, stream=None, order="C", out=None, blocking=True):
        if out is not None:
            out[...] = self._host
            return out
        return np.array(self._host, order=order, copy=True)

    def item(self):
        return self._host.item()

    def tolist(self):
        return self._host.tolist()

    def __float__(self):
        return float(self.get())

    def __int__(self):
        return int(self.get())

    def __bool__(self):
        if self.size > 1:
            raise ValueError("The truth value of an array with more than one element is "
                             "ambiguous. Use a.any() or a.all()")
        return bool(self.get())

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self):
        return repr(self.get())

    def __str__(self):
        return str(self.get())

    def __format__(self, spec):
        return format(self.get(), spec)

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    # -- indexing
    def __getitem__(self, index):
        return _wrap(self._host[_index_arg(index)])

    def __setitem__(self, index, value):
        if isinstance(value, ndarray):
            value = value._host
        elif not _is_advanced(index) and not isinstance(value, _SCALAR_TYPES):
            value = np.asarray(value)  # CuPy's fill(): a host value must be a scalar
            if value.ndim != 0:
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        self._host[_index_arg(index)] = value

    # -- operators
    __add__, __radd__ = _binary(np.add), _binary(np.add, reflected=True)
    __sub__, __rsub__ = _binary(np.subtract), _binary(np.subtract, reflected=True)
    __mul__, __rmul__ = _binary(np.multiply), _binary(np.multiply, reflected=True)
    __truediv__ = _binary(np.true_divide)
    __rtruediv__ = _binary(np.true_divide, reflected=True)
    __floordiv__ = _binary(np.floor_divide)
    __rfloordiv__ = _binary(np.floor_divide, reflected=True)
    __mod__, __rmod__ = _binary(np.remainder), _binary(np.remainder, reflected=True)
    __pow__, __rpow__ = _binary(np.power), _binary(np.power, reflected=True)
    __matmul__, __rmatmul__ = _binary(np.matmul), _binary(np.matmul, reflected=True)
    __and__, __rand__ = _binary(np.bitwise_and), _binary(np.bitwise_and, reflected=True)
    __or__, __ror__ = _binary(np.bitwise_or), _binary(np.bitwise_or, reflected=True)
    __xor__, __rxor__ = _binary(np.bitwise_xor), _binary(np.bitwise_xor, reflected=True)
    __iadd__, __isub__ = _in_place(np.add), _in_place(np.subtract)
    __imul__, __itruediv__ = _in_place(np.multiply), _in_place(np.true_divide)
    __ipow__ = _in_place(np.power)
    __eq__, __ne__ = _comparison(np.equal), _comparison(np.not_equal)
    __lt__, __le__ = _comparison(np.less), _comparison(np.less_equal)
    __gt__, __ge__ = _comparison(np.greater), _comparison(np.greater_equal)
    __hash__ = None

    def __neg__(self):
        return _wrap(-self._host)

    def __pos__(self):
        return _wrap(+self._host)

    def __abs__(self):
        return _wrap(np.absolute(self._host))

    def __invert__(self):
        return _wrap(~self._host)

    # -- methods (CuPy 13's signatures)
    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        return _wrap(self._host.astype(dtype, order=order, casting=casting or "unsafe",
                                       copy=copy))

    def copy(self, order="C"):
        return _wrap(self._host.copy(order=order))

    def reshape(self, *shape, order="C"):
        return _wrap(self._host.reshape(*shape, order=order))

    def transpose(self, *axes):
        return _wrap(self._host.transpose(*axes))

    def swapaxes(self, axis1, axis2):
        return _wrap(self._host.swapaxes(axis1, axis2))

    def ravel(self, order="C"):
        return _wrap(self._host.ravel(order=order))

    def squeeze(self, axis=None):
        return _wrap(self._host.squeeze(axis=axis))

    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        return _wrap(self._host.sum(axis=axis, dtype=dtype, out=_out(out), keepdims=keepdims))

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        return _wrap(self._host.mean(axis=axis, dtype=dtype, out=_out(out), keepdims=keepdims))

    def max(self, axis=None, out=None, keepdims=False):
        return _wrap(self._host.max(axis=axis, out=_out(out), keepdims=keepdims))

    def min(self, axis=None, out=None, keepdims=False):
        return _wrap(self._host.min(axis=axis, out=_out(out), keepdims=keepdims))

    def argmax(self, axis=None, out=None, dtype=None, keepdims=False):
        found = self._host.argmax(axis=axis, out=_out(out), keepdims=keepdims)
        return _wrap(found if dtype is None else found.astype(dtype))

    def argmin(self, axis=None, out=None, dtype=None, keepdims=False):
        found = self._host.argmin(axis=axis, out=_out(out), keepdims=keepdims)
        return _wrap(found if dtype is None else found.astype(dtype))

    def all(self, axis=None, out=None, keepdims=False):
        return _wrap(self._host.all(axis=axis, out=_out(out), keepdims=keepdims))

    def any(self, axis=None, out=None, keepdims=False):
        return _wrap(self._host.any(axis=axis, out=_out(out), keepdims=keepdims))


# ----------------------------------------------------------------------------- ufuncs


class ufunc:
    """An elementwise kernel: device arrays and scalars in, a device array out."""

    def __init__(self, numpy_ufunc):
        self._numpy = numpy_ufunc
        self.__name__ = numpy_ufunc.__name__

    def __call__(self, *args, out=None, dtype=None, casting="same_kind"):
        args = [_kernel_arg(a) for a in args]
        if out is not None:
            self._numpy(*args, out=_out(out), dtype=dtype, casting=casting)
            return out
        return _wrap(self._numpy(*args, dtype=dtype, casting=casting))

    def __repr__(self):
        return f"<ufunc '{self.__name__}'>"


add, subtract, multiply, divide = (ufunc(np.add), ufunc(np.subtract), ufunc(np.multiply),
                                   ufunc(np.divide))
true_divide, negative, power = ufunc(np.true_divide), ufunc(np.negative), ufunc(np.power)
maximum, minimum = ufunc(np.maximum), ufunc(np.minimum)
exp, log, log1p = ufunc(np.exp), ufunc(np.log), ufunc(np.log1p)
sqrt, tanh = ufunc(np.sqrt), ufunc(np.tanh)
absolute, sign, isfinite = ufunc(np.absolute), ufunc(np.sign), ufunc(np.isfinite)
abs = absolute  # CuPy's alias
equal, not_equal = ufunc(np.equal), ufunc(np.not_equal)
less, less_equal = ufunc(np.less), ufunc(np.less_equal)
greater, greater_equal = ufunc(np.greater), ufunc(np.greater_equal)


def where(condition, x=None, y=None):
    if x is None and y is None:
        return _wrap(np.nonzero(_kernel_arg(condition)))
    return _wrap(np.where(_kernel_arg(condition), _kernel_arg(x), _kernel_arg(y)))


# ----------------------------------------------------------------------------- moves


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    """A device array of ``obj``: a host array is copied over (the explicit move)."""
    if isinstance(obj, ndarray):
        return _wrap(np.array(obj._host, dtype=dtype, copy=True if copy else None,
                              order=order, ndmin=ndmin))
    return _wrap(np.array(obj, dtype=dtype, copy=True, order=order, ndmin=ndmin))


def asarray(a, dtype=None, order=None, *, blocking=False):
    if isinstance(a, ndarray):
        return _wrap(np.asarray(a._host, dtype=dtype, order=order))
    return _wrap(np.array(a, dtype=dtype, copy=True, order=order or "K"))


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    if isinstance(a, ndarray):
        return a.get(stream=stream, order=order, out=out, blocking=blocking)
    return np.asarray(a, order=order)


# ----------------------------------------------------------------------------- routines


@_routine
def zeros(shape, dtype=float, order="C"):
    return np.zeros(shape, dtype=dtype, order=order)


@_routine
def ones(shape, dtype=float, order="C"):
    return np.ones(shape, dtype=dtype, order=order)


@_routine
def empty(shape, dtype=float, order="C"):
    return np.empty(shape, dtype=dtype, order=order)


@_routine
def full(shape, fill_value, dtype=None, order="C"):
    return np.full(shape, fill_value, dtype=dtype, order=order)


@_routine
def zeros_like(a, dtype=None, order="K", subok=None, shape=None):
    return np.zeros_like(a, dtype=dtype, order=order, shape=shape)


@_routine
def ones_like(a, dtype=None, order="K", subok=None, shape=None):
    return np.ones_like(a, dtype=dtype, order=order, shape=shape)


@_routine
def empty_like(prototype, dtype=None, order="K", subok=None, shape=None):
    return np.empty_like(prototype, dtype=dtype, order=order, shape=shape)


@_routine
def arange(start, stop=None, step=1, dtype=None):
    return np.arange(start, stop, step, dtype=dtype)


@_routine
def concatenate(tup, axis=0, out=None, *, dtype=None, casting="same_kind"):
    return np.concatenate(tup, axis=axis, out=out, dtype=dtype, casting=casting)


def split(ary, indices_or_sections, axis=0):
    """The split points are host integers (CuPy refuses them on the device)."""
    if isinstance(indices_or_sections, ndarray):
        raise TypeError("split: the sequence on the device memory is not allowed")
    return _wrap(np.split(_device_arg(ary), indices_or_sections, axis=axis))


@_routine
def expand_dims(a, axis):
    return np.expand_dims(a, axis)


@_routine
def broadcast_to(array, shape):
    return np.broadcast_to(array, shape)


@_routine
def take_along_axis(a, indices, axis):
    return np.take_along_axis(a, indices, axis)


@_routine
def pad(array, pad_width, mode="constant", **kwargs):
    return np.pad(array, pad_width, mode=mode, **kwargs)


@_routine
def array_equal(a1, a2, equal_nan=False):
    return np.array_equal(a1, a2, equal_nan=equal_nan)


def may_share_memory(a, b, max_work=None):
    if not (isinstance(a, ndarray) and isinstance(b, ndarray)):
        return False  # a host and a device array never share memory
    return bool(np.may_share_memory(a._host, b._host))


@_routine
def _norm(x, ord=None, axis=None, keepdims=False):
    return np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)


@_routine
def _as_strided(x, shape=None, strides=None):
    return np.lib.stride_tricks.as_strided(x, shape=shape, strides=strides)


linalg = types.SimpleNamespace(norm=_norm)  # cupy.linalg.norm
lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(as_strided=_as_strided))

# NumPy's scalar types and constants, which CuPy re-exports as they are.
bool_, int8, int16, int32, int64 = np.bool_, np.int8, np.int16, np.int32, np.int64
uint8, float16, float32, float64 = np.uint8, np.float16, np.float32, np.float64
dtype, inf, nan, newaxis = np.dtype, np.inf, np.nan, np.newaxis


# ----------------------------------------------------------------------------- cupy.cuda


class _Device:
    """``cupy.cuda.Device`` (bench/bench_gpu.py synchronises with it): one device, 0;
    nothing to wait for."""

    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)

    def synchronize(self):
        pass


cuda = types.SimpleNamespace(
    Device=_Device,
    runtime=types.SimpleNamespace(
        getDeviceCount=lambda: 1,
        getDeviceProperties=lambda device: {"name": b"device double (NumPy)",
                                            "totalGlobalMem": 0}))
