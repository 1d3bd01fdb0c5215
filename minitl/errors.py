"""The errors minitl raises.

Each subclasses the built-in a Python programmer would already catch, so
``except ValueError`` keeps working, while ``except minitl.errors.ShapeError``
lets a caller single out minitl's own complaints. Messages name the op, the
shapes, dtypes or devices at fault, and what would fix it.
"""


class MinitlError(Exception):
    """Base class of every error minitl raises on purpose."""


class ShapeError(MinitlError, ValueError):
    """Operand shapes do not fit the op (broadcasting, matmul, conv, ...)."""


class ArgumentError(MinitlError, ValueError):
    """An op was called with an argument it cannot use (a reduction name, a probability > 1...)."""


class IndexingError(MinitlError, IndexError):
    """An index does not fit the tensor it is applied to."""


class DTypeError(MinitlError, TypeError):
    """An array has a dtype the op cannot use (e.g. float targets for cross_entropy)."""


class DeviceError(MinitlError, RuntimeError):
    """Tensors on different devices met in one op, or a device is unavailable."""


class GraphError(MinitlError, RuntimeError):
    """Misuse of the autograd graph (backward twice, backward on a non-scalar, ...)."""


class ModifiedInPlaceError(GraphError):
    """An array saved for backward was changed in place (e.g. by an optimizer step)
    between the forward pass and backward, so the gradient would be wrong."""


class CheckpointError(MinitlError, ValueError):
    """A checkpoint file is missing, corrupt, truncated, or does not fit the model."""


class TrainingDivergedError(MinitlError, RuntimeError):
    """Training produced NaN/Inf or an exploding loss and was stopped."""


class MissingDependencyError(MinitlError, ImportError):
    """An optional package a feature needs is not installed; the message names the extra."""
