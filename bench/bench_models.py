"""Training-step time of the three benchmark models: minitl vs hand-written NumPy (vs PyTorch).

Usage: ``python bench/bench_models.py [--steps N]``. For each model and for 1 and 2
BLAS threads, times one forward + backward + SGD step of minitl, of the hand-written
NumPy reference (bench/reference_numpy.py) and, when installed, of PyTorch CPU,
interleaved in one process; prints ms/step and ratios; writes the "models" section of
bench/results.json. The goals are checked on the 1-thread numbers.
"""

from __future__ import annotations

import argparse

import harness
import models
from reference_numpy import CNNRef, MLPRef

# (name, batch kind, batch size, minitl builder, loss, goal on minitl / NumPy, timed steps)
MODELS = [
    ("MLP 784-256-256-10, b128", "mlp", 128, lambda: models.mlp(), "cross_entropy", 1.15, 200),
    ("tiny MLP 2-16-16-1 (MSE), b32", "tiny", 32, lambda: models.mlp((2, 16, 16, 1)), "mse",
     3.5, 500),
    ("CNN 28×28 conv8-conv16-fc10, b64", "cnn", 64, lambda: models.cnn(), "cross_entropy", 1.10,
     100),
]
THREADS = (1, 2)
# The 1-thread comparison (the goals) is timed in this many separate interleaved blocks and
# the block with the median ratio is reported: a burst of load from another tenant of a
# shared machine then moves one block, not the result. All block ratios are recorded.
BLOCKS = 3


def reference(model, kind):
    if kind == "cnn":
        c1, c2, fc = model[0], model[3], model[7]
        return CNNRef(c1.weight.numpy(), c1.bias.numpy(), c2.weight.numpy(), c2.bias.numpy(),
                      fc.weight.numpy(), fc.bias.numpy(), models.LR)
    weights, biases = models.linear_arrays(model)
    return MLPRef(weights, biases, models.LR,
                  loss="cross_entropy" if kind == "mlp" else "mse")


def cases_for(kind, n, build, loss, torch):
    x, y = models.batch(kind, n)
    model = build()
    ref = reference(model, kind)
    # The references must compute the same math: check on copies, before timing.
    check_model = build()
    check_ref = reference(check_model, kind)
    models.check_same_math(models.minitl_step(check_model, x, y, loss), check_model,
                           lambda: check_ref.step(x, y), check_ref.params)
    cases = {"minitl": models.minitl_step(model, x, y, loss),
             "numpy": lambda: ref.step(x, y)}
    if torch is not None:
        cases["torch"] = models.torch_step(torch, models.torch_model(torch, model), x, y, loss)
    return cases


def run(steps_scale=1.0, threads=THREADS):
    # Implementations timed side by side share one heap: hold the allocator steady so
    # that neither's page faults depend on the other's allocations (harness.steady_allocator).
    allocator = harness.steady_allocator()
    torch = harness.optional_torch()
    rows, goals = [], []
    for name, kind, n, build, loss, target, steps in MODELS:
        cases = cases_for(kind, n, build, loss, torch)
        for t in threads:
            # 2 threads are informational (no goal): the minimum 30 steps keep make bench short
            n_steps = max(30, int(steps * steps_scale)) if t == 1 else 30
            with harness.pin_blas(t):
                blocks = [harness.compare_stats(cases, steps=n_steps, warmup=10)
                          for _ in range(BLOCKS if t == 1 else 1)]
            ratios = [b["minitl"]["median_ms"] / b["numpy"]["median_ms"] for b in blocks]
            ms = blocks[sorted(range(len(blocks)), key=ratios.__getitem__)[len(blocks) // 2]]
            med = {k: v["median_ms"] for k, v in ms.items()}
            row = {"model": name, "threads": t, "ms": med, "stats": ms,
                   "minitl_vs_numpy": med["minitl"] / med["numpy"],
                   "torch_vs_numpy": med["torch"] / med["numpy"] if "torch" in med else None,
                   "block_ratios": [round(r, 4) for r in ratios]}
            rows.append(row)
            if t == 1:
                goals.append(harness.goal(f"{name.split(',')[0]} step / NumPy (1 thread)",
                                          row["minitl_vs_numpy"], target))
    return {"rows": rows, "goals": goals, "allocator": allocator,
            "notes": "forward+backward+SGD(lr=0.01) per step, float32; tiny MLP uses a "
                     "1-output MSE loss; medians of interleaved steps; at 1 thread, the "
                     f"median of {BLOCKS} blocks by minitl/NumPy ratio"}


def print_section(section):
    rows = [[r["model"], r["threads"], harness.fmt_ms(r["ms"]["minitl"]),
             harness.fmt_ms(r["ms"]["numpy"]), harness.fmt_ms(r["ms"].get("torch")),
             harness.fmt_ratio(r["minitl_vs_numpy"]), harness.fmt_ratio(r["torch_vs_numpy"])]
            for r in section["rows"]]
    harness.print_table(["model (ms/step)", "BLAS thr", "minitl", "numpy", "torch",
                         "minitl/np", "torch/np"], rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the step counts")
    args = parser.parse_args()
    section = run(args.scale)
    harness.publish("models", section, print_section)


if __name__ == "__main__":
    main()
