"""Smoke tests of the two experiments (demos/parity.py, demos/animals_digits.py).

They run a tiny configuration (``smoke=True``: a few dozen steps, two training-set sizes,
two seeds) end to end, through the same code as ``make demo-parity`` / ``make
demo-animals``, and check what the runs must deliver: the results file and its claims,
the report, the figures, and that running seeds in parallel processes (``--jobs 2``)
gives exactly the numbers of a serial run. None of the claims is expected to pass at
this size; only their form is checked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from demos import animals_digits, parity

ROOT = Path(__file__).resolve().parents[2]
CLAIM_FIELDS = {"id", "statement", "passed", "estimate", "ci95", "n_seeds"}
TIMING_KEYS = {"seconds", "timings"}


def _check_claims(claims: list[dict], ids: list[str]) -> None:
    assert [c["id"] for c in claims] == ids
    for c in claims:
        assert CLAIM_FIELDS <= set(c), c
        assert isinstance(c["passed"], bool)
        assert isinstance(c["statement"], str) and c["statement"]
        assert c["estimate"] is None or isinstance(c["estimate"], float)
        assert c["ci95"] is None or (len(c["ci95"]) == 2 and c["ci95"][0] <= c["ci95"][1])
        assert c["n_seeds"] is None or isinstance(c["n_seeds"], int)


def _check_run_files(out, experiment: str, figures: list[str]) -> dict:
    results = json.loads((out / "results.json").read_text())
    assert results["experiment"] == experiment
    assert results["seeds"] == [10_000, 10_001]
    report = (out / "report.md").read_text()
    assert "## Claims" in report and "| id |" in report
    assert "Checklist" in report  # the toolkit's checklist report is included
    for name in figures:
        assert (out / name).stat().st_size > 0, name
    return results


def test_parity_smoke(tmp_path):
    out = tmp_path / "parity"
    parity.main(["--seeds", "2", "--seed-offset", "10000", "--jobs", "1", "--out", str(out)],
                smoke=True)
    results = _check_run_files(out, "parity", ["sample_efficiency.png", "ablations.png",
                                                "learning_curves.png"])
    cfg = parity.make_config(smoke=True)
    arms = {r["arm"] for r in results["runs"]}
    assert {"scratch", "matched_norm", "fe_thermometer", "naive_thermometer",
            "safe_thermometer", "lpft_thermometer", "lpft_random", "lpft_binary",
            "untrained_frozen", "scratch_bits", "lpft_scalar", "lpft_flat"} <= arms
    for r in results["runs"]:
        assert 0.0 <= r["test_acc"] <= 1.0
        assert r["n_train"] in cfg["ns"]
    # every arm × N × seed is there, paired
    shared = [r for r in results["runs"] if r["variant"] == "shared"]
    assert len(shared) == len({(r["arm"], r["n_train"], r["seed"]) for r in shared})
    assert len(shared) == len(parity._arms("shared")) * len(cfg["ns"]) * 2
    assert {s["source"] for s in results["transferability"]} == {
        "thermometer", "binary", "random", "untrained"}
    _check_claims(results["claims"], ["1", "2", "3", "4", "5"])


def test_animals_smoke(tmp_path):
    out = tmp_path / "animals"
    animals_digits.main(["--seeds", "2", "--seed-offset", "10000", "--jobs", "1", "--out",
                         str(out)], smoke=True)
    results = _check_run_files(out, "animals_digits", [
        "sample_efficiency.png", "forgetting_cka_mismatch.png", "update_ratios.png",
        "loss_curves.png", "first_layer_filters.png"])
    cfg = animals_digits.make_config(smoke=True)
    assert len(results["runs"]) == len(animals_digits.ARMS) * len(cfg["ns"]) * 2
    for r in results["runs"]:
        if r["arm"] in animals_digits.MONITORED:
            m = r["monitor"]
            assert 0.0 <= m["source_acc_end"] <= 1.0
            assert m["cka_target_end"] <= 1.0 + 1e-9
            assert m["first_layer"] == "body.1"
    _check_claims(results["claims"], ["6", "7", "8"])


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
if m.EXPERIMENT == "parity":
    cfg["variants"] = ["shared", "bits"]  # keeps the test short; flat/scalar are alike
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
