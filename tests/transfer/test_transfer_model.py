"""BodyHead, split, copies and blocks: the model surgery every recipe relies on."""

import numpy as np
import pytest

import minitl
from minitl import nn
from minitl.transfer import BodyHead, split
from minitl.transfer.model import attach_head, blocks, copy_module, evaluating, named_blocks


def sequential(seed=0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(6, 8, rng=rng), nn.ReLU(), nn.Linear(8, 5, rng=rng),
                         nn.ReLU(), nn.Linear(5, 3, rng=rng))


def test_split_shares_layers_and_computes_the_same_function():
    model = sequential()
    bh = split(model)  # at=-1: the last layer is the head
    assert bh.head is model[4] and bh.body[0] is model[0]
    assert [n for n, _ in bh.named_parameters()][-2:] == ["head.weight", "head.bias"]
    x = minitl.tensor(np.random.default_rng(1).standard_normal((4, 6)).astype(np.float32))
    np.testing.assert_array_equal(bh(x).numpy(), model(x).numpy())
    with pytest.raises(ValueError):
        split(model, 0)
    with pytest.raises(TypeError):
        split(bh)


def test_attach_head_copies_the_body_and_leaves_the_source_alone():
    source = split(sequential())
    before = source.state_dict()
    target = attach_head(source, num_classes=2, sample=np.zeros((1, 6), np.float32), rng=0)
    assert isinstance(target, BodyHead) and target.head.weight.shape == (2, 5)
    assert target.body[0].weight is not source.body[0].weight
    target.body[0].weight.data += 1.0
    for key, value in source.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_copy_module_is_independent_and_drops_hooks_and_grads():
    model = sequential()
    model.register_forward_hook(lambda m, a, o: None)
    x = minitl.tensor(np.ones((2, 6), np.float32))
    model(x).sum().backward()
    clone = copy_module(model)
    assert not clone._forward_hooks and all(p.grad is None for p in clone.parameters())
    clone[0].weight.data[...] = 0.0
    assert np.abs(model[0].weight.data).sum() > 0


def test_named_blocks_skips_activations_and_keeps_norm_layers_with_their_layer():
    rng = np.random.default_rng(0)
    body = nn.Sequential(nn.Linear(4, 8, rng=rng), nn.BatchNorm1d(8), nn.ReLU(),
                         nn.Linear(8, 8, rng=rng), nn.ReLU())
    names = [n for n, _ in named_blocks(body)]
    assert names == ["body.0+1", "body.3"]
    merged = blocks(body)[0]
    assert {id(p) for p in merged.parameters()} == {
        id(p) for p in [*body[0].parameters(), *body[1].parameters()]}
    assert [n for n, _ in named_blocks(nn.Sequential(body))] == ["body.0.0+1", "body.0.3"]
    assert [n for n, _ in named_blocks(nn.Linear(3, 2))] == ["body"]


def test_evaluating_restores_each_modules_own_mode():
    model = sequential()
    model[0].eval()
    with evaluating(model):
        assert not any(m.training for m in model.modules())
    assert model.training and not model[0].training and model[2].training
