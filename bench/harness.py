"""The timing harness shared by the benchmark scripts.

* :func:`compare` times several implementations *in the same process, interleaved*
  (A, B, C, A, B, C, …) after a warm-up, and returns each one's median in ms. On a
  shared, noisy machine interleaving matters more than anything else: a slow period
  hits every implementation alike instead of whichever happened to run then.
* :func:`pin_blas` limits the BLAS (and OpenMP) thread pools with threadpoolctl.
* :func:`machine_info` describes the machine for the results file and the README.
* :func:`update_results` merges one script's section into ``bench/results.json``;
  :func:`goal` records a goal with its measured value and whether it is met.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results.json"

if str(ROOT) not in sys.path:  # run as `python bench/x.py` from a fresh clone
    sys.path.insert(0, str(ROOT))


# ----------------------------------------------------------------------------- timing


def compare(cases: dict, steps: int = 30, warmup: int = 5, sync=None) -> dict:
    """Median milliseconds per call of each callable in ``cases``, timed interleaved.

    Each round calls every case once, in order; ``warmup`` rounds are discarded, then
    ``steps`` rounds are timed. ``sync`` (e.g. a GPU synchronise) is called before each
    clock read, so asynchronous work is charged to the call that queued it.
    Returns ``{name: median_ms}``; :func:`compare_stats` also gives quartiles.
    """
    return {name: s["median_ms"] for name, s in compare_stats(cases, steps, warmup, sync).items()}


def compare_stats(cases: dict, steps: int = 30, warmup: int = 5, sync=None) -> dict:
    """Like :func:`compare`, with ``{name: {"median_ms", "p25_ms", "p75_ms", "steps",
    "page_faults_per_step"}}``."""
    if steps < 1:
        raise ValueError("compare: steps must be at least 1")
    sync = sync or (lambda: None)
    times = {name: [] for name in cases}
    faults = {name: 0 for name in cases}
    clock = time.perf_counter
    for round_ in range(warmup + steps):
        for name, fn in cases.items():
            sync()
            faults_before = _minor_faults()
            start = clock()
            fn()
            sync()
            elapsed = clock() - start
            if round_ >= warmup:
                times[name].append(elapsed * 1e3)
                faults[name] += _minor_faults() - faults_before
    out = {}
    for name, ts in times.items():
        q = statistics.quantiles(ts, n=4) if len(ts) > 1 else [ts[0]] * 3
        out[name] = {"median_ms": statistics.median(ts), "p25_ms": q[0], "p75_ms": q[2],
                     "steps": len(ts), "page_faults_per_step": round(faults[name] / steps, 1)}
    return out


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def steady_allocator() -> str:
    """Stop glibc's malloc from handing freed memory back to the kernel (for the rest of
    this process): what ``bench_models.py`` does before it times implementations side by side.

    By default glibc shrinks the heap whenever more than a few MB at its top are free,
    and serves blocks above a moving size threshold with fresh ``mmap`` calls. A training
    step frees most of what it allocated, so each step then grows the heap again and
    touches every page anew: on the benchmark CNN that is ~2,000 page faults per step,
    a third of its time. Worse, the implementations timed side by side share one heap,
    so each one's fault count depends on what the *other* allocates: holding 2.4 MB less
    in minitl's graph once moved the hand-written reference from 2,000 faults per step
    to 300 and the ratio from 1.12× to 1.35×, with neither's arithmetic changed
    (docs/SCIENCE.md, "Speed"). With trimming off and ``mmap`` kept for blocks over
    32 MB, memory freed by a step is reused by the next one, every implementation runs
    without page faults after the warm-up, and the ratios measure the work done. The
    other benchmarks keep the defaults: the transfer section's speed-ups are minitl's
    own, as a user sees them, and peak memory is measured by bench_memory.py.
    Returns what is in force, for the results file; elsewhere than glibc it does nothing.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return "default (not glibc)"
    if mallopt(_M_TRIM_THRESHOLD, 2**30) and mallopt(_M_MMAP_THRESHOLD, 2**25):
        return "glibc: heap trimming off, mmap only above 32 MB"
    return "default (mallopt refused)"


