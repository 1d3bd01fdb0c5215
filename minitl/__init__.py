"""minitl: a minimal autograd and layer library on NumPy/CuPy, for learning transfer learning.

Start with ``minitl/autograd.py`` (Tensor, Function, backward), then
``minitl/ops/`` (every op, forward and backward side by side). Beside them:
``minitl/guards.py`` (every check, and the dtype policy) and ``minitl/fast/`` (faster
versions of a few ops, switched off with ``MINITL_FAST=0``).
"""

from . import backend, checkpoint, errors, fast, nn, ops, optim, tensor_methods, viz, zoo
from .autograd import Function, Tensor, enable_grad, is_grad_enabled, no_grad
from .checkpoint import load, load_metadata, save
from .creation import arange, full, ones, ones_like, rand, randn, tensor, zeros, zeros_like
from .ops import *  # noqa: F403 - the op functions: minitl.exp, minitl.matmul, ...
from .ops import __all__ as _ops_all

fast.load()  # the fast versions of a few ops register themselves (minitl/fast/)

__version__ = "0.1.0"

__all__ = [
    "Function", "Tensor", "arange", "backend", "checkpoint", "enable_grad", "errors", "fast",
    "full", "is_grad_enabled", "load", "load_metadata", "nn", "no_grad", "ones", "ones_like",
    "ops", "optim", "rand", "randn", "save", "tensor", "tensor_methods", "viz", "zeros",
    "zeros_like", "zoo", *_ops_all,
]
