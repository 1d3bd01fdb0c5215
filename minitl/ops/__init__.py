"""All differentiable ops, as functions: forward and backward side by side, plain math.

Each family lives in its own file: ``elementwise`` (arithmetic and activations),
``reduce`` (sum, mean, max, var, ...), ``shape`` (reshape, permute, indexing,
concatenation), ``linalg`` (matmul), ``nn`` (softmax, losses, linear, dropout) and
``conv`` (convolution and pooling). Each op's checks are one call into
``minitl/guards.py`` (which also states the dtype policy), faster versions of a few
ops live in ``minitl/fast/``, and ``minitl/tensor_methods.py`` attaches the ops to
:class:`~minitl.Tensor` as operators and methods (``a + b`` is ``add(a, b)``).
"""

from __future__ import annotations

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
