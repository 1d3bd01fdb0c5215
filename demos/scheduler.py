"""Where the work units of a sweep run: this machine's processes, or a Dask cluster.

An experiment is a list of independent *work units* (one seed, or one seed of one model
variant) and a module-level function that turns a unit into its result. A unit's result
depends only on the unit, so the units may run anywhere, in any order, and be run again:

* ``scheduler=None`` (the default): in this process when ``jobs`` is 1, else in ``jobs``
  processes started with ``spawn`` (standard library only);
* ``scheduler="local"``: a ``dask.distributed.LocalCluster`` of ``jobs`` single-threaded
  worker processes, listening on 127.0.0.1 only, started for this run and shut down after
  it (also when a unit fails), each with the allocator settings :data:`STEADY_ALLOCATOR`
  (all its settings: :data:`LOCAL_CLUSTER_CONFIG`);
* ``scheduler="tcp://HOST:PORT"`` (any other string): a running Dask scheduler whose
  workers may be on other machines (docs/CLUSTER.md); ``jobs`` is then the cluster's
  business.

Whichever it is, :func:`run_units` returns the results in the order of the units, equal to
a serial run bit for bit, with a progress bar on stderr.

Failures. A worker process that dies mid-unit (killed, out of memory, machine gone) loses
only that unit: the Dask scheduler hands it to another worker, up to its
``allowed-failures`` limit (set to :data:`ALLOWED_FAILURES` on a local cluster; a remote
scheduler keeps its own setting, 3 by default). A unit that *raises* is retried
``retries`` times, then its exception reaches the caller. The Dask path needs the
``cluster`` extra: ``pip install -e '.[cluster]'``.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from minitl.errors import MissingDependencyError

#: How often a local cluster's scheduler reschedules a unit whose worker died.
ALLOWED_FAILURES = 3
#: How long to wait for a scheduler to answer, or a local cluster to start.
CONNECT_TIMEOUT = "60s"
#: glibc malloc settings every local-cluster worker starts with: give freed memory back
#: to the kernel only when over 256 MiB of it is free, and serve only blocks over 32 MiB
#: with their own ``mmap``. Dask's nanny puts ``MALLOC_TRIM_THRESHOLD_=65536`` into each
#: worker's environment by default (``distributed.nanny.pre-spawn-environ``), and setting
#: that variable at all switches off glibc's dynamic mmap threshold: every array over
#: 128 KiB then gets a fresh ``mmap`` that page-faults on first touch, and freed heap is
#: trimmed at once. A parity unit then takes millions of minor page faults instead of
#: thousands, and every stage of it slows down alike. With these settings memory a step
#: frees is reused by the next one (bench/harness.py's ``steady_allocator`` does the same
#: with ``mallopt`` for the benchmarks). They must be in the environment before the
#: worker process starts, so they go through the nanny's ``pre-spawn-environ``; a remote
#: cluster's workers get them from their own Dask config or environment
#: (docs/CLUSTER.md). Results do not depend on them, only the time.
STEADY_ALLOCATOR = {"MALLOC_TRIM_THRESHOLD_": 2**28, "MALLOC_MMAP_THRESHOLD_": 2**25}
#: The Dask settings a local cluster starts with (set while it starts; the workers take
#: them from their nanny): the failure limit, the allocator settings above, and two
#: costs that buy nothing here. Each worker's statistical profiler samples the running
#: unit's stack every 10 ms for a dashboard the local cluster does not start, and every
#: Dask process wakes every 20 ms to check that its event loop is not blocked; both take
#: CPU from the single-threaded units on a machine with as many workers as cores.
LOCAL_CLUSTER_CONFIG = {
    "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    **{f"distributed.nanny.pre-spawn-environ.{name}": value
       for name, value in STEADY_ALLOCATOR.items()},
}


def progress_bar(total: int, desc: str):
    """A tqdm bar on stderr, or None when tqdm is unavailable."""
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is a dependency, but a bar is not worth failing over
        return None
    return tqdm(total=total, desc=desc, unit="unit", file=sys.stderr, dynamic_ncols=True)


def run_units(worker: Callable, units: Sequence, jobs: int, scheduler: str | None = None,
              desc: str = "runs", retries: int = 2) -> list:
    """``[worker(u) for u in units]``, run where ``scheduler`` says (see the module docstring).

    The results come back in the order of ``units`` whatever order they finish in.
    ``worker`` must be a module-level function of a module the workers can import (it
    travels by name), and each unit a picklable value.
    """
    units = list(units)
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if scheduler is not None:
        worker = importable(worker)  # before any cluster starts: a refusal costs nothing
    bar = progress_bar(len(units), desc)
    results: list = [None] * len(units)

    def done(i: int, value) -> None:
        results[i] = value
        if bar is not None:
            bar.update(1)

    try:
        if scheduler is not None:
            with dask_client(scheduler, jobs) as client:
                _run_on_dask(client, worker, units, retries, done)
        elif jobs == 1 or len(units) <= 1:
            for i, unit in enumerate(units):
                done(i, worker(unit))
        else:
            _run_in_processes(worker, units, jobs, done)
    finally:
        if bar is not None:
            bar.close()
    return results


def _run_in_processes(worker: Callable, units: list, jobs: int, done) -> None:
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(units)),
                               mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = {pool.submit(worker, unit): i for i, unit in enumerate(units)}
        for future in as_completed(futures):
            done(futures[future], future.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_on_dask(client, worker: Callable, units: list, retries: int, done) -> None:
    from distributed import as_completed as dask_as_completed

    # pure=False: every unit is its own task, even if two units happen to be equal.
    futures = [client.submit(worker, unit, pure=False, retries=retries) for unit in units]
    index = {future.key: i for i, future in enumerate(futures)}
    try:
        for future in dask_as_completed(futures):
            done(index[future.key], future.result())
    finally:
        client.cancel(futures)


def importable(worker: Callable) -> Callable:
    """``worker``, from a module a Dask worker can import by name.

    A demo started as ``python -m demos.parity`` defines its functions in ``__main__``,
    which exists only in this process; the same function imported as ``demos.parity``
    travels by name like any other. (A process pool needs no such care: ``spawn``
    re-imports ``__main__`` in every child.)
    """
    if getattr(worker, "__module__", None) != "__main__":
        return worker
    import importlib

    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is None:
        raise ValueError(
            f"{worker.__name__} is defined in a script run by path; Dask workers cannot "
            "import it: run the script as a module (python -m demos.NAME)")
    return getattr(importlib.import_module(spec.name), worker.__qualname__)


def _require_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise MissingDependencyError(
            "--scheduler runs the units on Dask, which is not installed: "
            "pip install -e '.[cluster]' (or pip install 'dask[distributed]>=2024.1')"
        ) from exc
    return distributed


@contextlib.contextmanager
def dask_client(scheduler: str, jobs: int = 1) -> Iterator:
    """A ``distributed.Client`` for ``scheduler``, closed (and a local cluster shut down) on exit.

    ``"local"`` starts a ``LocalCluster`` of ``jobs`` worker processes with one thread
    each, on 127.0.0.1, without a dashboard, under :data:`LOCAL_CLUSTER_CONFIG` (so each
    worker starts with :data:`STEADY_ALLOCATOR` in its environment; a variable already set
    in this process's environment wins, as Dask has it); any other string is a
    scheduler's address.
    """
    distributed = _require_distributed()
    import dask

    if scheduler == "local":
        with dask.config.set(LOCAL_CLUSTER_CONFIG):
            cluster = distributed.LocalCluster(
                n_workers=jobs, threads_per_worker=1, processes=True, host="127.0.0.1",
                scheduler_port=0, dashboard_address=None)
        try:
            with distributed.Client(cluster, timeout=CONNECT_TIMEOUT) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
    except OSError as exc:
        raise ConnectionError(
            f"could not reach the Dask scheduler at {scheduler!r} within {CONNECT_TIMEOUT}: "
            "is `dask scheduler` running there, and the address right (tcp://HOST:8786)?"
        ) from exc
    with client:
        yield client


def scheduler_address(text: str) -> str:
    """``argparse`` type of ``--scheduler``: ``local`` or an address like ``tcp://HOST:PORT``."""
    if text == "local" or ("://" in text) or (":" in text and not text.startswith(":")):
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r} is neither 'local' nor a scheduler address such as tcp://10.0.0.5:8786")


def add_scheduler_argument(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--scheduler`` (default None: this machine's processes) to ``parser``."""
    parser.add_argument(
        "--scheduler", type=scheduler_address, default=None, metavar="ADDRESS",
        help="run the work units on Dask: 'local' starts a cluster of --jobs worker "
             "processes on this machine for the run; tcp://HOST:PORT uses a running "
             "scheduler and its workers (docs/CLUSTER.md). Default: no Dask, --jobs local "
             "processes")
    return parser
