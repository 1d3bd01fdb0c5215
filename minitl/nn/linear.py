"""Identity, Linear and Flatten: the layers of a multilayer perceptron's plumbing."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..ops.nn import linear
from ..ops.shape import flatten
from . import init
from ._utils import (
    as_generator,
    check_floating_input,
    checked_call,
    input_array,
    layer_name,
    weight_and_bias,
)
from .module import Module


class Identity(Module):
    """y = x. A placeholder: replace a head with ``Identity()`` to read the body's features.
    Accepts and ignores any constructor arguments, as PyTorch's does."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Linear(Module):
    """Affine map y = x Wᵀ + b.

    Shapes: input (*, in_features) → output (*, out_features); ``weight`` is
    (out_features, in_features) and ``bias`` (out_features,), as in PyTorch, so
    row o of W holds the weights of output unit o.

    Input checks: a floating-point input (DTypeError otherwise) with at least one axis and
    a last axis of in_features (ShapeError naming the layer otherwise); an empty batch
    (0, in_features) gives an empty (0, out_features) output.

    Initialisation (PyTorch's default): W and b from U(−1/√in_features, 1/√in_features),
    i.e. ``kaiming_uniform_(W, a=√5)``. Draws come from ``rng`` (Generator, int seed,
    or None for unseeded): weight first, then bias. Weights are created on the CPU.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype=np.float32, rng=None):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        if self.in_features <= 0 or self.out_features <= 0:
            raise ValueError(f"Linear: feature counts must be positive, got "
                             f"({in_features}, {out_features})")
        weight_and_bias(self, (self.out_features, self.in_features), bias, dtype, rng)

    def reset_parameters(self, rng=None):
        """Draw fresh weights (e.g. to re-initialise a head before fine-tuning)."""
        init.layer_default_(self.weight, self.bias, rng=as_generator(rng))

    def forward(self, x):
        return checked_call(self._check_input, linear, x, self.weight, self.bias)

    def _check_input(self, x):
        shape = tuple(input_array(x).shape)
        if len(shape) == 0 or shape[-1] != self.in_features:
            raise ShapeError(f"{layer_name(self)}: expected input of shape "
                             f"(*, {self.in_features}), got {shape}")
        check_floating_input(self, x)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Merge axes ``start_dim``..``end_dim`` into one: (N, C, H, W) → (N, C·H·W) by default,
    the usual bridge from a convolutional body to a linear head.

    Both axes must exist in the input (so the default needs at least 2 axes) and
    start_dim must not come after end_dim: ShapeError naming the layer otherwise.
    Any dtype; an empty batch (0, C, H, W) gives (0, C·H·W)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        try:
            return flatten(x, self.start_dim, self.end_dim)
        except ShapeError:  # the axes do not fit: say so in this layer's name
            shape = tuple(input_array(x).shape)
            need = max(d + 1 if d >= 0 else -d for d in (self.start_dim, self.end_dim))
            raise ShapeError(f"{layer_name(self)}: expected an input with axes "
                             f"{self.start_dim}..{self.end_dim} in order (at least {need} "
                             f"axes), got shape {shape}") from None

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
