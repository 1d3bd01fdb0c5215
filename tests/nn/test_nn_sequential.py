"""Sequential: indexing, slicing into body and head, editing."""

from collections import OrderedDict

import numpy as np
import pytest

import minitl
from minitl import nn


def make(seed=0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(4, 8, rng=rng), nn.ReLU(), nn.Linear(8, 8, rng=rng),
                         nn.Tanh(), nn.Linear(8, 3, rng=rng))


def test_indexing_len_and_iteration():
    model = make()
    assert len(model) == 5
    assert isinstance(model[0], nn.Linear) and model[-1] is model[4]
    assert list(model) == [model[i] for i in range(5)]
    with pytest.raises(IndexError, match="out of range"):
        model[5]
    with pytest.raises(TypeError):
        model["0"]


def test_slices_share_layers_and_keep_names():
    model = make()
    body, head = model[:2], model[2:]
    assert isinstance(body, nn.Sequential) and len(body) == 2 and len(head) == 3
    assert body[0] is model[0] and head[0] is model[2]
    assert [n for n, _ in head.named_parameters()] == ["2.weight", "2.bias", "4.weight",
                                                        "4.bias"]
    x = minitl.randn(6, 4, rng=1)
    np.testing.assert_array_equal(head(body(x)).numpy(), model(x).numpy())
    np.testing.assert_array_equal(model[:-1](x).numpy(), model[:4](x).numpy())
    body.freeze()  # freezing the slice freezes the model's own layers
    assert not model[0].weight.requires_grad and model[2].weight.requires_grad


def test_transfer_split_frozen_body_new_head():
    model = make()
    body = model[:-1].freeze()
    model[-1] = nn.Linear(8, 2, rng=5)  # replace the head in place
    assert model[4].out_features == 2 and [n for n, _ in model.named_children()][-1] == "4"
    x = minitl.randn(6, 4, rng=1)
    assert not body(x).requires_grad
    model(x).sum().backward()
    assert all(p.grad is None for p in body.parameters())
    assert model[4].weight.grad is not None


def test_append_extend_and_named_construction():
    model = make()[2:]
    model.append(nn.ReLU())
    assert [n for n, _ in model.named_children()] == ["2", "3", "4", "5"]
    model.extend([nn.Identity(), nn.Identity()])
    assert len(model) == 6
    named = nn.Sequential(OrderedDict(body=nn.Linear(2, 2, rng=0), head=nn.Linear(2, 1, rng=0)))
    assert [n for n, _ in named.named_parameters()] == ["body.weight", "body.bias",
                                                        "head.weight", "head.bias"]
    assert named.head is named[1]
    with pytest.raises(TypeError, match="unpack"):
        nn.Sequential([nn.ReLU()])
