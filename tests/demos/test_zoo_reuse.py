"""Every trained model becomes a future source model: running the parity demo twice
pretrains once, the second run loads the sources from the zoo and gets the same numbers."""

import json

from demos import parity
from minitl import zoo


def _metrics(results):
    return [{k: v for k, v in run.items() if k not in ("seconds", "timings")}
            for run in results["runs"]]


def test_second_run_loads_pretrained_sources_from_the_zoo(tmp_path, private_zoo):
    args = ["--seeds", "1", "--seed-offset", "10000", "--jobs", "1"]
    first = parity.main(args + ["--out", str(tmp_path / "a")], smoke=True)
    stored = zoo.list()
    names = {e["name"] for e in stored}
    assert any(n.startswith("parity/thermometer-") and n.endswith("seed10000") for n in names)
    assert any(n.startswith("parity/random-") for n in names)
    assert all(e["data_seed"] == 10000 and e["source_task"] for e in stored)

    second = parity.main(args + ["--out", str(tmp_path / "b")], smoke=True)
    trained = [s for s in first["sources"] if s["source"] != "untrained"]
    text_a = json.dumps(trained, default=str)
    text_b = json.dumps([s for s in second["sources"] if s["source"] != "untrained"],
                        default=str)
    assert '"from_zoo": false' in text_a and '"from_zoo": true' not in text_a
    assert '"from_zoo": true' in text_b and '"from_zoo": false' not in text_b
    assert _metrics(first) == _metrics(second)


def test_real_digit_sources_never_load_a_glyph_entry(tmp_path, private_zoo):
    """The zoo key holds the digits kind: after a glyph run, a real-digit run trains its
    own sources; only the glyph-source arm's model, trained on glyph numbers, is reused."""
    args = ["--seeds", "1", "--seed-offset", "10000", "--jobs", "1"]
    parity.main(args + ["--out", str(tmp_path / "glyph")], smoke=True)
    real = parity.main(args + ["--digits", "real", "--out", str(tmp_path / "real")],
                       smoke=True)
    trained = {s["source"]: s["from_zoo"] for s in real["sources"] if s["source"] != "untrained"}
    assert trained.pop(parity.GLYPH_SOURCE) is True
    assert trained and not any(trained.values())
    entries = {e["name"]: e for e in zoo.list()}
    real_names = [n for n in entries if n.startswith("parity/real-")]
    assert real_names and all(entries[n]["digits"] == "real" for n in real_names)
