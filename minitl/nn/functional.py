"""``minitl.nn.functional``: the stateless neural-network ops, as in ``torch.nn.functional``.

The ops themselves (forward and backward side by side) live in ``minitl/ops/nn.py``
and ``minitl/ops/conv.py``; this module gathers them under the name PyTorch users expect.
"""

from ..ops.conv import avg_pool2d, conv2d, max_pool2d
from ..ops.elementwise import gelu, leaky_relu, relu, sigmoid, tanh
from ..ops.nn import (
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
from .normalization import batch_norm, layer_norm

__all__ = [
    "avg_pool2d", "batch_norm", "binary_cross_entropy_with_logits", "conv2d", "cross_entropy",
    "dropout", "gelu", "layer_norm", "leaky_relu", "linear", "log_softmax", "logsumexp",
    "max_pool2d", "mse_loss", "nll_loss", "relu", "sigmoid", "softmax", "tanh",
]
