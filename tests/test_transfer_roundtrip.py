"""End to end: model.state_dict() → save → load → load_state_dict, and source → target transfer.

These tests need ``minitl.nn`` (Module, Sequential, Linear, state_dict, freeze).
"""

import numpy as np
import pytest

import minitl
from minitl import Tensor
from minitl.checkpoint import load, load_metadata, save
from minitl.optim import SGD, Adam

nn = pytest.importorskip("minitl.nn")
if not all(hasattr(nn, name) for name in ("Sequential", "Linear", "ReLU", "Module")):
    pytest.skip("minitl.nn has no Sequential/Linear/ReLU yet", allow_module_level=True)


def mlp(n_out, seed):
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(4, 16, rng=rng), nn.ReLU(), nn.Linear(16, n_out, rng=rng))


def blobs(n_classes, seed, n=96):
    """Gaussian blobs in 4-D, one per class: an easy, learnable task."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, 4)) * 2.5
    y = rng.integers(0, n_classes, n)
    x = centres[y] + rng.standard_normal((n, 4))
    return Tensor(x.astype(np.float32)), Tensor(y)


def train(model, x, y, opt, steps):
    losses = []
    for _ in range(steps):
        loss = minitl.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_state_dict_save_load_gives_identical_outputs(tmp_path):
    model = mlp(3, seed=0)
    x, y = blobs(3, seed=1)
    train(model, x, y, SGD(list(model.parameters()), lr=0.1, momentum=0.9), steps=5)
    path = tmp_path / "model.safetensors"
    save(model.state_dict(), path, metadata={"architecture": "mlp-4-16-3"})

    weights = load(path)
    assert list(weights) and set(weights) == set(model.state_dict())
    clone = mlp(3, seed=99)  # different initial weights
    clone.load_state_dict(weights)
    with minitl.no_grad():
        np.testing.assert_array_equal(clone(x).numpy(), model(x).numpy())
    assert load_metadata(path)["architecture"] == "mlp-4-16-3"


def test_source_to_target_transfer_with_a_new_head(tmp_path):
    # 1. train a source model on a 3-class task and save it
    source = mlp(3, seed=0)
    xs, ys = blobs(3, seed=1)
    source_losses = train(source, xs, ys, Adam(list(source.parameters()), lr=1e-2), steps=60)
    assert source_losses[-1] < source_losses[0]
    path = tmp_path / "source.safetensors"
    save(source.state_dict(), path, metadata={"source_task": "blobs-3"})

    # 2. a target model with a different head (2 classes): load the body only
    target = mlp(2, seed=5)
    body, head = target[0], target[2]
    weights = load(path)
    body_only = {k: v for k, v in weights.items() if not k.startswith("2.")}
    result = target.load_state_dict(body_only, strict=False)
    assert sorted(result.missing_keys) == ["2.bias", "2.weight"]
    assert list(result.unexpected_keys) == []
    np.testing.assert_array_equal(body.weight.data, source[0].weight.data)

    # 3. freeze the body, train the head; the optimizer holds everything
    body.freeze()
    body_before = {k: v.copy() for k, v in body.state_dict().items()}
    xt, yt = blobs(2, seed=7)
    opt = SGD(list(target.parameters()), lr=0.1, momentum=0.9, weight_decay=1e-3)
    head_before = head.weight.data.copy()
    losses = train(target, xt, yt, opt, steps=40)

    for key, value in body.state_dict().items():
        assert np.array_equal(value, body_before[key]), key  # bit-identical
    assert body.weight.grad is None
    assert not np.array_equal(head.weight.data, head_before)
    assert losses[-1] < 0.5 * losses[0]  # the head learned
