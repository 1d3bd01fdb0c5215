"""A model is a body g (the representation) followed by a head h (the decision).

Transfer learning keeps g and replaces or retrains h, so every recipe in this
package works on a :class:`BodyHead`: a two-part Module whose forward is
``head(body(x))``. The helpers here cut a model into those two parts, copy a
pretrained model so that the source is never modified, give a body a new head,
and list the body's blocks (the units that are unfrozen and given their own
learning rate, one at a time).

    source = split(pretrained_sequential, -1)      # body = all but the last layer
    target = attach_head(source, num_classes=2, sample=x[:1], rng=0)
    # target.body is a deep copy of source.body; target.head is a fresh Linear
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict

from ..autograd import no_grad
from ..creation import tensor
from ..nn import BatchNorm1d, BatchNorm2d, Flatten, LayerNorm, Linear, Module, Sequential
from ..nn._utils import as_generator
from ._arrays import host_array

__all__ = [
    "BodyHead", "as_body_head", "attach_head", "blocks", "copy_module", "default_head",
    "evaluating", "feature_shape", "model_device", "named_blocks", "split",
]

# Layers that only rescale the layer before them; a block keeps them with that layer.
_NORM_LAYERS = (BatchNorm1d, BatchNorm2d, LayerNorm)


class BodyHead(Module):
    """``head(body(x))``: a representation g = ``body`` and a decision h = ``head``.

    Parameter names start with ``body.`` or ``head.``, which is how the stability
    monitor tells representation updates from decision updates.
    """

    def __init__(self, body: Module, head: Module):
        super().__init__()
        self.body = body
        self.head = head

    def forward(self, x):
        return self.head(self.body(x))

    def features(self, x):
        """The representation z = g(x) (the body's output)."""
        return self.body(x)


def split(model: Sequential, at: int = -1) -> BodyHead:
    """Cut a Sequential into ``BodyHead(model[:at], model[at:])``, sharing its layers.

    ``at=-1`` (the default) makes the last layer the head. The layers are shared, not
    copied: training the result trains ``model``. Use :func:`copy_module` first (or
    :func:`attach_head`, which copies) when the original must stay as it is. A head of a
    single layer is that layer itself, so its parameters are named ``head.weight``.
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"split: expected a Sequential, got {type(model).__name__}; "
                        "build a BodyHead(body, head) yourself for other models")
    n = len(model)
    cut = at + n if at < 0 else at
    if not 0 < cut < n:
        raise ValueError(f"split: at={at} leaves an empty body or head in a Sequential of "
                         f"{n} layers (need 0 < at < {n}, or a negative index)")
    head = model[cut:]
    return BodyHead(model[:cut], head[0] if len(head) == 1 else head)


def as_body_head(model: Module, at: int = -1) -> BodyHead:
    """``model`` if it is already a BodyHead, else ``split(model, at)`` for a Sequential."""
    if isinstance(model, BodyHead):
        return model
    if isinstance(model, Sequential):
        return split(model, at)
    raise TypeError(f"expected a BodyHead or a Sequential to split, got {type(model).__name__}")


def copy_module(module: Module) -> Module:
    """An independent deep copy: same structure, same values, no shared arrays.

    Gradients are dropped and forward hooks are not copied (a hook usually closes over
    the original module). Dropout generators are copied with their state, so the copy
    draws the same masks as the original would have.
    """
    clone = copy.deepcopy(module)
    for m in clone.modules():
        object.__setattr__(m, "_forward_hooks", {})
        for p in m.parameters(recurse=False):
            p.grad = None
    return clone


def model_device(model: Module) -> str:
    """'cuda' if the model's first parameter (or buffer) lives on the GPU, else 'cpu'."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return "cpu"


class evaluating:
    """``with evaluating(model):`` eval mode inside, each module's own mode restored after.

    Restoring module by module (rather than calling ``model.train()``) keeps a part that
    was deliberately in eval mode, such as a frozen body, in eval mode.
    """

    def __init__(self, model: Module):
        self.model = model

    def __enter__(self):
        self._modes = [(m, m.training) for m in self.model.modules()]
        self.model.eval()
        return self.model

    def __exit__(self, *exc_info):
        for m, mode in self._modes:
            object.__setattr__(m, "training", mode)
        return False


def feature_shape(body: Module, sample) -> tuple:
    """Shape of one example's features: run ``body`` on ``sample`` (one or a few inputs).

    Runs in eval mode under no_grad, so it changes nothing (not even BatchNorm statistics).
    """
    x = tensor(host_array(sample)[:2])
    with no_grad(), evaluating(body):
        z = body(x.to(model_device(body)))
    return tuple(z.shape[1:])


def default_head(features: tuple, num_classes: int, rng=None) -> Module:
    """A linear head: ``Linear(d, num_classes)``, after a Flatten if features are not flat."""
    rng = as_generator(rng)
    width = int(math.prod(features))
    linear = Linear(width, int(num_classes), rng=rng)
    return linear if len(features) == 1 else Sequential(Flatten(), linear)


def attach_head(source: Module, head: Module | None = None, *, num_classes: int | None = None,
                sample=None, rng=None, at: int = -1) -> BodyHead:
    """A new model: a deep copy of ``source``'s body with ``head`` (or a fresh linear head).

    ``source`` is a BodyHead or a Sequential (split at ``at``); it is never modified. With
    no ``head`` given, :func:`default_head` builds one for ``num_classes`` outputs, sized
    by running the body on ``sample`` and initialised from ``rng``.
    """
    source = as_body_head(source, at)
    body = copy_module(source.body)
    if head is None:
        if num_classes is None or sample is None:
            raise ValueError("attach_head: give a head, or num_classes and a sample input "
                             "to size a linear head")
        head = default_head(feature_shape(body, sample), num_classes, rng)
        head.to(model_device(body))
    return BodyHead(body, head)


def _has_params(module: Module) -> bool:
    return next(iter(module.parameters()), None) is not None


def named_blocks(body: Module, prefix: str = "body") -> list[tuple[str, Module]]:
    """The body's blocks, input to output, as ``(name, module)``.

    A block is a child module that has parameters (layers without parameters, such as
    ReLU, belong to no block). A normalization layer (BatchNorm, LayerNorm) joins the
    block before it: it only rescales that layer's output, so they are unfrozen together.
    A body with a single parametrised child is looked into (``Sequential(Sequential(...))``);
    a body with parameters of its own is one block.
    """
    own = list(body.parameters(recurse=False))
    children = [(n, c) for n, c in body.named_children() if _has_params(c)]
    if own or not children:
        return [(prefix, body)]
    if len(children) == 1:
        name, child = children[0]
        if any(_has_params(c) for c in child.children()):
            return named_blocks(child, f"{prefix}.{name}")
    groups: list[list[tuple[str, Module]]] = []
    for name, child in children:
        if isinstance(child, _NORM_LAYERS) and groups:
            groups[-1].append((name, child))
        else:
            groups.append([(name, child)])
    result = []
    for group in groups:
        if len(group) == 1:
            result.append((f"{prefix}.{group[0][0]}", group[0][1]))
        else:
            label = f"{prefix}.{'+'.join(n for n, _ in group)}"
            result.append((label, Sequential(OrderedDict(group))))
    return result


def blocks(body: Module) -> list[Module]:
    """The body's blocks, input to output (see :func:`named_blocks`)."""
    return [m for _, m in named_blocks(body)]
