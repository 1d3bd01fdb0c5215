"""Conv2d and pooling layers on NCHW batches (N images, C channels, H rows, W columns)."""

from __future__ import annotations

import numpy as np

from .. import guards
from ..errors import ShapeError
from ..ops.conv import avg_pool2d, conv2d, max_pool2d
from . import init
from ._utils import (
    as_generator,
    check_floating_input,
    check_spatial,
    checked_call,
    input_array,
    layer_name,
    weight_and_bias,
)
from .module import Module


class Conv2d(Module):
    """2-D convolution (cross-correlation, as in every framework):

        y[n, o, i, j] = b[o] + Σ_{c, p, q} W[o, c, p, q] · x̃[n, c, i·s + p, j·s + q]

    with x̃ the input zero-padded by ``padding`` on each side and s the ``stride``.

    Shapes: input (N, in_channels, H, W) → output (N, out_channels, H', W') with
    H' = ⌊(H + 2·padding − kh)/stride⌋ + 1 (likewise W'); ``weight`` is
    (out_channels, in_channels, kh, kw) and ``bias`` (out_channels,).

    Input checks: a floating-point (N, in_channels, H, W) input at least as large as
    the kernel (after padding); otherwise a ShapeError or DTypeError naming the layer,
    the expected and the actual shape. An empty batch (N = 0) gives an empty output.

    Initialisation (PyTorch's default): W and b from U(−1/√fan_in, 1/√fan_in),
    fan_in = in_channels·kh·kw; draws from ``rng``, weight first.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, dtype=np.float32, rng=None):
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = guards.pair("Conv2d", "kernel_size", kernel_size)
        self.stride = guards.pair("Conv2d", "stride", stride)
        self.padding = guards.pair("Conv2d", "padding", padding)
        if min(self.in_channels, self.out_channels, *self.kernel_size, *self.stride) < 1 or min(
                self.padding) < 0:
            raise ValueError("Conv2d: channels, kernel_size and stride must be ≥ 1, padding ≥ 0")
        weight_and_bias(self, (self.out_channels, self.in_channels, *self.kernel_size), bias,
                        dtype, rng)

    def reset_parameters(self, rng=None):
        init.layer_default_(self.weight, self.bias, rng=as_generator(rng))

    def forward(self, x):
        return checked_call(self._check_input, conv2d, x, self.weight, self.bias,
                            stride=self.stride, padding=self.padding)

    def _check_input(self, x):
        shape = tuple(input_array(x).shape)
        if len(shape) != 4 or shape[1] != self.in_channels:
            raise ShapeError(f"{layer_name(self)}: expected input of shape "
                             f"(N, {self.in_channels}, H, W), got {shape}")
        check_spatial(self, shape, self.kernel_size, self.padding)
        check_floating_input(self, x)

    def extra_repr(self):
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.bias is None:
            text += ", bias=False"
        return text


class _Pool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def _check(self, x):
        """Shape and dtype of the input: (N, C, H, W), floating, H × W ≥ the kernel."""
        shape = tuple(input_array(x).shape)
        if len(shape) != 4:
            raise ShapeError(f"{layer_name(self)}: expected input of shape (N, C, H, W), "
                             f"got {shape}")
        name = type(self).__name__
        kernel = guards.pair(name, "kernel_size", self.kernel_size)
        check_spatial(self, shape, kernel, guards.pair(name, "padding", self.padding))
        check_floating_input(self, x)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """y[n, c, i, j] = max of the kernel_size window at (i·stride, j·stride) of channel c.

    Shapes: (N, C, H, W) → (N, C, H', W'), H' = ⌊(H + 2·padding − k)/stride⌋ + 1;
    ``stride`` defaults to ``kernel_size`` (non-overlapping windows). No parameters.
    Input: floating (N, C, H, W) with H × W at least the kernel (ShapeError or DTypeError
    naming the layer otherwise); N = 0 gives an empty output.
    """

    def forward(self, x):
        return checked_call(self._check, max_pool2d, x, self.kernel_size, self.stride,
                            self.padding)


class AvgPool2d(_Pool2d):
    """y[n, c, i, j] = mean of the kernel_size window (zero padding counted, as in PyTorch).

    Shapes and input checks as :class:`MaxPool2d`. No parameters.
    """

    def forward(self, x):
        return checked_call(self._check, avg_pool2d, x, self.kernel_size, self.stride,
                            self.padding)
