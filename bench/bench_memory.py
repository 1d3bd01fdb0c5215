"""Memory of MLP training: peak RSS of 200 steps, and RSS growth over 2,000 steps.

Usage: ``python bench/bench_memory.py``. Runs two fresh worker processes, one training
the 784-256-256-10 MLP (batch 128) with minitl, one with the hand-written NumPy
reference, each cycling through the same in-memory data set of 2,048 random images,
on one BLAS thread. Each worker reads its own ``/proc/self/status`` (VmRSS: resident
now, VmHWM: peak resident; ``ru_maxrss`` where /proc is missing) after setting up, after
200 steps and after 2,000 steps. Writes the "memory" section of bench/results.json.

The goals: the minitl process's peak RSS after 200 steps is at most 1.2× the NumPy
process's, and its RSS grows by at most 2 MB between step 200 and step 2,000 (a graph
or gradient that is never freed would grow it by megabytes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

DATA_SAMPLES, BATCH = 2048, 128
CHECKPOINTS = (200, 2000)


def read_memory() -> dict:
    """VmRSS and VmHWM of this process in MB (ru_maxrss for the peak if /proc is absent)."""
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0]) / 1024  # kB → MB
    except OSError:
        import resource

        scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, kB on Linux
        out["VmHWM"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20
        out["VmRSS"] = None
    return out


def worker(kind: str) -> None:
    """Train for max(CHECKPOINTS) steps and print one JSON line of memory readings."""
    import numpy as np

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    rng = np.random.default_rng(0)
    images = rng.standard_normal((DATA_SAMPLES, 784), dtype=np.float32)
    labels = rng.integers(0, 10, DATA_SAMPLES, dtype=np.int64)
    readings = {}
    if kind == "minitl":
        import models

        import minitl
        from minitl.nn import functional as F
        from minitl.optim import SGD

        model = models.mlp()
        opt = SGD(model.parameters(), lr=models.LR)

        def step(xb, yb):
            opt.zero_grad()
            loss = F.cross_entropy(model(minitl.tensor(xb)), minitl.tensor(yb))
            loss.backward()
            opt.step()
    else:
        from reference_numpy import MLPRef

        sizes = (784, 256, 256, 10)
        weights = [rng.standard_normal((b, a), dtype=np.float32) * np.float32(a ** -0.5)
                   for a, b in zip(sizes[:-1], sizes[1:])]
        biases = [np.zeros(b, dtype=np.float32) for b in sizes[1:]]
        ref = MLPRef(weights, biases, lr=0.01)

        def step(xb, yb):
            ref.step(xb, yb)

    readings["setup"] = read_memory()
    batches = DATA_SAMPLES // BATCH
    for i in range(1, max(CHECKPOINTS) + 1):
        j = (i % batches) * BATCH
        step(images[j:j + BATCH], labels[j:j + BATCH])
        if i in CHECKPOINTS:
            readings[str(i)] = read_memory()
    print(json.dumps(readings))


def measure(kind: str) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", kind],
                          capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run():
    import harness

    per = {kind: measure(kind) for kind in ("minitl", "numpy")}
    first, last = (str(c) for c in CHECKPOINTS)
    peak = {k: v[first]["VmHWM"] for k, v in per.items()}
    growth = {k: (v[last]["VmRSS"] - v[first]["VmRSS"]) if v[last]["VmRSS"] is not None
              else v[last]["VmHWM"] - v[first]["VmHWM"] for k, v in per.items()}
    training = {k: v[first]["VmHWM"] - v["setup"]["VmRSS"] for k, v in per.items()
                if v["setup"]["VmRSS"] is not None}
    goals = [
        harness.goal(f"peak RSS of {first} MLP steps / NumPy process", peak["minitl"] /
                     peak["numpy"], 1.2),
        harness.goal(f"RSS growth, step {first} → {last} (minitl)", growth["minitl"], 2,
                     unit=" MB"),
    ]
    return {"readings_mb": per, "peak_mb": peak, "growth_mb": growth,
            "training_peak_over_setup_mb": training, "goals": goals,
            "notes": f"MLP 784-256-256-10, batch {BATCH}, {DATA_SAMPLES} random images held "
                     "in memory, one process per implementation, 1 BLAS thread"}


def print_section(section):
    import harness

    first, last = (str(c) for c in CHECKPOINTS)
    rows = []
    for kind, r in section["readings_mb"].items():
        rows.append([kind, f"{r['setup']['VmRSS']:.1f}", f"{r[first]['VmHWM']:.1f}",
                     f"{section['training_peak_over_setup_mb'].get(kind, float('nan')):.1f}",
                     f"{r[last]['VmRSS']:.1f}", f"{section['growth_mb'][kind]:+.2f}"])
    harness.print_table(["MLP process (MB)", "RSS after setup", f"peak @{first}",
                         "peak − setup", f"RSS @{last}", f"growth {first}→{last}"], rows)


def main():
    import harness

    section = run()
    harness.publish("memory", section, print_section)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
    else:
        main()
