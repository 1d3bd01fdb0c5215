"""Module-level work units for tests/demos/test_scheduler.py (workers import them by name)."""

from __future__ import annotations

import os
import resource
import signal
from pathlib import Path

import numpy as np


def noisy_sum(seed: int) -> dict:
    """A small numeric unit whose result depends only on its seed (float64, BLAS and all).

    It also reports the BLAS thread limit it ran under, which a worker must inherit.
    """
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((40, 40))
    v = np.linalg.solve(a @ a.T + np.eye(40), rng.standard_normal(40))
    return {"seed": seed, "value": float(v.sum()), "vector": v,
            "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS")}


def die_once(unit: tuple[int, str, int]) -> dict:
    """``noisy_sum``, except that unit ``victim`` kills its own worker process the first time.

    The marker file records that the kill happened, so the rerun (on a new worker) lives.
    """
    seed, marker, victim = unit
    if seed == victim and not Path(marker).exists():
        Path(marker).write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return noisy_sum(seed)


def fail_on(unit: tuple[int, int]) -> int:
    """Raise for unit ``bad``: an error inside a unit must reach the caller."""
    seed, bad = unit
    if seed == bad:
        raise ValueError(f"unit {seed} is broken")
    return seed


def allocator_report(rounds: int = 100, size: int = 2**18) -> dict:
    """The worker's malloc settings, and the minor page faults of allocating, touching and
    freeing a 2 MiB array ``rounds`` times: a few dozen when freed memory is reused, about
    ``rounds`` x 512 when each array is a fresh ``mmap`` (the page-fault storm)."""
    np.ones(size).sum()  # warm up: the first array may grow the heap
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        np.ones(size).sum()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    import dask

    return {"env": {k: os.environ.get(k) for k in ("MALLOC_TRIM_THRESHOLD_",
                                                   "MALLOC_MMAP_THRESHOLD_")},
            "faults": faults, "pages": rounds * size * 8 // resource.getpagesize(),
            "profiler": dask.config.get("distributed.worker.profile.enabled")}
