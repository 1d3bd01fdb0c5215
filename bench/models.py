"""The benchmark models, built once in minitl and mirrored (same weights) in the references.

* MLP 784-256-256-10, ReLU, softmax cross-entropy, batch 128;
* tiny MLP 2-16-16-1, ReLU, **1-output mean squared error**, batch 32 (pure overhead);
* small CNN on 1×28×28: conv3×3 1→8 (padding 1) → ReLU → maxpool 2 → conv3×3 8→16
  (padding 1) → ReLU → maxpool 2 → flatten (16·7·7) → linear → 10, cross-entropy, batch 64.

Every step is forward + backward + plain SGD (lr 0.01, no momentum), float32.
"""

from __future__ import annotations

import numpy as np

import minitl
from minitl import nn
from minitl.nn import functional as F
from minitl.optim import SGD

LR = 0.01


# ----------------------------------------------------------------------------- data


def batch(kind: str, n: int, seed: int = 0):
    """A fixed random batch: (inputs, targets) as host NumPy arrays."""
    rng = np.random.default_rng(seed)
    if kind == "mlp":
        return (rng.standard_normal((n, 784), dtype=np.float32),
                rng.integers(0, 10, n, dtype=np.int64))
    if kind == "tiny":
        return (rng.standard_normal((n, 2), dtype=np.float32),
                rng.standard_normal((n, 1), dtype=np.float32))
    if kind == "cnn":
        return (rng.random((n, 1, 28, 28), dtype=np.float32),
                rng.integers(0, 10, n, dtype=np.int64))
    raise ValueError(kind)


# ----------------------------------------------------------------------------- minitl


def mlp(sizes=(784, 256, 256, 10), seed=0):
    rng = np.random.default_rng(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b, rng=rng))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def cnn(seed=0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 10, rng=rng),
    )


def minitl_step(model, x, y, loss="cross_entropy", params=None):
    """A closure running one minitl training step on the fixed batch (x, y)."""
    params = list(model.parameters()) if params is None else params
    opt = SGD(params, lr=LR)
    x_t, y_t = minitl.tensor(x), minitl.tensor(y)
    loss_fn = F.cross_entropy if loss == "cross_entropy" else F.mse_loss

    def step():
        opt.zero_grad()
        out = loss_fn(model(x_t), y_t)
        out.backward()
        opt.step()
        return out

    return step


def arrays(model):
    """The model's parameters as host NumPy arrays, in order."""
    return [p.numpy() for p in model.parameters()]


def linear_arrays(model):
    """(weights, biases) of the Linear layers of a minitl MLP, as NumPy arrays."""
    lins = [m for m in model if isinstance(m, nn.Linear)]
    return [m.weight.numpy() for m in lins], [m.bias.numpy() for m in lins]


# ----------------------------------------------------------------------------- PyTorch


def torch_model(torch, model):
    """The same network in PyTorch, with the minitl model's weights copied in."""
    tnn = torch.nn
    layers = []
    for m in model:
        if isinstance(m, nn.Linear):
            layers.append(tnn.Linear(m.in_features, m.out_features))
        elif isinstance(m, nn.Conv2d):
            layers.append(tnn.Conv2d(m.in_channels, m.out_channels, m.kernel_size,
                                     padding=m.padding))
        elif isinstance(m, nn.ReLU):
            layers.append(tnn.ReLU())
        elif isinstance(m, nn.MaxPool2d):
            layers.append(tnn.MaxPool2d(m.kernel_size))
        elif isinstance(m, nn.Flatten):
            layers.append(tnn.Flatten())
        else:
            raise TypeError(type(m).__name__)
    net = tnn.Sequential(*layers)
    with torch.no_grad():
        for p, q in zip(net.parameters(), model.parameters(), strict=True):
            p.copy_(torch.from_numpy(q.numpy().copy()))
    return net


def torch_step(torch, net, x, y, loss="cross_entropy", device="cpu", params=None):
    opt = torch.optim.SGD(net.parameters() if params is None else params, lr=LR)
    x_t, y_t = torch.as_tensor(x, device=device), torch.as_tensor(y, device=device)
    loss_fn = (torch.nn.functional.cross_entropy if loss == "cross_entropy"
               else torch.nn.functional.mse_loss)

    def step():
        opt.zero_grad(set_to_none=True)
        out = loss_fn(net(x_t), y_t)
        out.backward()
        opt.step()
        return out

    return step


# ----------------------------------------------------------------------------- honesty


def check_same_math(minitl_step_fn, model, ref_step_fn, ref_params, steps=2, rtol=2e-3,
                    atol=2e-5):
    """Run ``steps`` steps of minitl and of a reference from the same weights and check the
    parameters agree afterwards: the references compute the same math."""
    for _ in range(steps):
        minitl_step_fn()
        ref_step_fn()
    for i, (a, b) in enumerate(zip(arrays(model), ref_params(), strict=True)):
        if a.shape != b.shape or a.dtype != b.dtype:
            raise AssertionError(f"parameter {i}: minitl {a.shape} {a.dtype}, "
                                 f"reference {b.shape} {b.dtype}")
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol,
                                   err_msg=f"parameter {i} differs from the reference")
