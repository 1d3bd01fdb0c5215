"""All differentiable ops, and the Tensor methods and operators that call them.

Each family lives in its own file, forward and backward side by side:
``elementwise`` (arithmetic and activations), ``reduce`` (sum, mean, max, ...),
``shape`` (reshape, permute, indexing, concatenation), ``linalg`` (matmul),
``nn`` (softmax, losses, dropout) and ``conv`` (convolution and pooling).

Which dtypes each op accepts and returns (integers, bools, mixed operands, Python
scalars) and how special values behave is one policy for all of them, written down
in ``_dtypes.py``.

The bottom of this file attaches the operators to :class:`Tensor`, so that
``a + b`` is ``add(a, b)`` and ``x.relu()`` is ``relu(x)``: one place to read
what every method means.
"""

from __future__ import annotations

from ..autograd import Tensor, _check_same_device
from .conv import avg_pool2d, conv2d, max_pool2d
from .elementwise import (
    abs,
    add,
    astype,
    clip,
    div,
    exp,
    gelu,
    leaky_relu,
    log,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    sqrt,
    sub,
    tanh,
    where,
)
from .linalg import matmul
from .nn import (
    binary_cross_entropy_with_logits,
    cross_entropy,
    dropout,
    linear,
    log_softmax,
    logsumexp,
    mse_loss,
    nll_loss,
    softmax,
)
from .reduce import argmax, argmin, max, mean, min, std, sum, var
from .shape import (
    broadcast_to,
    cat,
    concatenate,
    flatten,
    getitem,
    permute,
    reshape,
    squeeze,
    stack,
    to,
    transpose,
    unsqueeze,
)

__all__ = [
    "abs", "add", "argmax", "argmin", "astype", "avg_pool2d", "binary_cross_entropy_with_logits",
    "broadcast_to", "cat", "clip", "concatenate", "conv2d", "cross_entropy", "div", "dropout",
    "exp", "flatten", "gelu", "getitem", "leaky_relu", "linear", "log", "log_softmax",
    "logsumexp", "matmul", "max", "max_pool2d", "mean", "min", "mse_loss", "mul", "neg",
    "nll_loss", "permute", "pow", "relu", "reshape", "sigmoid", "softmax", "sqrt", "squeeze",
    "stack", "std", "sub", "sum", "tanh", "to", "transpose", "unsqueeze", "var", "where",
]


def _compare(name, array_op):
    """A comparison operator: elementwise, returns a bool tensor, no gradient."""

    def compare(self, other):
        if isinstance(other, Tensor):
            _check_same_device(name, [self, other])
            other = other.data
        return Tensor(array_op(self.data, other))

    compare.__name__ = name
    return compare


def _reflected(op):
    def reflected(self, other):
        return op(other, self)

    return reflected


def _attach_tensor_methods():
    T = Tensor
    # arithmetic operators (reflected versions take a plain number or array on the left)
    T.__add__, T.__radd__ = add, _reflected(add)
    T.__sub__, T.__rsub__ = sub, _reflected(sub)
    T.__mul__, T.__rmul__ = mul, _reflected(mul)
    T.__truediv__, T.__rtruediv__ = div, _reflected(div)
    T.__pow__, T.__rpow__ = pow, _reflected(pow)
    T.__matmul__, T.__rmatmul__ = matmul, _reflected(matmul)
    T.__neg__ = neg
    T.__getitem__ = getitem
    T.__eq__ = _compare("eq", lambda a, b: a == b)
    T.__ne__ = _compare("ne", lambda a, b: a != b)
    T.__lt__ = _compare("lt", lambda a, b: a < b)
    T.__le__ = _compare("le", lambda a, b: a <= b)
    T.__gt__ = _compare("gt", lambda a, b: a > b)
    T.__ge__ = _compare("ge", lambda a, b: a >= b)
    # methods with the same meaning as the functions
    for fn in (exp, log, sqrt, abs, tanh, sigmoid, relu, leaky_relu, gelu, sum, mean, max,
               min, var, std, argmax, argmin, reshape, permute, transpose, flatten,
               broadcast_to, squeeze, unsqueeze, clip, matmul, pow, astype, to, softmax,
               log_softmax, logsumexp):
        setattr(T, fn.__name__, fn)
    T.view = reshape
    T.clamp = clip
    T.T = property(lambda self: transpose(self))
    T.cpu = lambda self: to(self, "cpu")
    T.cuda = lambda self: to(self, "cuda")
    T.float = lambda self: astype(self, "float32")
    T.double = lambda self: astype(self, "float64")
    T.long = lambda self: astype(self, "int64")
    T.any = lambda self, axis=None: Tensor(self.data.any(axis=axis))
    T.all = lambda self, axis=None: Tensor(self.data.all(axis=axis))


_attach_tensor_methods()
