"""Draw the computation graph behind a tensor, as Graphviz DOT text (and SVG/PNG if `dot` exists).

What you see is exactly what ``backward()`` will walk: one box per recorded op
(its Function's name and output shape), one ellipse per leaf tensor (parameters
by name, marked *frozen* when they do not require a gradient), and an arrow
from each input to the op that used it, labelled with the input's shape.

Solid arrows carry a gradient back; dashed grey ones do not (a frozen
parameter, a data batch, an integer target). A frozen body shows up as a
single constant input to the head: no op was recorded inside it, which is why
freezing makes the backward pass cheaper.

Draw before calling ``backward()``: backward frees the graph as it goes.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .autograd import Tensor
from .errors import ArgumentError, GraphError


def _shape(shape) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def draw_graph(root: Tensor, model=None, names=None, title: str | None = None) -> str:
    """The DOT text of the graph that produced ``root``.

    ``model`` (a Module) or ``names`` (a mapping name → tensor) label leaf tensors;
    unnamed leaves are called "input" (no gradient) or "leaf" (requires one).
    """
    if not isinstance(root, Tensor):
        raise ArgumentError(f"draw_graph: expected a Tensor, got {type(root).__name__}")
    labels = {}
    if model is not None:
        labels.update({id(p): name for name, p in model.named_parameters()})
    if names is not None:
        labels.update({id(t): name for name, t in names.items()})

    ids: dict[int, str] = {}  # object id → short stable node name, in drawing order

    def node(obj) -> str:
        return ids.setdefault(id(obj), f"n{len(ids)}")

    lines = ["digraph minitl {", "  rankdir=BT;", '  node [fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];']
    if title:
        lines.append(f"  label={_quote(title)}; labelloc=t;")
    out_id = node(root)
    out_label = _quote("output " + _shape(root.shape))
    lines.append(f"  {out_id} [label={out_label}, shape=doubleoctagon];")
    if root.grad_fn is None:
        lines.append("}")
        return "\n".join(lines) + "\n"
    lines.append(f"  {node(root.grad_fn)} -> {out_id};")

    drawn_ops, drawn_leaves = set(), set()
    stack = [root.grad_fn]
    while stack:
        ctx = stack.pop()
        if id(ctx) in drawn_ops:
            continue
        drawn_ops.add(id(ctx))
        if ctx.released:
            raise GraphError("draw_graph: the graph was freed by backward(); draw it before "
                             "calling backward(), or pass retain_graph=True")
        label = f"{ctx.fn.__name__} {_shape(ctx.output_shape)}"
        lines.append(f"  {node(ctx)} [label={_quote(label)}, shape=box, style=filled, "
                     'fillcolor="#dde8f7"];')
        for t in ctx.inputs:
            if t is None:
                continue
            flows = t.requires_grad
            style = "" if flows else ' style=dashed color="#999999" fontcolor="#999999"'
            if t.grad_fn is not None:
                source = node(t.grad_fn)
                stack.append(t.grad_fn)
            else:
                source = node(t)
                if id(t) not in drawn_leaves:
                    drawn_leaves.add(id(t))
                    lines.append(f"  {source} [{_leaf_attributes(t, labels.get(id(t)))}];")
            lines.append(f"  {source} -> {node(ctx)} [label={_quote(_shape(t.shape))}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _leaf_attributes(t: Tensor, name: str | None) -> str:
    from .nn.parameter import Parameter

    if isinstance(t, Parameter):
        name = name or "parameter"
        if t.requires_grad:
            return f"label={_quote(name + ' ' + _shape(t.shape))}, shape=ellipse"
        return (f"label={_quote(name + ' ' + _shape(t.shape) + ' frozen')}, shape=ellipse, "
                'style="filled,dashed", fillcolor="#eeeeee"')
    if t.requires_grad:
        return f"label={_quote((name or 'leaf') + ' ' + _shape(t.shape))}, shape=ellipse"
    return f"label={_quote((name or 'input') + ' ' + _shape(t.shape))}, shape=note"


def render(dot_text: str, path, fmt: str | None = None) -> Path | None:
    """Write ``dot_text`` to ``path`` (.dot always) and, if the Graphviz ``dot`` program is
    installed, render it to ``fmt`` (svg or png, default from the suffix). Returns the
    rendered file, or None when ``dot`` is missing (the .dot file is still written)."""
    path = Path(path)
    fmt = fmt or (path.suffix.lstrip(".") if path.suffix in (".svg", ".png") else "svg")
    dot_path = path.with_suffix(".dot")
    dot_path.parent.mkdir(parents=True, exist_ok=True)
    dot_path.write_text(dot_text)
    program = shutil.which("dot")
    if program is None:
        return None
    target = path.with_suffix("." + fmt)
    subprocess.run([program, f"-T{fmt}", str(dot_path), "-o", str(target)], check=True)
    return target
