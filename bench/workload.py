"""A demo-sized transfer training run on minitl's public API, timed; its final weights dumped.

    python bench/workload.py --tree /path/to/checkout [--dump weights.npz]

The shape of the experiments' work, written the way a user would write it (``minitl``,
``minitl.nn``, ``minitl.optim``, ``minitl.data`` only, nothing from ``demos``):

* data: two-digit glyph numbers (two 28 × 28 glyphs each), labelled by parity;
* model: ONE glyph encoder 784-128-32-9 (ReLU, Tanh) applied to both glyphs, the two
  codes concatenated, a linear head 18 → 2;
* a linear-probe phase: the encoder frozen, the head trained with Adam;
* a fine-tuning phase: everything trainable, two parameter groups (encoder at a small
  rate, head at a larger one), with the validation accuracy measured under ``no_grad``
  every 10 steps.

Prints ``{"seconds": ...}`` (the training alone: not Python's start, the imports or the
data) as one JSON line; ``--dump`` writes the final weights (``state_dict``) as ``.npz``,
so that two trees can be checked to train to the same bits. The tree is put first on
``sys.path``, as in ``bench/seed_unit.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

SEED, N_TRAIN, N_VAL, BATCH = 7, 640, 300, 32
PROBE_STEPS, FINETUNE_STEPS, EVAL_EVERY = 300, 1200, 10


def build(nn, rng):
    class SharedEncoder(nn.Module):
        """One encoder over both glyph slots, codes concatenated, then a linear head."""

        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, 128, rng=rng), nn.ReLU(),
                                         nn.Linear(128, 32, rng=rng), nn.Tanh(),
                                         nn.Linear(32, 9, rng=rng))
            self.head = nn.Linear(18, 2, rng=rng)

        def forward(self, x):
            b = x.shape[0]
            codes = self.encoder(x.reshape(b * 2, 1, 28, 28))
            return self.head(codes.reshape(b, 18))

    return SharedEncoder()


def train(np, mt) -> tuple[object, float]:
    """The run; returns the model and the seconds its training took."""
    from minitl import nn, optim
    from minitl.data import number_labels, two_digit_numbers
    from minitl.nn import functional as F

    x, values = two_digit_numbers(N_TRAIN, seed=SEED, split="train")
    x_val, v_val = two_digit_numbers(N_VAL, seed=SEED, split="val")
    y, y_val = number_labels(values, "parity"), number_labels(v_val, "parity")
    rng = np.random.default_rng(SEED)
    model = build(nn, rng)
    order = np.random.default_rng(SEED + 1)

    def batches(steps):
        for _ in range(steps):
            idx = order.choice(N_TRAIN, size=BATCH, replace=False)
            yield mt.tensor(x[idx]), mt.tensor(y[idx])

    def val_accuracy():
        model.eval()
        with mt.no_grad():
            pred = model(mt.tensor(x_val)).numpy().argmax(axis=1)
        model.train()
        return float((pred == y_val).mean())

    start = time.perf_counter()
    model.encoder.freeze()  # phase 1: linear probe
    probe = optim.Adam(model.head.parameters(), lr=1e-2)
    for xb, yb in batches(PROBE_STEPS):
        probe.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        probe.step()
    model.encoder.unfreeze()  # phase 2: fine-tune, two groups
    opt = optim.Adam([{"params": model.encoder.parameters(), "lr": 1e-4, "name": "encoder"},
                      {"params": model.head.parameters(), "lr": 1e-3, "name": "head"}])
    accs = []
    for step, (xb, yb) in enumerate(batches(FINETUNE_STEPS), start=1):
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
        if step % EVAL_EVERY == 0:
            accs.append(val_accuracy())
    seconds = time.perf_counter() - start
    model.val_curve = accs
    return model, seconds


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tree", type=Path, default=Path(__file__).resolve().parent.parent)
    p.add_argument("--dump", type=Path, default=None)
    args = p.parse_args(argv)
    tree = args.tree.resolve()
    sys.path.insert(0, str(tree))
    import numpy as np

    import minitl as mt

    if Path(mt.__file__).resolve().parent.parent != tree:
        raise SystemExit(f"workload: imported minitl from {mt.__file__}, not {tree}")
    model, seconds = train(np, mt)
    if args.dump is not None:
        args.dump.parent.mkdir(parents=True, exist_ok=True)
        np.savez(args.dump, val_curve=np.asarray(model.val_curve), **model.state_dict())
    print(json.dumps({"seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
