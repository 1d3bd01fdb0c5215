"""docs/TOUR.md can be followed as written: every ```python block runs, in order, in
one namespace, as a reader pasting them into one session would."""

import re
from pathlib import Path

import matplotlib

TOUR = Path(__file__).resolve().parent.parent / "docs" / "TOUR.md"


def code_blocks():
    return re.findall(r"^```python\n(.*?)^```", TOUR.read_text(), flags=re.S | re.M)


def test_the_tour_has_code_at_every_stop():
    assert len(code_blocks()) >= 10


def test_every_tour_snippet_runs_in_order(tmp_path, monkeypatch, capsys):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "tour"}
    for number, block in enumerate(code_blocks(), 1):
        try:
            exec(compile(block, f"TOUR.md block {number}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"TOUR.md code block {number} failed:\n{block}") from exc
    printed = capsys.readouterr().out
    assert "kept its own head: ['3.weight', '3.bias']" in printed
    assert "body unchanged: True" in printed     # the group freeze flag holds
    assert "backward through Linear" in printed  # a stale graph is refused
