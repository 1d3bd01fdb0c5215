"""The three experiments and the quickstart run with ``--device cuda``, through their own
command lines, and give the CPU's results.

These run on a device leg only (``device_leg``): on the device double (``make test``) the
results must equal the CPU run's exactly, apart from the device and timing fields (the
double computes with NumPy, so any difference is a host/device bug, not round-off); on a
real GPU (``make test-gpu``) every run must complete with the same arms, sizes, seeds and
claims (the numbers differ in the last bits there; ``scripts/gpu_check.sh`` compares the
full runs' verdicts). Each run has a model zoo of its own, so the device run pretrains its
source models on the device instead of loading the CPU run's.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from device_double import installed

from demos import animals_digits, layers, parity, quickstart

pytestmark = pytest.mark.device_leg

SMOKE = ["--seeds", "1", "--seed-offset", "10000", "--jobs", "1", "--quick"]
NOT_RESULTS = {"device", "timings", "seconds"}  # where the runs may differ


def _results(main, device, tmp_path, monkeypatch, **kw) -> dict:
    monkeypatch.setenv("MINITL_ZOO", str(tmp_path / f"zoo_{device}"))
    out = tmp_path / device
    main(SMOKE + ["--device", device, "--out", str(out)], **kw)
    results = json.loads((out / "results.json").read_text())
    assert results.get("device") == device
    return results


def _strip(obj):
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in NOT_RESULTS}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _same_runs(on_device, on_cpu):
    if installed():
        assert _strip(on_device) == _strip(on_cpu)
    else:
        def runs(r):
            return sorted((x["arm"], x["n_train"], x["seed"]) for x in r["runs"])
        assert runs(on_device) == runs(on_cpu)
        assert [c["id"] for c in on_device["claims"]] == [c["id"] for c in on_cpu["claims"]]


@pytest.mark.filterwarnings("ignore:No artists with labels")  # one seed: an empty band
@pytest.mark.parametrize("main", [
    lambda argv: parity.main(argv, smoke=True),
    lambda argv: animals_digits.main(argv, smoke=True),
    lambda argv: layers.main(argv, smoke=True),
], ids=["parity", "animals_digits", "layers"])
def test_an_experiment_on_cuda_gives_the_cpu_results(main, tmp_path, monkeypatch):
    on_cpu = _results(main, "cpu", tmp_path, monkeypatch)
    on_device = _results(main, "cuda", tmp_path, monkeypatch)
    _same_runs(on_device, on_cpu)


def test_the_quickstart_on_cuda_prints_the_cpu_numbers():
    printed = {}
    for device in ("cpu", "cuda"):
        with contextlib.redirect_stdout(io.StringIO()) as text:
            final = quickstart.main(["--steps", "100", "--device", device])
        printed[device] = (text.getvalue(), final)
    if installed():
        assert printed["cuda"] == printed["cpu"]
    else:
        assert printed["cuda"][1] == pytest.approx(printed["cpu"][1], rel=1e-3)
