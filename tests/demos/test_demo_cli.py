"""The demos fail fast and briefly on a bad command line, and survive a corrupt zoo entry:
a bad --out is found before any training, --device cuda without CuPy is one line that
says what to install, and a corrupt cached source model is reported, set aside and
trained again instead of ending the run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from demos import animals_digits, data_preview, parity
from minitl import backend, zoo

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ["--seeds", "1", "--seed-offset", "10000", "--jobs", "1"]


def _unwritable(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    return blocker / "out"


@pytest.mark.parametrize("demo", [parity, animals_digits], ids=["parity", "animals_digits"])
def test_a_bad_out_folder_is_refused_before_any_work(tmp_path, private_zoo, demo, monkeypatch):
    out = _unwritable(tmp_path)
    with pytest.raises(SystemExit) as info:
        demo.main(SMOKE + ["--out", str(out)], smoke=True)
    assert str(out) in str(info.value.code)
    assert zoo.list() == []  # nothing was trained (parity keeps every source it trains)


def test_data_preview_checks_its_out_folder_first(tmp_path, monkeypatch):
    out = _unwritable(tmp_path)
    monkeypatch.setattr(sys, "argv", ["data_preview", "--out", str(out)])
    with pytest.raises(SystemExit) as info:
        data_preview.main()
    assert str(out) in str(info.value.code)


@pytest.mark.skipif(backend.cupy_available(), reason="needs a machine without CuPy")
@pytest.mark.parametrize("module", ["demos.parity", "demos.animals_digits", "demos.layers",
                                    "demos.quickstart"])
def test_device_cuda_without_cupy_is_one_line(tmp_path, module):
    options = [] if module == "demos.quickstart" else ["--quick", "--out", str(tmp_path / "out")]
    run = subprocess.run([sys.executable, "-m", module, "--device", "cuda", *options], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "Traceback" not in run.stderr and "pip install" in lines[0] and "cuda" in lines[0]
    assert not (tmp_path / "out" / "results.json").exists()


def test_a_corrupt_cached_source_is_reported_set_aside_and_retrained(tmp_path, private_zoo):
    parity.main(SMOKE + ["--out", str(tmp_path / "a")], smoke=True)
    entries = sorted(private_zoo.rglob("*.safetensors"))
    assert entries
    victim = entries[0]
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one flipped byte in the weights
    victim.write_bytes(bytes(raw))
    with pytest.warns(RuntimeWarning, match="set aside"):
        results = parity.main(SMOKE + ["--out", str(tmp_path / "b")], smoke=True)
    assert victim.with_name(victim.name + ".corrupt").exists()
    assert victim.exists()  # trained again and stored afresh
    text = json.dumps(results.get("sources", results.get("source_info")), default=str)
    assert '"from_zoo": false' in text and '"from_zoo": true' in text
