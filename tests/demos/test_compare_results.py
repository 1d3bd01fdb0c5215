"""scripts/compare_results.py: two results trees are equal only if every field but the
timings is, floats bit for bit."""

import importlib.util
import json
import math
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compare_results.py"
spec = importlib.util.spec_from_file_location("compare_results", SCRIPT)
compare_results = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_results)

RESULTS = {"runs": [{"arm": "scratch", "test_acc": 0.8125, "seconds": 1.5,
                     "val_curve": [[0, 10], [0.5, 0.75]]}],
           "sources": [{"from_zoo": False, "final_loss": 0.25}],
           "claims": [{"estimate": math.nan, "passed": True}],
           "timings": {"wall_seconds": 12.0}}


def _write(root: Path, data) -> Path:
    path = root / "parity" / "results.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data))
    return root


def test_timings_and_zoo_flags_are_ignored_and_nan_equals_nan(tmp_path):
    old = _write(tmp_path / "old", RESULTS)
    rerun = json.loads(json.dumps(RESULTS))
    rerun["runs"][0]["seconds"] = 9.0
    rerun["sources"][0]["from_zoo"] = True
    rerun["timings"] = {"wall_seconds": 3.0, "units": []}
    new = _write(tmp_path / "new", rerun)
    assert compare_results.compare(old, new) == []
    assert compare_results.main([str(old), str(new)]) == 0


def test_one_ulp_a_missing_key_or_a_missing_file_is_a_difference(tmp_path):
    old = _write(tmp_path / "old", RESULTS)
    moved = json.loads(json.dumps(RESULTS))
    moved["runs"][0]["val_curve"][1][1] = math.nextafter(0.75, 1.0)
    del moved["claims"][0]["passed"]
    new = _write(tmp_path / "new", moved)
    found = compare_results.compare(old, new)
    assert [where for where, _, _ in found] == [
        "parity/results.json: claims[0].passed", "parity/results.json: runs[0].val_curve[1][1]"]
    assert compare_results.main([str(old), str(new)]) == 1
    (tmp_path / "new" / "parity" / "results.json").rename(tmp_path / "new" / "parity" / "x")
    assert compare_results.compare(old, tmp_path / "new")[0][2] == "<missing>"
