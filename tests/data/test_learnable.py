"""The classes are learnable from shape: a pixel-level learner does far better than chance.

Paired with test_shortcuts.py: ink amount is near chance, but a small minitl MLP trained
for a few epochs on the pixels is far above it.
"""

from __future__ import annotations

import numpy as np
import pytest

import minitl as mt
import minitl.nn.functional as F
from minitl import nn
from minitl.data import DataLoader, animals, glyph_digits, two_digit_numbers
from minitl.optim import Adam

N_TRAIN, N_TEST = 3000, 1000


def _learner_accuracy(x_tr, y_tr, x_te, y_te, num_classes, epochs=5, seed=0):
    """Train a one-hidden-layer minitl MLP briefly (Adam, a few epochs) and return test accuracy."""
    rng = np.random.default_rng(seed)
    x_tr, x_te = x_tr.reshape(len(x_tr), -1), x_te.reshape(len(x_te), -1)
    model = nn.Sequential(nn.Linear(x_tr.shape[1], 64, rng=rng), nn.ReLU(),
                          nn.Linear(64, num_classes, rng=rng))
    optimizer = Adam(model.parameters(), lr=2e-3)
    loader = DataLoader(x_tr, y_tr, batch_size=64, shuffle=True, seed=seed)
    for _ in range(epochs):
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with mt.no_grad():
        predictions = model(mt.tensor(x_te)).argmax(axis=1).numpy()
    return float((predictions == y_te).mean())


@pytest.mark.parametrize(
    "make, num_classes, floor",
    [(glyph_digits, 10, 0.80), (animals, 4, 0.70)],
    ids=["digits", "animals"],
)
def test_classes_learnable_from_pixels(make, num_classes, floor):
    tr, te = make(N_TRAIN, seed=0, split="train"), make(N_TEST, seed=0, split="test")
    acc = _learner_accuracy(tr.images, tr.labels, te.images, te.labels, num_classes)
    print(f"{make.__name__}: pixel learner accuracy {acc:.3f} (chance {1 / num_classes:.3f})")
    assert acc >= floor


@pytest.mark.parametrize("task, floor", [("parity", 0.80), ("magnitude", 0.80)])
def test_number_tasks_learnable_from_pixels(task, floor):
    tr = two_digit_numbers(N_TRAIN, seed=0, split="train")
    te = two_digit_numbers(N_TEST, seed=0, split="test")
    acc = _learner_accuracy(tr.images, tr.labels(task), te.images, te.labels(task), 2)
    print(f"numbers/{task}: pixel learner accuracy {acc:.3f} (chance 0.500)")
    assert acc >= floor
