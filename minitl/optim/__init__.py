"""Optimizers, learning-rate schedules and the transfer-learning tools built on them.

* :class:`Optimizer` (param groups, state, ``state_dict``), :class:`SGD`,
  :class:`Adam`, :class:`AdamW`: each reproduces PyTorch's update rule.
* :mod:`minitl.optim.lr_scheduler`: StepLR, CosineAnnealingLR, LambdaLR,
  LinearLR / LinearWarmup and ULMFiT's SlantedTriangular, per param group.
* :func:`layerwise_lr_groups`, :class:`GradualUnfreezing`, :class:`L2SP`:
  discriminative learning rates, ULMFiT's unfreezing schedule, and the
  "stay near the pretrained weights" penalty.
* :func:`clip_grad_norm_`.

The freeze contract, enforced in ``Optimizer.step``: a step changes a
parameter only if it is trainable at that moment, ``p.requires_grad`` and its
group's ``"frozen"`` flag not set. A frozen parameter is never changed, by a
stale gradient, momentum, Adam's moments, weight decay or anything else, and
when unfrozen it starts with fresh optimizer state.
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
