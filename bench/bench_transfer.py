"""Transfer-learning costs on the benchmark CNN: freezing the body, caching its features.

Usage: ``python bench/bench_transfer.py``. Two comparisons, one BLAS thread:

1. **Frozen body vs full fine-tuning**: one training step of the CNN with the body
   (conv → pool → conv → pool → flatten) frozen, only the linear head learning, against
   a step that trains everything. In minitl a frozen body records no graph, so its
   step is the body's forward pass plus the head's step. Also shown for the hand-written
   NumPy reference and PyTorch (when installed).
2. **Feature extraction, cached vs not**: an epoch of head-only training over 1,024
   images, batch 64. *Through the body*: every batch runs the frozen body under
   ``no_grad()``, then the head's step. *Cached*: the frozen body ran once over the data
   set beforehand (timed separately) and the epoch trains the head on the stored features.
   (Implemented here directly; a ``minitl.transfer`` recipe will provide it later.)

Writes the "transfer" section of bench/results.json.
"""

from __future__ import annotations

import harness
import models
import numpy as np
from bench_models import reference

import minitl
from minitl.nn import functional as F
from minitl.optim import SGD

EPOCH_SAMPLES, EPOCH_BATCH = 1024, 64


def frozen_vs_full(torch, steps=40):
    x, y = models.batch("cnn", 64)
    full_model, frozen_model = models.cnn(), models.cnn()
    frozen_model[:-1].freeze()  # body = every layer but the last; shared with frozen_model
    head_params = list(frozen_model[-1].parameters())
    ref_full, ref_frozen = reference(full_model, "cnn"), reference(frozen_model, "cnn")
    cases = {
        "minitl full": models.minitl_step(full_model, x, y),
        "minitl frozen": models.minitl_step(frozen_model, x, y, params=head_params),
        "numpy full": lambda: ref_full.step(x, y),
        "numpy frozen": lambda: ref_frozen.step(x, y, train_body=False),
    }
    if torch is not None:
        t_full = models.torch_model(torch, full_model)
        t_frozen = models.torch_model(torch, frozen_model)
        for p in t_frozen[:-1].parameters():
            p.requires_grad_(False)
        cases["torch full"] = models.torch_step(torch, t_full, x, y)
        cases["torch frozen"] = models.torch_step(torch, t_frozen, x, y,
                                                  params=t_frozen[-1].parameters())
    with harness.pin_blas(1):
        stats = harness.compare_stats(cases, steps=steps, warmup=5)
    ms = {k: v["median_ms"] for k, v in stats.items()}
    ratios = {impl: ms[f"{impl} frozen"] / ms[f"{impl} full"]
              for impl in ("minitl", "numpy", "torch") if f"{impl} full" in ms}
    return {"ms": ms, "stats": stats, "frozen_vs_full": ratios}


def feature_epochs(steps=30):
    rng = np.random.default_rng(1)
    images = rng.random((EPOCH_SAMPLES, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, EPOCH_SAMPLES, dtype=np.int64)
    model = models.cnn()
    body, head = model[:-1], model[-1]
    body.freeze()
    opt = SGD(head.parameters(), lr=models.LR)
    starts = range(0, EPOCH_SAMPLES, EPOCH_BATCH)

    def head_step(features, yb):
        opt.zero_grad()
        loss = F.cross_entropy(head(features), minitl.tensor(yb))
        loss.backward()
        opt.step()

    def epoch_through_body():
        for i in starts:
            with minitl.no_grad():
                features = body(minitl.tensor(images[i:i + EPOCH_BATCH]))
            head_step(features, labels[i:i + EPOCH_BATCH])

    def cache_features():
        with minitl.no_grad():
            return np.concatenate([body(minitl.tensor(images[i:i + EPOCH_BATCH])).numpy()
                                   for i in starts])

    cached = cache_features()

    def epoch_cached():
        for i in starts:
            head_step(minitl.tensor(cached[i:i + EPOCH_BATCH]), labels[i:i + EPOCH_BATCH])

    with harness.pin_blas(1):
        stats = harness.compare_stats({"epoch through body": epoch_through_body,
                                       "epoch on cached features": epoch_cached},
                                      steps=steps, warmup=3)
        cache_ms = harness.compare({"cache features (once)": cache_features}, steps=5,
                                   warmup=1)["cache features (once)"]
    ms = {k: v["median_ms"] for k, v in stats.items()}
    ms["cache features (once)"] = cache_ms
    return {"ms": ms, "stats": stats, "samples": EPOCH_SAMPLES, "batch": EPOCH_BATCH,
            "speedup": ms["epoch through body"] / ms["epoch on cached features"]}


def run(steps_scale=1.0):
    torch = harness.optional_torch()
    frozen = frozen_vs_full(torch, steps=max(30, int(60 * steps_scale)))
    epochs = feature_epochs(steps=max(30, int(30 * steps_scale)))
    goals = [
        harness.goal("frozen-body step / full fine-tuning step (CNN, minitl)",
                     frozen["frozen_vs_full"]["minitl"], 0.6),
        harness.goal("head-only epoch: through body / cached features (speed-up)",
                     epochs["speedup"], 20, kind=">="),
    ]
    return {"frozen": frozen, "epochs": epochs, "goals": goals,
            "notes": "CNN b64, 1 BLAS thread; frozen = body.freeze(), optimizer over the head "
                     f"only; epochs of {EPOCH_SAMPLES} images, batch {EPOCH_BATCH}"}


def print_section(section):
    ms = section["frozen"]["ms"]
    ratios = section["frozen"]["frozen_vs_full"]
    rows = [[impl, harness.fmt_ms(ms[f"{impl} full"]), harness.fmt_ms(ms[f"{impl} frozen"]),
             harness.fmt_ratio(ratios[impl])] for impl in ratios]
    harness.print_table(["CNN b64 step (ms)", "full", "frozen body", "frozen/full"], rows)
    print()
    e = section["epochs"]
    rows = [[name, harness.fmt_ms(v)] for name, v in e["ms"].items()]
    rows.append(["speed-up from caching", harness.fmt_ratio(e["speedup"])])
    harness.print_table([f"head-only epoch, {e['samples']} images (ms)", "minitl"], rows)


def main():
    section = run()
    harness.publish("transfer", section, print_section)


if __name__ == "__main__":
    main()
