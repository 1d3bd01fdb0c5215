"""minitl's dtype policy: which dtypes an op accepts, and which dtype it returns.

The rules are PyTorch's, written down in one place so every op obeys the same ones
(``tests/reliability`` fuzzes every public op against them):

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

Other dtypes (complex, strings, objects) are not supported by any arithmetic op.
"""

from __future__ import annotations

import numpy as np

from ..autograd import DEFAULT_FLOAT, result_type
from ..errors import DTypeError

__all__ = ["common", "exact", "floating", "like", "real", "result_type"]

_KINDS = {"f": "floating", "i": "integer", "u": "integer", "b": "bool"}


def _check_supported(op_name, dtype):
    if dtype.kind not in _KINDS:
        raise DTypeError(f"{op_name}: dtype {dtype} is not supported (minitl computes with "
                         "floating, integer and bool tensors)")


def _result(op_name, arrays):
    """The common dtype of ``arrays``, after checking each one's dtype is supported (a
    complex operand must not vanish into rule 2's "floating wins")."""
    for a in arrays:
        _check_supported(op_name, a.dtype)
    return result_type(*(a.dtype for a in arrays))


def _all_float_alike(arrays):
    """The fast path of every rule: operands that already share one floating dtype."""
    dtype = arrays[0].dtype
    if dtype.kind != "f":
        return False
    for a in arrays[1:]:
        if a.dtype != dtype:
            return False
    return True


def _cast(arrays, dtype):
    return tuple(a if a.dtype == dtype else a.astype(dtype) for a in arrays)


def exact(op_name, *arrays):
    """Operands of exact arithmetic (rule 3), cast to their common dtype; bools alone refused."""
    if _all_float_alike(arrays):
        return arrays
    dtype = _result(op_name, arrays)
    if dtype.kind == "b":
        raise DTypeError(f"{op_name}: arithmetic on bool tensors is not supported (bools are "
                         "masks); convert with .float() or .long() first")
    return _cast(arrays, dtype)


def real(op_name, *arrays):
    """Operands of real-valued maths (rule 4): their common floating dtype, float32 for
    integers and bools."""
    if _all_float_alike(arrays):
        return arrays
    dtype = _result(op_name, arrays)
    if dtype.kind != "f":
        dtype = np.dtype(DEFAULT_FLOAT)
    return _cast(arrays, dtype)


def common(op_name, *arrays):
    """Operands of ops that only move values (where, concatenate, max, ...), cast to one
    dtype; any supported dtype, bool included."""
    if _all_float_alike(arrays):
        return arrays
    dtype = _result(op_name, arrays)
    return _cast(arrays, dtype)


def floating(op_name, role, array):
    """``array`` itself if it is floating, else a DTypeError naming the op and the ``role``."""
    if array.dtype.kind != "f":
        raise DTypeError(f"{op_name}: {role} must be a floating-point tensor, got dtype "
                         f"{array.dtype} (convert with .float())")
    return array


def like(op_name, array, reference):
    """A target for ``reference``: bool and integer targets take the reference's dtype."""
    _check_supported(op_name, array.dtype)
    if array.dtype.kind in "biu":
        return array.astype(reference.dtype)
    return array
