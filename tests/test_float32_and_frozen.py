"""float32 stays float32 through training; a frozen body costs no backward pass.

Two properties the benchmarks (bench/) rely on, checked without any timing:

* after a training step of a float32 MLP and CNN, with SGD (momentum) and with Adam,
  every parameter, gradient and optimizer-state array is still float32 (a float64
  temporary sneaking in would double the memory traffic of every later step);
* in a step with a frozen body, no Function.backward runs for any op of the body,
  the body's output has no grad_fn and no frozen parameter gets a gradient.
"""

import collections

import numpy as np
import pytest

import minitl
from minitl import nn
from minitl.autograd import Function
from minitl.nn import functional as F
from minitl.optim import SGD, Adam


def _mlp():
    rng = np.random.default_rng(0)
    return nn.Sequential(nn.Linear(6, 8, rng=rng), nn.ReLU(), nn.Linear(8, 8, rng=rng),
                         nn.ReLU(), nn.Linear(8, 3, rng=rng))


def _cnn():
    rng = np.random.default_rng(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(6 * 2 * 2, 3, rng=rng),
    )


def _batch(kind, device):
    rng = np.random.default_rng(1)
    shape = (5, 6) if kind == "mlp" else (5, 1, 8, 8)
    x = minitl.tensor(rng.standard_normal(shape).astype(np.float32), device=device)
    y = minitl.tensor(rng.integers(0, 3, 5), device=device)
    return x, y


def _train_step(model, opt, x, y):
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


OPTIMIZERS = {
    "sgd_momentum": lambda params: SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-4),
    "adam": lambda params: Adam(params, lr=1e-3, weight_decay=1e-4),
}


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_one_training_step_keeps_everything_float32(device, kind, opt_name):
    model = (_mlp() if kind == "mlp" else _cnn()).to(device)
    opt = OPTIMIZERS[opt_name](model.parameters())
    x, y = _batch(kind, device)
    for _ in range(2):  # the second step uses the state the first one created
        loss = _train_step(model, opt, x, y)
    assert loss.dtype == np.float32
    state_arrays = 0
    for name, p in model.named_parameters():
        assert p.dtype == np.float32, name
        assert p.grad is not None and p.grad.dtype == np.float32, name
        for key, value in opt.state[p].items():
            if hasattr(value, "dtype"):
                assert value.dtype == np.float32, f"{opt_name} state {key!r} of {name}"
                state_arrays += 1
    assert state_arrays >= len(list(model.parameters()))  # the state was really checked


@pytest.fixture
def backward_calls(monkeypatch):
    """Count Function.backward calls per op class (every Function subclass is wrapped)."""
    counts = collections.Counter()
    pending, seen = [Function], set()
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls in seen or "backward" not in cls.__dict__ or cls is Function:
            seen.add(cls)
            continue
        seen.add(cls)
        original = cls.__dict__["backward"].__func__

        def counted(ctx, grad_out, _original=original, _name=cls.__name__):
            counts[_name] += 1
            return _original(ctx, grad_out)

        monkeypatch.setattr(cls, "backward", staticmethod(counted))
    return counts


def test_frozen_body_step_runs_no_backward_through_the_body(device, backward_calls):
    model = _cnn().to(device)
    body, head = model[:-1], model[-1]
    x, y = _batch("cnn", device)

    # Reference: a full fine-tuning step runs backward through every op.
    _train_step(model, SGD(model.parameters(), lr=0.1, momentum=0.9), x, y)
    full = dict(backward_calls)
    assert full["Conv2d"] == 2 and full["MaxPool2d"] == 2 and full["ReLU"] == 2

    model.zero_grad()
    backward_calls.clear()
    body.freeze()
    before = [p.numpy().copy() for p in body.parameters()]
    features = body(x)
    assert features.grad_fn is None and not features.requires_grad
    _train_step(model, SGD(model.parameters(), lr=0.1, momentum=0.9), x, y)

    body_ops = {"Conv2d", "MaxPool2d", "ReLU", "Reshape"}
    assert not body_ops & set(backward_calls), dict(backward_calls)
    assert backward_calls["Linear"] == 1 and backward_calls["CrossEntropy"] == 1
    for p, old in zip(body.parameters(), before):
        assert p.grad is None
        np.testing.assert_array_equal(p.numpy(), old)
    assert all(p.grad is not None for p in head.parameters())


def test_max_pool_gives_each_window_one_gradient_even_with_ties(device):
    """Ties inside a window (common after ReLU: all zeros) must not duplicate the gradient:
    it goes to the first largest element in row-major order, as in PyTorch."""
    x = np.zeros((1, 1, 4, 4), dtype=np.float32)
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = 2.0     # window (0, 0): tie between (0, 1) and (1, 0)
    x[0, 0, 2:, 2:] = -1.0                  # window (1, 1): a four-way tie
    t = minitl.tensor(x, requires_grad=True, device=device)
    out = F.max_pool2d(t, 2)
    out.backward(minitl.ones_like(out))
    grad = t.grad.numpy()[0, 0]
    expected = np.zeros((4, 4), dtype=np.float32)
    expected[0, 1] = expected[0, 2] = expected[2, 0] = expected[2, 2] = 1.0
    np.testing.assert_array_equal(grad, expected)
