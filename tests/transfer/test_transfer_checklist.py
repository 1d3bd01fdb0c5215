"""checklist_report: nine questions, numbers and a verdict each, from plain records."""

import json

import pytest
from transfer_toys import pretrained, related_task, source_task

from minitl.transfer import (
    StabilityMonitor,
    checklist_report,
    feature_extraction,
    lp_ft,
    scratch,
    transferability,
)
from minitl.transfer.checklist import QUESTIONS


@pytest.fixture(scope="module")
def records():
    source, probe = pretrained(), source_task(128, 5)
    out = []
    for seed in range(3):
        train, val = related_task(80, seed), related_task(128, 50 + seed)
        scores = transferability(source, *train)
        for recipe in (lp_ft, scratch, feature_extraction):
            result = recipe(source, train, val, epochs=4, seed=seed,
                            monitor=StabilityMonitor(source_probe=probe))
            out.append(result.record(transferability=scores))
    return out


def test_every_question_gets_numbers_and_a_verdict(records, tmp_path):
    report = checklist_report(records, transfer_arm="lp_ft", out_dir=tmp_path)
    assert [a["id"] for a in report.answers] == list(QUESTIONS)
    for a in report.answers:
        assert a["verdict"] != "unknown", a
        assert a["numbers"] and a["explanation"]
    assert report.answer("related")["verdict"] == "related"
    assert report.answer("limited")["verdict"] == "limited"  # 40 labels per class
    assert report.answer("beat_scratch")["verdict"] == "yes"
    assert report.answer("beat_scratch")["numbers"]["n_seeds"] == 3
    assert report.answer("healthy")["verdict"] == "healthy"
    assert report.settings["feature_arm"] == "feature_extraction"
    assert set(report.arms) == {"lp_ft", "scratch", "feature_extraction"}
    text = json.dumps(report.to_json())
    assert json.loads(text)["answers"][6]["id"] == "beat_scratch"
    for question in QUESTIONS.values():
        assert question in report.markdown
    assert (tmp_path / "checklist.md").read_text().startswith("# Transfer checklist")
    assert json.loads((tmp_path / "checklist.json").read_text())["settings"]["metric"] == \
        "val_acc"
    assert set(report.figures) == {"learning_curves", "cka_drift", "mismatch",
                                   "source_accuracy", "update_ratios"}
    for path in report.figures.values():
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def fake(arm, seed, acc, curve, **final):
    """A record with a hand-made validation curve (steps 0, 10, 20, ...)."""
    history = [{"step": 10 * i, "phase": "x", "val_acc": v} for i, v in enumerate(curve)]
    return {"arm": arm, "seed": seed, "n_train": 1000, "num_classes": 2,
            "final": {"val_acc": acc, **final}, "history": history}


def test_negative_transfer_and_slower_convergence_are_called_out():
    runs = []
    for seed, delta in enumerate([0.05, 0.07, 0.06, 0.08]):
        runs.append(fake("naive", seed, 0.80, [0.5, 0.6, 0.7, 0.75, 0.8], test_acc=0.80))
        runs.append(fake("scratch", seed, 0.80 + delta, [0.5, 0.8, 0.85, 0.85, 0.86],
                         test_acc=0.80 + delta))
    report = checklist_report(runs)
    assert report.settings["transfer_arm"] == "naive"
    assert report.settings["metric"] == "test_acc"
    ntg = report.answer("beat_scratch")
    assert ntg["verdict"] == "no: negative transfer" and ntg["numbers"]["ci95"][0] > 0
    assert ntg["numbers"]["NTG"] == pytest.approx(0.065)
    assert report.answer("faster")["verdict"] == "slower"
    assert report.answer("steady")["verdict"] == "steady"
    assert report.answer("limited")["verdict"] == "not limited"
    for qid in ("related", "stable", "gradients", "healthy"):  # no scores, no monitor
        assert report.answer(qid)["verdict"] == "unknown"
    assert "unknown" in report.markdown


def test_one_seed_gives_a_verdict_without_an_interval():
    runs = [fake("lp_ft", 0, 0.9, [0.5, 0.9]), fake("scratch", 0, 0.7, [0.5, 0.6, 0.7])]
    answer = checklist_report(runs).answer("beat_scratch")
    assert answer["verdict"] == "yes (one seed: no interval)"


def test_unsteady_curve_and_bad_arm_name():
    runs = [fake("lp_ft", 0, 0.6, [0.5, 0.9, 0.6])]
    assert checklist_report(runs).answer("steady")["verdict"] == "unsteady"
    with pytest.raises(ValueError, match="no records of arm"):
        checklist_report(runs, transfer_arm="nope")


def test_results_can_be_passed_directly():
    train, val = related_task(64, 0), related_task(64, 1)
    runs = [lp_ft(pretrained(), train, val, epochs=1, probe_epochs=3),
            scratch(pretrained(), train, val, epochs=2)]
    report = checklist_report(runs)
    assert report.settings["transfer_arm"] == "lp_ft"
    assert report.answer("beat_scratch")["numbers"]["n_seeds"] == 1
