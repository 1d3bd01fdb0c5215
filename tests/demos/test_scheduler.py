"""demos/scheduler.py: the same results on a process pool, a local Dask cluster or a
scheduler address; a unit whose worker dies is rerun; nothing is left running; a demo
given --scheduler local decides the same claims as its default run."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys

import psutil
import pytest
import scheduler_workers as sw

from demos import protocol
from demos.scheduler import add_scheduler_argument, dask_client, importable, run_units
from minitl.errors import MissingDependencyError

distributed = pytest.importorskip("distributed", reason="pip install -e '.[cluster]'")

SEEDS = list(range(6))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def same(a: list[dict], b: list[dict]) -> None:
    assert [r["seed"] for r in a] == [r["seed"] for r in b]
    for x, y in zip(a, b, strict=True):
        assert x["value"] == y["value"]
        assert x["blas_threads"] == y["blas_threads"]
        assert x["vector"].tobytes() == y["vector"].tobytes()


def live_children() -> set[int]:
    """Child processes of this test process, except multiprocessing's resource tracker
    (the standard library keeps that one for the life of the parent, by design)."""
    out = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(p.cmdline()):
                out.add(p.pid)
        except psutil.NoSuchProcess:
            pass
    return out


@pytest.fixture
def nothing_left_running():
    """After the test, every process it started has exited."""
    before = live_children()
    yield
    new = [psutil.Process(pid) for pid in live_children() - before if psutil.pid_exists(pid)]
    _, alive = psutil.wait_procs(new, timeout=30)
    assert not alive, f"still running after the test: {[p.cmdline() for p in alive]}"


@pytest.fixture(scope="module")
def serial():
    return run_units(sw.noisy_sum, SEEDS, jobs=1)


def test_serial_is_the_plain_loop(serial):
    same(serial, [sw.noisy_sum(s) for s in SEEDS])


def test_process_pool_equals_serial(serial, nothing_left_running):
    same(run_units(sw.noisy_sum, SEEDS, jobs=2), serial)


def test_local_cluster_equals_serial_bit_for_bit(serial, nothing_left_running):
    same(run_units(sw.noisy_sum, SEEDS, jobs=2, scheduler="local", desc="local"), serial)


def test_local_cluster_workers_start_with_the_steady_allocator_and_no_profiler(
        nothing_left_running):
    # Dask's nanny would give each worker MALLOC_TRIM_THRESHOLD_=65536, which turns every
    # array over 128 KiB into a fresh mmap that page-faults (docs/CLUSTER.md).
    documented = {"MALLOC_TRIM_THRESHOLD_": "268435456", "MALLOC_MMAP_THRESHOLD_": "33554432"}
    with dask_client("local", 2) as client:
        reports = list(client.run(sw.allocator_report).values())
    assert len(reports) == 2
    for report in reports:
        assert report["faults"] < report["pages"] / 10, report  # freed memory is reused
        assert report["env"] == documented
        assert report["profiler"] is False  # no dashboard to show its samples
    import demos.scheduler

    assert {k: str(v) for k, v in demos.scheduler.STEADY_ALLOCATOR.items()} == documented


def test_a_killed_worker_has_its_unit_rerun(tmp_path, serial, nothing_left_running):
    marker = tmp_path / "killed"
    units = [(s, str(marker), 3) for s in SEEDS]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            pids = set(client.run(os.getpid).values())
            got = run_units(sw.die_once, units, jobs=1, scheduler=cluster.scheduler_address)
            assert marker.exists(), "the victim unit never ran"
            killed = int(marker.read_text())
            assert killed in pids and not psutil.pid_exists(killed)  # it really died
    same(got, serial)


def test_an_error_in_a_unit_reaches_the_caller_and_stops_the_cluster(nothing_left_running):
    units = [(s, 2) for s in range(4)]
    with pytest.raises(ValueError, match="unit 2 is broken"):
        run_units(sw.fail_on, units, jobs=2, scheduler="local", retries=0)


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingDependencyError, match=r"pip install -e '\.\[cluster\]'"):
        run_units(sw.noisy_sum, SEEDS, jobs=2, scheduler="local")
    with pytest.raises(MissingDependencyError):
        with dask_client("tcp://127.0.0.1:1"):
            pass


def test_unreachable_scheduler_is_a_clear_error(monkeypatch):
    monkeypatch.setattr("demos.scheduler.CONNECT_TIMEOUT", "1s")
    with socket.socket() as sock:  # a port that is bound, but where nobody listens
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
        with pytest.raises(ConnectionError, match="could not reach the Dask scheduler"):
            run_units(sw.noisy_sum, SEEDS, jobs=1, scheduler=address)


def test_scheduler_argument():
    p = add_scheduler_argument(argparse.ArgumentParser())
    assert p.parse_args([]).scheduler is None
    assert p.parse_args(["--scheduler", "local"]).scheduler == "local"
    assert p.parse_args(["--scheduler", "tcp://10.0.0.5:8786"]).scheduler == "tcp://10.0.0.5:8786"
    with pytest.raises(SystemExit):
        p.parse_args(["--scheduler", "lokal"])


def test_a_demo_run_as_a_module_sends_its_own_functions(tmp_path, nothing_left_running):
    # `python -m demos.NAME --scheduler local` defines its unit function in __main__.
    out = tmp_path / "out.json"
    here = os.path.dirname(__file__)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([here, ROOT]))
    subprocess.run([sys.executable, "-m", "scheduler_main", str(out)], cwd=here, env=env,
                   check=True, timeout=300, capture_output=True)
    result = json.loads(out.read_text())
    assert result["dask"] == result["serial"]
    # Sent by name, from the module imported under its real name, not copied from __main__.
    assert result["modules"] == ["scheduler_main"] * 4


def test_a_function_of_a_script_run_by_path_is_refused(monkeypatch):
    def unit(seed):
        return seed

    unit.__module__ = "__main__"
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", None, raising=False)
    with pytest.raises(ValueError, match="python -m demos.NAME"):
        importable(unit)


_DEMO = """
import json, sys
import psutil
from demos import {module} as m
m.main({argv} + ["--out", sys.argv[1]], smoke=True)
alive = [p.cmdline() for p in psutil.Process().children(recursive=True)
         if "resource_tracker" not in " ".join(p.cmdline())]
