"""Stop on NaN/Inf, and say where it started.

Once one value is NaN, a single forward and backward pass spreads it to every
activation and every gradient, so "the gradients are NaN" says nothing about the
cause. :func:`check_finite` looks in the order that finds the origin:

1. the parameters, input to output: a weight that is already non-finite is the cause;
2. the input batch;
3. the activations, re-running the forward pass on the same batch (no gradients) with a
   hook on every module: the first module, in the order they ran, whose output is
   non-finite is where the value first appeared (an overflow, a log of a negative, ...);
4. the gradients, output to input, the order backward computes them in: the first one
   to hold NaN/Inf is where the backward pass broke.

It raises :class:`minitl.errors.TrainingDivergedError` whose message names the step
and the layer; the exception also carries them as ``.step``, ``.layer`` and ``.where``.
"""

from __future__ import annotations

import math

from ..autograd import Tensor, no_grad
from ..backend import get_array_module
from ..errors import TrainingDivergedError
from ..nn import Module

__all__ = ["check_finite", "first_nonfinite", "is_finite"]


def is_finite(array) -> bool:
    """True when every value of the array (or Tensor) is finite."""
    data = array.data if isinstance(array, Tensor) else array
    return bool(get_array_module(data).isfinite(data).all())


def _join(prefix: str, name: str) -> str:
    return ".".join(part for part in (prefix, name) if part) or "model"


def _layer_of(param_name: str) -> str:
    return param_name.rpartition(".")[0] or "model"


def first_nonfinite(model: Module, inputs=None, prefix: str = "",
                    check_gradients: bool = True) -> tuple[str, str] | None:
    """``(layer, description)`` of where a non-finite value first appears, or None.

    ``prefix`` is prepended to names (``"head"`` when ``model`` is the head of a larger
    model). See the module docstring for the order of the search.
    """
    for name, p in model.named_parameters():
        if not is_finite(p):
            full = _join(prefix, name)
            return _layer_of(full), f"parameter {full!r} holds NaN/Inf"
    if inputs is not None:
        if not is_finite(inputs):
            return "input", "the input batch holds NaN/Inf"
        found: list[tuple[str, str]] = []

        def make_hook(name):
            def hook(module, args, output):
                if not found and isinstance(output, Tensor) and not is_finite(output):
                    found.append((name, f"the output of {name!r} ({type(module).__name__}) is "
                                        "the first non-finite activation of the forward pass"))
            return hook

        handles = [m.register_forward_hook(make_hook(_join(prefix, n)))
                   for n, m in model.named_modules()]
        try:
            with no_grad():
                model(inputs if isinstance(inputs, Tensor) else Tensor(inputs))
        finally:
            for h in handles:
                h.remove()
        if found:
            return found[0]
    if check_gradients:
        for name, p in reversed(list(model.named_parameters())):
            if p.grad is not None and not is_finite(p.grad):
                full = _join(prefix, name)
                return _layer_of(full), (f"the gradient of {full!r} is the first non-finite "
                                         "one of the backward pass (output to input)")
    return None


def check_finite(step: int, loss, model: Module, inputs=None, prefix: str = "",
                 params=None) -> None:
    """Raise TrainingDivergedError if the loss or a gradient of ``model`` is NaN/Inf.

    Call it after ``loss.backward()`` and before ``optimizer.step()``, so a bad step never
    reaches the weights. ``inputs`` (the batch) lets the search re-run the forward pass.
    ``params``: ``list(model.parameters())`` when the caller already has it.
    """
    value = float(loss.item() if isinstance(loss, Tensor) else loss)
    params = model.parameters() if params is None else params
    grads_ok = all(p.grad is None or is_finite(p.grad) for p in params)
    if math.isfinite(value) and grads_ok:
        return
    origin = first_nonfinite(model, inputs, prefix)
    layer, where = origin if origin else ("loss", "the loss itself (every layer is finite)")
    what = f"the loss is {value}" if not math.isfinite(value) else "a gradient is NaN/Inf"
    error = TrainingDivergedError(
        f"training diverged at step {step}: {what}. First non-finite value: {where} "
        f"[layer {layer}]. Lower the learning rate, clip gradients, or check that layer.")
    error.step, error.layer, error.where = step, layer, where
    raise error
