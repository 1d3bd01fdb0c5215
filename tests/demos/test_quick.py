"""Smoke tests of the two experiments (demos/parity.py, demos/animals_digits.py).

They run a tiny configuration (``smoke=True``: a few dozen steps, two training-set sizes,
two seeds) end to end, through the same code as ``make demo``, and check what the runs
must deliver: the results file with every pre-registered claim id, the report, the
figures, and that running seeds in parallel processes (``--jobs 2``) gives exactly the
numbers of a serial run. None of the claims is expected to pass at this size; only their
form is checked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from demos import animals_digits, parity, protocol

ROOT = Path(__file__).resolve().parents[2]
CLAIM_FIELDS = {"id", "statement", "passed", "estimate", "ci95", "n_seeds"}
TIMING_KEYS = {"seconds", "timings"}


def _check_claims(claims: list[dict], ids: list[str]) -> None:
    assert [c["id"] for c in claims] == ids
    for c in claims:
        assert CLAIM_FIELDS <= set(c), c
        assert c["passed"] is None or isinstance(c["passed"], bool)
        assert isinstance(c["statement"], str) and c["statement"]
        assert c["estimate"] is None or isinstance(c["estimate"], float)
        assert c["ci95"] is None or (len(c["ci95"]) == 2 and c["ci95"][0] <= c["ci95"][1])
        assert c["n_seeds"] is None or isinstance(c["n_seeds"], int)
        assert isinstance(c["details"], dict)


def _check_run_files(out, experiment: str, figures: list[str]) -> dict:
    results = json.loads((out / "results.json").read_text())
    assert results["experiment"] == experiment
    assert results["seeds"] == [10_000, 10_001]
    report = (out / "report.md").read_text()
    assert "## Claims" in report and "| id |" in report
    assert "adapt" in report  # the §10 loop's decisions are reported
    for name in figures:
        assert (out / name).stat().st_size > 0, name
    return results


def test_parity_smoke(tmp_path):
    out = tmp_path / "parity"
    parity.main(["--seeds", "2", "--seed-offset", "10000", "--jobs", "1", "--out", str(out)],
                smoke=True)
    results = _check_run_files(out, "parity", ["sample_efficiency.png", "learning_curves.png",
                                                "body_vs_head.png"])
    cfg = parity.make_config(smoke=True)
    arms = {r["arm"] for r in results["runs"]}
    assert arms == {a for a, _, _ in parity.ARMS}
    for r in results["runs"]:
        assert 0.0 <= r["test_acc"] <= 1.0
        assert r["n_train"] in cfg["ns"]
        assert set(r["update"]) == {"body", "head"}
        if r["arm"] == "fe_thermometer":
            assert r["update"]["body"] == 0.0  # frozen body: not moved at all
    # every arm × N × seed at most once (paired)
    assert len(results["runs"]) == len({(r["arm"], r["n_train"], r["seed"])
                                        for r in results["runs"]})
    assert {s["source"] for s in results["transferability"]} == {
        "thermometer", "binary", "random", "untrained"}
    assert len(results["adapt"]) == 2 and all(a["chosen"] for a in results["adapt"])
    _check_claims(results["claims"], protocol.claim_ids("parity"))


def test_animals_smoke(tmp_path):
    out = tmp_path / "animals"
    animals_digits.main(["--seeds", "2", "--seed-offset", "10000", "--jobs", "1", "--out",
                         str(out)], smoke=True)
    results = _check_run_files(out, "animals_digits", [
        "sample_efficiency.png", "mismatch_parts.png", "forgetting_drift.png",
        "instability_updates.png"])
    cfg = animals_digits.make_config(smoke=True)
    assert len(results["runs"]) == len(animals_digits.ARMS) * len(cfg["ns"]) * 2
    for r in results["runs"]:
        if r["arm"] in animals_digits.MONITORED and r["n_train"] == cfg["monitor_n"]:
            m = r["monitor"]
            assert m["cka_target_curve"][1][0] == pytest.approx(1.0)
            if r["arm"].startswith(("naive", "aggressive")):
                # the useful/destructive parts add up to the measured change of E; the
                # first evaluation (step 0) has nothing before it
                e = m["mismatch_curve"][1]
                parts = np.array(m["mismatch_destructive_curve"][1]) - np.array(
                    m["mismatch_useful_curve"][1])
                assert parts[0] == 0.0
                assert np.allclose(np.diff(e), parts[1:], atol=1e-9)
    _check_claims(results["claims"], protocol.claim_ids("animals"))


def test_quick_flag_decides_nothing(tmp_path):
    res = parity.main(["--seeds", "2", "--seed-offset", "10000", "--jobs", "1", "--quick",
                       "--out", str(tmp_path / "q")], smoke=True)
    assert all(c["passed"] is None for c in res["claims"])
    assert "not decided (quick)" in (tmp_path / "q" / "report.md").read_text()


def _strip(obj):
    """Drop wall-clock timings, which differ from run to run."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in TIMING_KEYS}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


