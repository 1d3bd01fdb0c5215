"""Fresh initialisation, and the control whose weight scales match a pretrained model.

"Pretraining helped" can mean two things: the pretrained weights encode useful
features, or they merely have a better *scale* than a random initialisation (Raghu et
al., NeurIPS 2019, found much of the speed-up of transfer is the latter). The
matched-norm control separates them: draw a fresh random model, then rescale every
parameter tensor to the norm of its pretrained counterpart. Same sizes, no knowledge.
"""

from __future__ import annotations

import math

from .. import backend
from ..nn import Module, init
from ..nn._utils import as_generator

__all__ = ["match_weight_norms", "matched_norm_init", "reinitialize"]


def reinitialize(module: Module, rng=None) -> Module:
    """Give every layer of ``module`` fresh random weights, in place; returns it.

    Layers with ``reset_parameters(rng)`` (Linear, Conv2d, BatchNorm, LayerNorm) use it,
    so the draw is the layer's own default initialisation; BatchNorm running statistics
    are reset too. Parameters of a layer without ``reset_parameters`` are drawn like
    PyTorch's Linear default: U(±1/√fan_in), with fan_in the size of a 1-D parameter.
    """
    rng = as_generator(rng)
    for m in module.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters(rng)
        else:
            for p in m.parameters(recurse=False):
                if p.ndim >= 2:
                    init.kaiming_uniform_(p, a=math.sqrt(5), rng=rng)
                else:
                    bound = 1.0 / math.sqrt(max(p.size, 1))
                    init.uniform_(p, -bound, bound, rng=rng)
        if hasattr(m, "reset_running_stats"):
            m.reset_running_stats()
    return module


def _norm(t) -> float:
    """Frobenius norm in float64, computed where the tensor lives."""
    xp = backend.get_array_module(t.data)
    return float(xp.linalg.norm(t.data.astype(xp.float64).ravel()))


def match_weight_norms(module: Module, reference: Module, rng=None) -> dict:
    """Rescale each parameter of ``module`` to the Frobenius norm of the parameter of the
    same name and shape in ``reference``; returns ``{name: target norm}`` of those changed.

    A parameter that is exactly zero (a bias initialised to 0) cannot be scaled to a
    non-zero norm; it is first filled with standard normal draws from ``rng``.
    """
    rng = as_generator(rng)
    ref = dict(reference.named_parameters())
    matched = {}
    for name, p in module.named_parameters():
        r = ref.get(name)
        if r is None or r.shape != p.shape:
            continue
        target, current = _norm(r), _norm(p)  # the reference may live on another device
        if current == 0.0 and target > 0.0:
            init.normal_(p, 0.0, 1.0, rng=rng)
            current = _norm(p)
        if current > 0.0:
            p.data[...] = p.data * (target / current)
            p._bump_version()
        matched[name] = target
    return matched


def matched_norm_init(module: Module, reference: Module, rng=None) -> Module:
    """Fresh random weights for ``module``, each tensor scaled to ``reference``'s norm.

    ``module`` and ``reference`` have the same architecture (parameters are matched by
    name and shape; the others keep their fresh initialisation). In place; returns it.
    """
    rng = as_generator(rng)
    reinitialize(module, rng)
    match_weight_norms(module, reference, rng)
    return module
