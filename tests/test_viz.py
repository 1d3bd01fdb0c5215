"""The drawn graph is the graph backward walks: ops, named parameters, frozen ones dashed."""

import re
import shutil

import numpy as np
import pytest

import minitl as mt
import minitl.nn.functional as F
from minitl import nn
from minitl.errors import GraphError
from minitl.viz import draw_graph, render


def tiny_mlp():
    model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.ReLU(), nn.Linear(8, 3, rng=1))
    x, y = mt.tensor(np.ones((2, 4), np.float32)), mt.tensor([0, 2])
    return model, x, y


def parse(dot):
    """(labels by node, edges as (source label, target label, dashed))."""
    labels = dict(re.findall(r'^\s+(n\d+) \[label="([^"]*)"', dot, flags=re.M))
    edges = [(labels.get(a, a), labels.get(b, b), "dashed" in rest)
             for a, b, rest in re.findall(r"^\s+(n\d+) -> (n\d+)(.*)$", dot, flags=re.M)]
    return labels, edges


def test_graph_of_a_tiny_mlp():
    model, x, y = tiny_mlp()
    labels, edges = parse(draw_graph(F.cross_entropy(model(x), y), model=model))
    assert sorted(labels.values()) == sorted([
        "output ()", "CrossEntropy ()", "Linear (2, 3)", "ReLU (2, 8)", "Linear (2, 8)",
        "input (2, 4)", "input (2,)", "0.weight (8, 4)", "0.bias (8,)", "2.weight (3, 8)",
        "2.bias (3,)"])
    assert ("Linear (2, 8)", "ReLU (2, 8)", False) in edges
    assert ("0.weight (8, 4)", "Linear (2, 8)", False) in edges
    assert ("input (2, 4)", "Linear (2, 8)", True) in edges      # data: no gradient back
    assert ("input (2,)", "CrossEntropy ()", True) in edges       # targets: no gradient back
    assert len(edges) == 10


def test_a_frozen_body_draws_no_ops_and_no_backward_edges():
    model, x, y = tiny_mlp()
    model[0].freeze()
    labels, edges = parse(draw_graph(F.cross_entropy(model(x), y), model=model))
    assert "Linear (2, 8)" not in labels.values() and "0.weight (8, 4)" not in labels.values()
    assert ("input (2, 8)", "Linear (2, 3)", True) in edges      # the body's output: a constant


def test_a_frozen_parameter_inside_the_graph_is_marked_and_dashed():
    model, x, y = tiny_mlp()
    model[2].freeze()  # frozen head, trainable body: ops still recorded through the head
    labels, edges = parse(draw_graph(F.cross_entropy(model(x), y), model=model))
    assert "2.weight (3, 8) frozen" in labels.values()
    assert ("2.weight (3, 8) frozen", "Linear (2, 3)", True) in edges
    assert ("ReLU (2, 8)", "Linear (2, 3)", False) in edges


def test_drawing_after_backward_is_an_error():
    model, x, y = tiny_mlp()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    with pytest.raises(GraphError, match="before"):
        draw_graph(loss)


def test_render_writes_dot_and_svg_when_graphviz_exists(tmp_path):
    model, x, y = tiny_mlp()
    out = render(draw_graph(model(x).sum(), model=model), tmp_path / "mlp.svg")
    assert (tmp_path / "mlp.dot").read_text().startswith("digraph")
    if shutil.which("dot"):
        assert out is not None and out.read_text().lstrip().startswith("<?xml")
    else:
        assert out is None