json.dump(alive, open(sys.argv[2], "w"))
"""


def _demo(module: str, argv: list[str], out, zoo) -> dict:
    """The demo's command line (its small smoke configuration) in a fresh interpreter with
    BLAS pinned to one thread, as ``make demo`` runs it; returns its results.json and
    checks that no process it started outlived the run."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "MINITL_ZOO": str(zoo)}
    alive = out.with_suffix(".alive.json")
    subprocess.run([sys.executable, "-c", _DEMO.format(module=module, argv=argv), str(out),
                    str(alive)], check=True, env=env, cwd=ROOT, capture_output=True,
                   timeout=300)
    assert json.loads(alive.read_text()) == []
    return json.loads((out / "results.json").read_text())


def test_parity_on_a_local_cluster_gives_the_default_claims(tmp_path, nothing_left_running):
    args = ["--seeds", "2", "--seed-offset", "10000", "--jobs", "2"]
    default = _demo("parity", args, tmp_path / "default", tmp_path / "zoo-default")
    local = _demo("parity", args + ["--scheduler", "local"], tmp_path / "local",
                  tmp_path / "zoo-local")
    assert default["scheduler"] is None and local["scheduler"] == "local"
    assert [c["id"] for c in local["claims"]] == protocol.claim_ids("parity")
    assert local["claims"] == default["claims"]
    strip = ("seconds", "timings")
    assert [{k: v for k, v in r.items() if k not in strip} for r in local["runs"]] == \
        [{k: v for k, v in r.items() if k not in strip} for r in default["runs"]]


def test_tune_hands_its_scheduler_to_the_search(monkeypatch):
    from demos import tune

    seen = []

    def fake_tune(module, jobs, seeds=tune.TUNING_SEEDS, scheduler=None):
        seen.append((module.EXPERIMENT, scheduler))
        return {"log": [], "seconds": 0.0, "choices": {}}

    monkeypatch.setattr(tune, "tune", fake_tune)
    monkeypatch.setattr(tune.xc, "write_json", lambda path, data: None)
    tune.main(["--scheduler", "tcp://10.0.0.5:8786"])
    assert seen == [("parity", "tcp://10.0.0.5:8786"), ("animals_digits", "tcp://10.0.0.5:8786")]
    tune.main(["--experiment", "parity"])
    assert seen[-1] == ("parity", None)
