"""summary(model, input_shape): a table of a model's layers, output shapes and parameters."""

from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Tensor, no_grad
from .module import Module


class ModelSummary(str):
    """The table as a string (``print(summary(model, shape))``), with the totals as
    attributes: ``total_params``, ``trainable_params``, ``frozen_params`` (value counts),
    ``frozen_tensors``, ``buffer_values``, ``output_shape``, and ``rows``: one tuple
    (name, class, output shape, parameter count, status) per module."""

    def __repr__(self):  # at the REPL, show the table rather than a quoted string
        return str(self)


def _shape_text(output):
    if isinstance(output, Tensor):
        return str(tuple(output.shape))
    if isinstance(output, (tuple, list)):
        return "[" + ", ".join(_shape_text(o) for o in output) + "]"
    return type(output).__name__


def _status(params):
    trainable = sum(p.requires_grad for p in params)
    if not params:
        return ""
    if trainable == len(params):
        return "trainable"
    return "frozen" if trainable == 0 else "partly frozen"


def _group(n: int) -> str:
    return f"{n:,}"


def summary(model: Module, input_shape, dtype=np.float32) -> ModelSummary:
    """Run ``model`` once on zeros of ``input_shape`` (batch axis included, e.g.
    (1, 3, 32, 32)) and tabulate every module: dotted name (indented by depth), class,
    output shape, the number of parameter values it owns directly, and whether those
    are trainable or frozen; then totals (trainable + frozen = total).

    The forward pass runs under ``no_grad()`` in eval mode (so BatchNorm running
    statistics and dropout generators are untouched) on the model's device; each
    module's training flag is restored afterwards. Output shapes are recorded with
    forward hooks, so nested Sequentials and custom Modules are covered as long as
    their sub-modules are called (``self.layer(x)``); others show "-".
    """
    named = list(model.named_modules())
    first = next(iter([*model.parameters(), *model.buffers()]), None)
    device = first.device if first is not None else "cpu"
    x = Tensor(backend.to_device(np.zeros(tuple(input_shape), dtype=dtype), device))

    shapes = {}

    def recorder(name):
        def hook(module, inputs, output):
            shapes.setdefault(name, _shape_text(output))  # first call wins
        return hook

    handles = [m.register_forward_hook(recorder(name)) for name, m in named]
    modes = [(m, m.training) for _, m in named]
    model.eval()
    try:
        with no_grad():
            output = model(x)
    finally:
        for handle in handles:
            handle.remove()
        for m, mode in modes:
            object.__setattr__(m, "training", mode)

    rows = []
    for name, m in named:
        own = [p for p in m._parameters.values() if p is not None]
        label = "  " * (name.count(".") + 1) + name if name else "(model)"
        rows.append((label, type(m).__name__, shapes.get(name, "-"),
                     sum(p.size for p in own), _status(own)))

    params = list(model.parameters())
    total = sum(p.size for p in params)
    trainable = sum(p.size for p in params if p.requires_grad)
    frozen_tensors = sum(not p.requires_grad for p in params)
    buffer_values = sum(b.size for b in model.buffers())

    header = ("Layer", "Type", "Output shape", "Params", "Status")
    table = [header] + [(r[0], r[1], r[2], _group(r[3]) if r[3] else "", r[4]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]

    def fmt(row):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].ljust(widths[2]),
                 row[3].rjust(widths[3]), row[4].ljust(widths[4])]
        return "  ".join(cells).rstrip()

    rule = "-" * len("  ".join("x" * w for w in widths))
    lines = [f"{type(model).__name__} on input {tuple(input_shape)} "
             f"({np.dtype(dtype).name}, {device})", rule, fmt(header), rule]
    lines += [fmt(row) for row in table[1:]]
    lines += [
        rule,
        f"Total params:     {_group(total)}",
        f"Trainable params: {_group(trainable)}",
        f"Frozen params:    {_group(total - trainable)}"
        f" ({frozen_tensors} of {len(params)} parameter tensors frozen)",
        f"Buffers:          {_group(buffer_values)} values (running statistics; not trained)",
        f"Output shape:     {_shape_text(output)}",
    ]
    result = ModelSummary("\n".join(lines))
    result.total_params, result.trainable_params = total, trainable
    result.frozen_params, result.frozen_tensors = total - trainable, frozen_tensors
    result.buffer_values, result.output_shape = buffer_values, _shape_text(output)
    result.rows = rows
    return result
