"""Tiny seeded toy problems for the transfer toolkit tests (MLPs on 16-d Gaussian inputs).

* source task: 4 classes from the signs of two projections of inputs 0-7;
* related target: 2 classes, the sign of the first projection (a coarsening of the source
  classes, so the pretrained features already carry it), with a little label noise;
* unrelated target: the sign of a projection of inputs 8-15, read by a "blind" body whose
  first layer has zero weights on inputs 8-15 (it never looked at them), so its frozen
  features carry nothing about the target; only retraining the first layer can help.
"""

from __future__ import annotations

import functools

import numpy as np

from minitl import nn
from minitl.data import DataLoader
from minitl.optim import Adam
from minitl.transfer import BodyHead, train_loop

DIM = 16
_DIRS = np.random.default_rng(1234).standard_normal((4, DIM))
_DIRS[:2, 8:] = 0.0   # source directions: inputs 0-7
_DIRS[2:, :8] = 0.0   # unrelated-target directions: inputs 8-15


def inputs(n, seed):
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def source_task(n, seed):
    x = inputs(n, seed)
    y = 2 * (x @ _DIRS[0] > 0) + (x @ _DIRS[1] > 0)
    return x, y.astype(np.int64)


def related_task(n, seed, noise=0.1):
    x = inputs(n, seed + 100)
    y = (x @ _DIRS[0] > 0).astype(np.int64)
    flip = np.random.default_rng(seed + 200).random(n) < noise
    return x, np.where(flip, 1 - y, y)


def unrelated_task(n, seed):
    x = inputs(n, seed + 300)
    y = (x @ _DIRS[2] > 0).astype(np.int64)
    return x, y


def mlp(seed, hidden=32, width=16, classes=4):
    rng = np.random.default_rng(seed)
    body = nn.Sequential(nn.Linear(DIM, hidden, rng=rng), nn.ReLU(),
                         nn.Linear(hidden, width, rng=rng), nn.ReLU())
    return BodyHead(body, nn.Linear(width, classes, rng=rng))


@functools.cache
def _pretrained_state(seed):
    model = mlp(seed)
    x, y = source_task(768, seed)
    opt = Adam(list(model.parameters()), lr=1e-2)
    train_loop(model, DataLoader(x, y, batch_size=64, shuffle=True, seed=seed), opt,
               epochs=25, eval_at_start=False)
    return model.state_dict()


def pretrained(seed=0) -> BodyHead:
    """A source model trained on the source task (cached; a fresh copy on every call)."""
    model = mlp(seed)
    model.load_state_dict(_pretrained_state(seed))
    return model


def blind(seed=0) -> BodyHead:
    """The pretrained model with its first layer's weights on inputs 8-15 set to zero."""
    model = pretrained(seed)
    model.body[0].weight.data[:, 8:] = 0.0
    return model