def _minor_faults() -> int:
    """Minor page faults of this process so far: fresh memory being touched for the first
    time, a cost of allocation patterns that shows up as time in whatever runs."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


@contextlib.contextmanager
def pin_blas(n: int):
    """Limit BLAS/OpenMP pools to ``n`` threads inside the block (and PyTorch's, if loaded)."""
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    previous = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=n):
        if torch is not None:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(previous)


def blas_threads() -> list:
    """The BLAS libraries in use and their thread counts, as threadpoolctl sees them."""
    from threadpoolctl import threadpool_info

    return [{"library": i.get("internal_api"), "version": i.get("version"),
             "threads": i.get("num_threads")} for i in threadpool_info()
            if i.get("user_api") == "blas"]


def optional_torch():
    """The torch module when the ``bench`` extra is installed, else None."""
    try:
        import torch
    except ImportError:
        return None
    return torch


# ----------------------------------------------------------------------------- machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    info = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": ", ".join(f"{b['library']} {b['version']}" for b in blas_threads()) or "unknown",
        "os": f"{platform.system()} {platform.release()}",
    }
    torch = optional_torch()
    info["torch"] = torch.__version__ if torch is not None else None
    try:
        from minitl import backend

        info["cupy"] = backend.cupy.__version__ if backend.cupy_available() else None
    except Exception:  # pragma: no cover - a broken install still gets its CPU numbers
        info["cupy"] = None
    return info


# ----------------------------------------------------------------------------- results


def goal(name: str, measured, target: float, kind: str = "<=", unit: str = "×",
         note: str = "") -> dict:
    """One goal: ``measured`` must be ``kind`` ("<=" or ">=") ``target``."""
    if measured is None:
        met = None  # not measured here (e.g. no GPU)
    elif kind == "<=":
        met = bool(measured <= target)
    else:
        met = bool(measured >= target)
    return {"name": name, "measured": None if measured is None else round(float(measured), 3),
            "goal": f"{'≤' if kind == '<=' else '≥'} {target:g}{unit}", "target": target,
            "kind": kind, "unit": unit, "met": met, "note": note}


def load_results() -> dict:
    if RESULTS.exists():
        try:
            return json.loads(RESULTS.read_text())
        except json.JSONDecodeError:
            pass
    return {}


def publish(name: str, section: dict, print_section) -> None:
    """Print a benchmark's table and goals, then store it as ``name`` in results.json."""
    print_section(section)
    print()
    print_goals(section["goals"])
    update_results(name, section)


def update_results(section: str, payload: dict) -> None:
    """Replace ``section`` of bench/results.json with ``payload`` (other sections kept)."""
    results = load_results()
    results["machine"] = machine_info()
    results.setdefault("sections", {})[section] = payload
    results["updated"] = time.strftime("%Y-%m-%d %H:%M:%S")
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    tmp.replace(RESULTS)


# ----------------------------------------------------------------------------- printing


def fmt_ms(value) -> str:
    return "—" if value is None else f"{value:.3f}" if value < 1 else f"{value:.2f}"


def fmt_ratio(value) -> str:
    return "—" if value is None else f"{value:.2f}×"


def print_table(headers: list, rows: list) -> None:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]
    line = "  ".join(str(h).ljust(w) if i == 0 else str(h).rjust(w)
                     for i, (h, w) in enumerate(zip(headers, widths)))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths))))


def goal_rows(goals: list) -> list:
    rows = []
    for g in goals:
        measured = "—" if g["measured"] is None else f"{g['measured']:g}{g['unit']}"
        met = {True: "yes", False: "NO", None: "skipped"}[g["met"]]
        rows.append([g["name"], measured, g["goal"], met])
    return rows


def print_goals(goals: list) -> None:
    print_table(["goal", "measured", "target", "met"], goal_rows(goals))
