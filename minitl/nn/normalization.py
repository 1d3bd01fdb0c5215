"""BatchNorm1d/2d and LayerNorm, with the functions ``batch_norm`` and ``layer_norm``.

Both normalise, x̂ = (x − μ)/√(σ² + ε), then rescale, y = γ·x̂ + β with learnable
γ (``weight``) and β (``bias``). They differ in *which* values share μ and σ²:

* BatchNorm: one (μ, σ²) per channel, over the batch (and spatial) axes, so an
  example's output depends on the rest of its batch. At evaluation time it uses
  running averages of the training batches' statistics instead.
* LayerNorm: one (μ, σ²) per example, over its last ``len(normalized_shape)``
  axes; no batch dependence, no running statistics, same in train and eval.

The forward passes are built from differentiable minitl ops (mean, var, sub,
div, sqrt, mul, add), so their backward passes come from the engine.
"""

from __future__ import annotations

import numpy as np

from .. import guards
from ..autograd import Tensor, no_grad
from ..errors import ShapeError
from ..ops.elementwise import sqrt
from ..ops.reduce import mean, var
from ..ops.shape import reshape
from . import init
from ._utils import check_floating_input, float_dtype, input_array, layer_name
from .module import Module
from .parameter import Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "batch_norm", "layer_norm"]


def batch_norm(x, running_mean=None, running_var=None, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    """Batch normalisation of x (N, C, *) per channel C (the functional form of BatchNorm).

    training=True: normalise with the batch's mean and biased variance over every axis
    but 1; if running stats (Tensors of shape (C,)) are given, update them in place:
        running_mean ← (1 − momentum)·running_mean + momentum·μ_batch
        running_var  ← (1 − momentum)·running_var  + momentum·σ²_batch·n/(n − 1)
    (the running variance uses the unbiased estimate, n values per channel, as PyTorch).
    training=False: normalise with running_mean and running_var (required).
    """
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: input must be (N, C, ...), got shape {x.shape}")
    guards.floating("batch_norm", ("the input", input_array(x)))
    channels = x.shape[1]
    axes = (0, *range(2, x.ndim))
    shape = (1, channels) + (1,) * (x.ndim - 2)  # per-channel values broadcast along axis 1
    if training:
        n = x.size // channels
        if n <= 1:
            raise ShapeError(f"batch_norm: training needs more than 1 value per channel to "
                             f"estimate a variance, got input of shape {x.shape}")
        mu = mean(x, axis=axes, keepdims=True)
        sigma2 = var(x, axis=axes, keepdims=True)
        if running_mean is not None and running_var is not None:
            with no_grad():  # bookkeeping on raw arrays, never part of the graph
                batch_mean = mu.data.reshape(channels)
                batch_var = sigma2.data.reshape(channels) * (n / (n - 1))
                running_mean.data[...] = ((1 - momentum) * running_mean.data
                                          + momentum * batch_mean)
                running_var.data[...] = (1 - momentum) * running_var.data + momentum * batch_var
                running_mean._bump_version()
                running_var._bump_version()
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: evaluation (training=False) needs running_mean and "
                             "running_var")
        mu, sigma2 = reshape(running_mean, shape), reshape(running_var, shape)
    y = (x - mu) / sqrt(sigma2 + eps)
    if weight is not None:
        y = y * reshape(weight, shape)
    if bias is not None:
        y = y + reshape(bias, shape)
    return y


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise each example over its last ``len(normalized_shape)`` axes (which must equal
    ``normalized_shape``), with the biased variance; then y = weight·x̂ + bias."""
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if x.ndim < k or tuple(x.shape[x.ndim - k:]) != normalized_shape:
        raise ShapeError(f"layer_norm: input of shape {x.shape} does not end with "
                         f"normalized_shape {normalized_shape}")
    guards.floating("layer_norm", ("the input", input_array(x)))
    axes = tuple(range(x.ndim - k, x.ndim))
    mu = mean(x, axis=axes, keepdims=True)
    sigma2 = var(x, axis=axes, keepdims=True)
    y = (x - mu) / sqrt(sigma2 + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


class _BatchNorm(Module):
    _input_dims: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype=np.float32):
        super().__init__()
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = float_dtype(dtype)
        if affine:
            self.weight = Parameter(np.ones(self.num_features, dtype=dtype))
            self.bias = Parameter(np.zeros(self.num_features, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(self.num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self):
        """Running mean 0, running variance 1, no batches seen."""
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            self.num_batches_tracked.data[...] = 0
            self.num_batches_tracked._bump_version()

    def reset_parameters(self, rng=None):
        """γ = 1, β = 0, and fresh running statistics (``rng`` is unused: nothing is random)."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, x):
        if x.ndim not in self._input_dims or x.shape[1] != self.num_features:
            dims = " or ".join(f"{d}-d" for d in self._input_dims)
            raise ShapeError(f"{type(self).__name__}({self.num_features}): expected a {dims} "
                             f"input with {self.num_features} channels on axis 1, got shape "
                             f"{x.shape}")
        check_floating_input(self, x)
        use_batch_stats = self.training or not self.track_running_stats
        momentum = self.momentum
        if self.training and self.track_running_stats:
            if x.size // x.shape[1] <= 1:
                raise ShapeError(f"{type(self).__name__}({self.num_features}): expected more "
                                 f"than 1 value per channel when training, got input of shape "
                                 f"{x.shape} (use a batch of ≥ 2, or eval())")
            self.num_batches_tracked.data[...] += 1
            self.num_batches_tracked._bump_version()
            if momentum is None:  # cumulative average of all batches seen
                momentum = 1.0 / float(self.num_batches_tracked.data)
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                          training=use_batch_stats, momentum=momentum, eps=self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


