"""Quickstart: train a small MLP from random initialisation on a toy problem.

This is the "normal baseline" of the course: one dataset, random init, train,
evaluate. Two interleaved spirals (a classic toy problem no linear model can
solve) are classified by a 2-32-32-2 MLP written with minitl tensors and
``minitl.nn.functional`` only, so every line of the training loop is visible.

Run it with ``make quickstart`` (``python -m demos.quickstart``; add ``--device cuda`` on
a GPU); the loss printed every 50 steps should fall.
"""

from __future__ import annotations

import argparse

import numpy as np

import minitl as mt
import minitl.nn.functional as F

from . import cli


def spirals(n_per_class: int, seed: int):
    """Two spirals in the plane, labels 0 and 1, with a little noise."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.random(n_per_class)) * 3 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)
    points = np.concatenate([arm, -arm]) + rng.normal(0, 0.03, (2 * n_per_class, 2))
    labels = np.repeat([0, 1], n_per_class)
    return points.astype(np.float32), labels.astype(np.int64)


def init_layer(rng, n_in, n_out, device="cpu"):
    """PyTorch's default for a linear layer: U(−1/√n_in, 1/√n_in) for weight and bias,
    drawn on the host and moved to ``device``."""
    bound = 1 / np.sqrt(n_in)
    w = mt.tensor(rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32),
                  requires_grad=True, device=device)
    b = mt.tensor(rng.uniform(-bound, bound, n_out).astype(np.float32), requires_grad=True,
                  device=device)
    return w, b


def train(steps: int = 500, seed: int = 0, device: str = "cpu") -> float:
    """Train the MLP for ``steps`` full-batch steps on ``device``; return the last loss."""
    x_np, y_np = spirals(200, seed)
    x, y = mt.tensor(x_np, device=device), mt.tensor(y_np, device=device)
    rng = np.random.default_rng(seed)
    params = [*init_layer(rng, 2, 32, device), *init_layer(rng, 32, 32, device),
              *init_layer(rng, 32, 2, device)]

    def model(inputs):
        w1, b1, w2, b2, w3, b3 = params
        h = F.linear(inputs, w1, b1).tanh()
        h = F.linear(h, w2, b2).tanh()
        return F.linear(h, w3, b3)

    lr, momentum = 0.1, 0.9
    velocity = [mt.zeros_like(p).data for p in params]  # on each parameter's device
    print(f"{'step':>5}  {'loss':>7}  {'accuracy':>8}")
    for step in range(steps + 1):
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        for p in params:
            p.grad = None
        loss.backward()
        with mt.no_grad():  # SGD with momentum, by hand: v ← μv + g, θ ← θ − lr·v
            for p, v in zip(params, velocity):
                v *= momentum
                v += p.grad.data
                p.data -= lr * v
        if step % 50 == 0:
            accuracy = (logits.argmax(axis=1) == y).numpy().mean()
            print(f"{step:>5}  {loss.item():>7.4f}  {accuracy:>8.1%}")
    return loss.item()


def main(argv=None) -> float:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--steps", type=int, default=500, help="training steps (default 500)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    return train(args.steps, args.seed, cli.usable_device(args.device))


if __name__ == "__main__":
    main()
