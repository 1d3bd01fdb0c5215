"""Elementwise nonlinearities as layers (no parameters; any input shape, same output shape)."""

from __future__ import annotations

from ..ops.elementwise import gelu, leaky_relu, relu, sigmoid, tanh
from .module import Module


class ReLU(Module):
    """y = max(x, 0), elementwise. Any shape → the same shape."""

    def forward(self, x):
        return relu(x)


class LeakyReLU(Module):
    """y = x for x > 0, else negative_slope·x (a small slope keeps "dead" units learning).
    Any shape → the same shape."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class GELU(Module):
    """y = x·Φ(x), Φ the standard normal CDF (``approximate="tanh"`` for the tanh formula).
    Any shape → the same shape."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Tanh(Module):
    """y = tanh(x), in (−1, 1). Any shape → the same shape."""

    def forward(self, x):
        return tanh(x)


class Sigmoid(Module):
    """y = 1/(1 + e⁻ˣ), in (0, 1). Any shape → the same shape."""

    def forward(self, x):
        return sigmoid(x)
