"""Where a minitl training step spends its time: per-op timings and cProfile's top functions.

Usage: ``python bench/profile_step.py {mlp,tiny,cnn} [--steps N] [--top K]``. One BLAS
thread. First times each Function's forward and backward (and the rest: engine,
module calls, optimizer) over N steps, then profiles N steps of minitl and of the
hand-written NumPy reference with cProfile, interleaved, and prints the top functions
by own time. Not part of ``make bench``: use it when a goal is missed.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import io
import pstats
import time

import bench_models
import harness
import models

from minitl.autograd import Function


def _function_classes():
    pending, seen = [Function], []
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls is not Function and "forward" in cls.__dict__ and cls not in seen:
            seen.append(cls)
    return seen


def per_op(step, steps):
    """ms per step spent in each op's forward and backward; restores the ops afterwards."""
    spent = collections.defaultdict(float)
    clock = time.perf_counter
    saved = []
    for cls in _function_classes():
        fwd, bwd = cls.__dict__["forward"], cls.__dict__.get("backward")
        saved.append((cls, fwd, bwd))

        def timed_fwd(*a, _f=fwd.__func__, _n=cls.__name__, **k):
            t = clock()
            out = _f(*a, **k)
            spent[_n + ".forward"] += clock() - t
            return out

        cls.forward = staticmethod(timed_fwd)
        if bwd is not None:
            def timed_bwd(*a, _b=bwd.__func__, _n=cls.__name__):
                t = clock()
                out = _b(*a)
                spent[_n + ".backward"] += clock() - t
                return out

            cls.backward = staticmethod(timed_bwd)
    try:
        for _ in range(10):
            step()
        spent.clear()
        start = clock()
        for _ in range(steps):
            step()
        total = clock() - start
    finally:
        for cls, fwd, bwd in saved:
            cls.forward = fwd
            if bwd is not None:
                cls.backward = bwd
    rows = sorted(spent.items(), key=lambda kv: -kv[1])
    rows.append(("(engine, modules, optimizer)", total - sum(spent.values())))
    return total / steps * 1e3, [(name, t / steps * 1e3) for name, t in rows]


def profiles(step, ref_step, steps, top, sort):
    prof_minitl, prof_ref = cProfile.Profile(), cProfile.Profile()
    for _ in range(10):
        step()
        ref_step()
    for _ in range(steps):
        prof_minitl.enable()
        step()
        prof_minitl.disable()
        prof_ref.enable()
        ref_step()
        prof_ref.disable()
    for name, prof in (("minitl", prof_minitl), ("hand-written NumPy", prof_ref)):
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out)
        stats.sort_stats(sort).print_stats(top)
        lines = out.getvalue().splitlines()
        start = next(i for i, line in enumerate(lines) if "ncalls" in line)
        print(f"\n== cProfile, {name}: {stats.total_tt / steps * 1e3:.3f} ms/step under the "
              f"profiler, top {top} by {sort}")
        print("\n".join(line for line in lines[start:] if line.strip()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=["mlp", "tiny", "cnn"])
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--sort", default="tottime")
    args = parser.parse_args()
    name, kind, n, build, loss, _, default_steps = next(
        m for m in bench_models.MODELS if m[1] == args.model)
    steps = args.steps or default_steps
    x, y = models.batch(kind, n)
    model = build()
    ref = bench_models.reference(model, kind)
    step = models.minitl_step(model, x, y, loss)
    with harness.pin_blas(1):
        total, rows = per_op(step, steps)
        print(f"{name}: {total:.3f} ms/step (minitl, timers on each op)")
        harness.print_table(["where", "ms/step"], [[k, f"{v:.3f}"] for k, v in rows])
        profiles(step, lambda: ref.step(x, y), steps, args.top, args.sort)


if __name__ == "__main__":
    main()
