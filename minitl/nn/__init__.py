"""``minitl.nn``: Module, layers, initialisation and model summaries, named as in PyTorch.

    from minitl import nn
    model = nn.Sequential(nn.Linear(4, 16, rng=rng), nn.ReLU(), nn.Linear(16, 3, rng=rng))
    body, head = model[:2], model[2:]     # the same layers, split for transfer
    body.freeze()                         # no gradients into the representation

Files: ``module.py`` (Module: registration, traversal, modes, freezing, to(),
state_dict), ``container.py`` (Sequential), ``linear.py``, ``conv.py``,
``activation.py``, ``dropout.py``, ``normalization.py`` (layers), ``init.py``
(initialisers with explicit generators), ``summary.py``.
"""

from . import functional, init
from .activation import GELU, LeakyReLU, ReLU, Sigmoid, Tanh
from .container import Sequential
from .conv import AvgPool2d, Conv2d, MaxPool2d
from .dropout import Dropout
from .linear import Flatten, Identity, Linear
from .module import IncompatibleKeys, Module, RemovableHandle, StateDictShapeError
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm, batch_norm, layer_norm
from .parameter import Parameter
from .summary import ModelSummary, summary

__all__ = [
    "GELU", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "Dropout", "Flatten",
    "Identity", "IncompatibleKeys", "LayerNorm", "LeakyReLU", "Linear", "MaxPool2d",
    "ModelSummary", "Module", "Parameter", "ReLU", "RemovableHandle", "Sequential", "Sigmoid",
    "StateDictShapeError", "Tanh", "batch_norm", "functional", "init", "layer_norm", "summary",
]
