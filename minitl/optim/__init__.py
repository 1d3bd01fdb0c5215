"""Optimizers, learning-rate schedules and the transfer-learning tools built on them.

* :class:`Optimizer` (param groups, state, ``state_dict``), :class:`SGD`,
  :class:`Adam`, :class:`AdamW`: each reproduces PyTorch's update rule.
* :mod:`minitl.optim.lr_scheduler`: StepLR, CosineAnnealingLR, LambdaLR,
  LinearLR / LinearWarmup and ULMFiT's SlantedTriangular, per param group.
* :func:`layerwise_lr_groups`, :class:`GradualUnfreezing`, :class:`L2SP`:
  discriminative learning rates, ULMFiT's unfreezing schedule, and the
  "stay near the pretrained weights" penalty.
* :func:`clip_grad_norm_`.

Freezing is a flag on the parameter; the optimizers skip every parameter
whose ``.grad`` is None, so a frozen parameter is never changed.
"""

from . import lr_scheduler
from .adam import Adam, AdamW
from .clip import clip_grad_norm_
from .optimizer import Optimizer
from .sgd import SGD
from .transfer import L2SP, GradualUnfreezing, l2sp_penalty, layerwise_lr_groups

__all__ = [
    "L2SP", "SGD", "Adam", "AdamW", "GradualUnfreezing", "Optimizer", "clip_grad_norm_",
    "l2sp_penalty", "layerwise_lr_groups", "lr_scheduler",
]
