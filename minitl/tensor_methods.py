"""The Tensor's operators, methods and conveniences, attached to the class in one place.

``a + b`` is :func:`minitl.ops.add`, ``x.relu()`` is :func:`minitl.ops.relu`, and so on:
this file is the one place to read what every method means. The engine
(:mod:`minitl.autograd`) keeps only what backward needs; what a user calls on a tensor
for convenience (``.item()``, ``.numpy()``, ``repr``, comparisons) lives here.
"""

from __future__ import annotations

import numpy as np

from . import backend, guards, ops
from .autograd import Tensor
from .errors import ShapeError


def _compare(name, array_op):
    """A comparison operator: elementwise, returns a bool tensor, no gradient."""

    def compare(self, other):
        if isinstance(other, Tensor):
            guards.same_device(name, [self, other])
            other = other.data
        elif not isinstance(other, (bool, int, float, np.generic)):  # arrays, lists
            other = guards.on_device_of(name, other, [self])
        return Tensor(array_op(self.data, other))

    compare.__name__ = name
    return compare


def _reflected(op):
    def reflected(self, other):
        return op(other, self)

    return reflected


def _single_value(self):
    if self.size != 1:
        raise ShapeError(f"item: tensor of shape {self.shape} has {self.size} values, not 1")
    return self.numpy().reshape(()).item()


def _bool(self):
    if self.size != 1:
        raise ShapeError(f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                         "use .any() or .all()")
    return bool(_single_value(self))


def _len(self):
    if self.ndim == 0:
        raise TypeError("len() of a 0-d tensor")
    return self.shape[0]


def _repr(self):
    extras = f", device='{self.device}'" if self.device != "cpu" else ""
    if self._ctx is not None:
        extras += f", grad_fn={self._ctx.fn.__name__}"
    elif self.requires_grad:
        extras += ", requires_grad=True"
    body = np.array2string(self.numpy(), precision=4, separator=", ", threshold=20)
    return f"tensor({body}, dtype={self.dtype}{extras})"


def _array(self, dtype=None, copy=None):
    array = self.numpy()
    return array if dtype is None else array.astype(dtype)


def attach():
    T = Tensor
    # arithmetic operators (reflected versions take a plain number or array on the left)
    T.__add__, T.__radd__ = ops.add, _reflected(ops.add)
    T.__sub__, T.__rsub__ = ops.sub, _reflected(ops.sub)
    T.__mul__, T.__rmul__ = ops.mul, _reflected(ops.mul)
    T.__truediv__, T.__rtruediv__ = ops.div, _reflected(ops.div)
    T.__pow__, T.__rpow__ = ops.pow, _reflected(ops.pow)
    T.__matmul__, T.__rmatmul__ = ops.matmul, _reflected(ops.matmul)
    T.__neg__ = ops.neg
    T.__getitem__ = ops.getitem
    T.__eq__ = _compare("eq", lambda a, b: a == b)
    T.__ne__ = _compare("ne", lambda a, b: a != b)
    T.__lt__ = _compare("lt", lambda a, b: a < b)
    T.__le__ = _compare("le", lambda a, b: a <= b)
    T.__gt__ = _compare("gt", lambda a, b: a > b)
    T.__ge__ = _compare("ge", lambda a, b: a >= b)
    T.__hash__ = object.__hash__
    # methods with the same meaning as the functions
    for name in ("exp", "log", "sqrt", "abs", "tanh", "sigmoid", "relu", "leaky_relu", "gelu",
                 "sum", "mean", "max", "min", "var", "std", "argmax", "argmin", "reshape",
                 "permute", "transpose", "flatten", "broadcast_to", "squeeze", "unsqueeze",
                 "clip", "matmul", "pow", "astype", "to", "softmax", "log_softmax",
                 "logsumexp"):
        setattr(T, name, getattr(ops, name))
    T.view = ops.reshape
    T.clamp = ops.clip
    T.T = property(lambda self: ops.transpose(self))
    T.cpu = lambda self: ops.to(self, "cpu")
    T.cuda = lambda self: ops.to(self, "cuda")
    T.float = lambda self: ops.astype(self, "float32")
    T.double = lambda self: ops.astype(self, "float64")
    T.long = lambda self: ops.astype(self, "int64")
    T.any = lambda self, axis=None: Tensor(self.data.any(axis=axis))
    T.all = lambda self, axis=None: Tensor(self.data.all(axis=axis))
    # conveniences
    T._xp = property(lambda self: backend.get_array_module(self.data))
    T.numpy = lambda self: backend.to_numpy(self.data)
    T.numpy.__doc__ = "The values as a host NumPy array (shared on the CPU, copied from a GPU)."
    T.item, T.tolist = _single_value, lambda self: self.numpy().tolist()
    T.__bool__, T.__len__, T.__repr__, T.__array__ = _bool, _len, _repr, _array
    T.__float__ = lambda self: float(_single_value(self))
    T.__int__ = lambda self: int(_single_value(self))


attach()