_RUN = """
import json, sys
from demos import {module} as m
cfg = m.make_config(smoke=True)
res = m.run({seeds}, cfg, jobs={jobs}, write=False)
json.dump({{"runs": res["runs"], "claims": res["claims"]}}, open(sys.argv[1], "w"))
"""


def _run_in_subprocess(module: str, jobs: int, path, seeds=(10000, 10001)) -> dict:
    """Run in a fresh interpreter with BLAS pinned to one thread from the start, as
    ``python -m demos.<name>`` and the make targets do. (In this pytest process NumPy was
    imported before ``demos`` could pin it, and a 2-thread BLAS sums in another order.)"""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    code = _RUN.format(module=module, jobs=jobs, seeds=list(seeds))
    subprocess.run([sys.executable, "-c", code, str(path)],
                   check=True, env=env, cwd=ROOT, capture_output=True, timeout=120)
    return json.loads(path.read_text())


@pytest.mark.parametrize("module", ["parity", "animals_digits"])
def test_parallel_equals_serial(module, tmp_path):
    serial = _run_in_subprocess(module, 1, tmp_path / "serial.json")
    parallel = _run_in_subprocess(module, 2, tmp_path / "parallel.json")
    assert _strip(serial) == _strip(parallel)
    again = _run_in_subprocess(module, 1, tmp_path / "again.json")
    assert _strip(again) == _strip(serial)  # same seeds, same numbers
    other = _run_in_subprocess(module, 1, tmp_path / "other.json", seeds=(10002, 10003))
    assert _strip(other)["runs"] != _strip(serial)["runs"]  # other seeds, other numbers


@pytest.mark.parametrize("demo", [parity, animals_digits], ids=["parity", "animals_digits"])
def test_real_digits_smoke(tmp_path, demo):
    """``--digits real`` runs the same arms and decides the same claim ids, on real images
    (every target image is one of scikit-learn's digits, none drawn by the glyph code)."""
    from minitl.data import real_digit_ids, real_digits

    out = tmp_path / "real"
    results = demo.main(["--seeds", "2", "--seed-offset", "10000", "--jobs", "1",
                         "--digits", "real", "--out", str(out)], smoke=True)
    assert results["digits"] == "real" and results["config"]["digits"] == "real"
    experiment = "parity" if demo is parity else "animals"
    _check_claims(results["claims"], protocol.claim_ids(experiment))
    data = demo.load_data(10000, demo.make_config(smoke=True, digits="real"))
    test_x = data["test"][0]
    real = real_digits(seed=10000, split="test", pool="all" if demo is animals_digits
                       else "target").images
    shown = test_x.reshape(-1, *real.shape[1:])  # parity: both slots of every number
    found = (shown[:, None] == real[None]).all(axis=(2, 3, 4)).any(axis=1)
    assert found.all()
    full = demo.make_config(digits="real")  # the configured sizes fit the real splits
    pool = "all" if demo is animals_digits else "target"
    if demo is animals_digits:
        for split, key in (("train", "n_pool"), ("val", "n_val"), ("test", "n_test")):
            assert full[key] <= len(real_digit_ids(0, split, pool))
        assert len(results["runs"]) == len(animals_digits.ARMS) * 2 * 2
    else:
        assert {r["arm"] for r in results["runs"]} == {a for a, _, _ in parity.arms_of(full)}
        assert "lpft_glyphsource" in {r["arm"] for r in results["runs"]}