_INPUT_NOTE = """
    Input checks: the rank and the channel count of axis 1 must match (ShapeError
    naming the layer, expected and actual shape), the input must be floating
    (DTypeError). Training mode needs more than one value per channel, as in
    PyTorch: an empty batch, or a single example without spatial axes, is a
    ShapeError. Eval mode accepts an empty batch and returns an empty output.
"""

_FREEZE_NOTE = """
    Freezing is not eval. ``bn.freeze()`` (or ``requires_grad_(False)``) stops
    gradients into γ and β, but in training mode the running statistics are
    still updated by every forward pass: they are buffers, not parameters, and
    no optimizer touches them. To keep them fixed (say, a pretrained body during
    fine-tuning), put the layer in evaluation mode with ``bn.eval()``; note that a
    later ``model.train()`` switches it back.
"""


class BatchNorm1d(_BatchNorm):
    __doc__ = """Batch normalisation of (N, C) or (N, C, L) inputs, per channel C.

    Training mode: y = γ·(x − μ_B)/√(σ²_B + ε) + β, with μ_B and the biased σ²_B taken
    over N (and L); the running statistics move towards them with ``momentum``
    (0.1; None for a cumulative average), the running variance using the unbiased
    estimate. Eval mode: μ, σ² are the running statistics.

    Parameters: ``weight`` γ (C,) = 1, ``bias`` β (C,) = 0 (absent if affine=False).
    Buffers: ``running_mean`` (C,) = 0, ``running_var`` (C,) = 1, ``num_batches_tracked``
    (int64 scalar). Output shape = input shape.
    """ + _INPUT_NOTE + _FREEZE_NOTE
    _input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    __doc__ = """Batch normalisation of (N, C, H, W) inputs, per channel C.

    Training mode: y = γ·(x − μ_B)/√(σ²_B + ε) + β, with μ_B and the biased σ²_B taken
    over N, H and W; the running statistics move towards them with ``momentum``
    (0.1; None for a cumulative average), the running variance using the unbiased
    estimate. Eval mode: μ, σ² are the running statistics.

    Parameters: ``weight`` γ (C,) = 1, ``bias`` β (C,) = 0 (absent if affine=False).
    Buffers: ``running_mean`` (C,) = 0, ``running_var`` (C,) = 1, ``num_batches_tracked``
    (int64 scalar). Output shape = input shape.
    """ + _INPUT_NOTE + _FREEZE_NOTE
    _input_dims = (4,)


class LayerNorm(Module):
    """Layer normalisation: each example is normalised over its last axes, which must be
    ``normalized_shape`` (e.g. 64 for (N, 64) inputs, or (T, 64) for (N, T, 64)):

        y = (x − μ)/√(σ² + ε) · γ + β,   μ, σ² (biased) over those axes, per example.

    Parameters (if ``elementwise_affine``): ``weight`` γ = 1 and ``bias`` β = 0, both of
    shape ``normalized_shape`` (``bias=False`` drops β). No buffers; train and eval agree.

    Input checks: a floating input whose last axes equal ``normalized_shape``
    (ShapeError or DTypeError naming the layer otherwise). An empty batch gives an
    empty output.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype=np.float32):
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(int(n) for n in normalized_shape)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        dtype = float_dtype(dtype)
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self, rng=None):
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Tensor):
        shape, k = tuple(input_array(x).shape), len(self.normalized_shape)
        if len(shape) < k or shape[len(shape) - k:] != self.normalized_shape:
            raise ShapeError(f"{layer_name(self)}: expected input of shape "
                             f"(*, {', '.join(map(str, self.normalized_shape))}) ending with "
                             f"normalized_shape, got {shape}")
        check_floating_input(self, x)
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")
