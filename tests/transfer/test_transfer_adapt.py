"""adapt: stop at the adaptation level the validation evidence supports."""

import json

import numpy as np
import pytest
from transfer_toys import blind, pretrained, related_task, unrelated_task

from minitl.transfer import adapt
from minitl.transfer.adapt import required_gain
from minitl.transfer.depth import recommended_freeze_depth


def test_frozen_features_that_solve_the_target_stop_at_feature_extraction():
    result = adapt(pretrained(), related_task(200, 1), related_task(200, 2),
                   compare_scratch=True)
    assert result.chosen == "feature_extraction"
    first = result.decisions[0]
    assert first["level"] == "feature_extraction" and first["val_acc"] > 0.85
    assert first["stability"] == "stable"
    tried = [d for d in result.decisions if d["level"].startswith("top_")]
    assert tried, "the evidence comes from trying to unfreeze"
    for d in tried:
        assert d["gain"] < d["required_gain"] and "no real gain" in d["why"] or \
            "back to feature_extraction" in d["why"]
        assert {"val_acc", "train_acc", "stability", "stability_reasons"} <= set(d)
    assert result.decisions[-1]["level"] == "scratch"
    assert result.decisions[-1]["decision"] == "keep transfer"
    assert result.decisions[-1]["val_acc"] < first["val_acc"]
    assert not any(p.requires_grad for p in result.model.body.parameters())
    json.dumps(result.to_dict())


def test_irrelevant_features_are_reported_as_worse_than_scratch():
    result = adapt(blind(), unrelated_task(300, 1), unrelated_task(200, 2),
                   compare_scratch=True)
    fe, last = result.decisions[0], result.decisions[-1]
    assert fe["val_acc"] < fe["chance"] + 0.1  # frozen features: no better than guessing
    assert last["level"] == "scratch" and last["decision"] == "train from scratch"
    assert result.chosen == "scratch" and result.model is result.scratch.model
    best_transfer = max(d["val_acc"] for d in result.decisions[:-1])
    assert last["val_acc"] > best_transfer + 0.02
    assert str(round(last["val_acc"], 3)) in last["why"]
    assert "| scratch |" in result.summary()


def test_irrelevant_features_make_adapt_unfreeze_down_to_the_first_block():
    result = adapt(blind(), unrelated_task(300, 1), unrelated_task(200, 2), lr=1e-2)
    levels = [d["level"] for d in result.decisions]
    assert levels == ["feature_extraction", "top_1", "top_2"]
    assert result.chosen == "top_2"  # only retraining the first layer helps
    assert result.decisions[1]["decision"] == "continue" and "patience" in \
        result.decisions[1]["why"]
    assert result.decisions[2]["gain"] >= result.decisions[2]["required_gain"]
    assert all(p.requires_grad for p in result.model.parameters())


def test_required_gain_is_at_least_two_standard_errors():
    assert required_gain(0.9, 100) == pytest.approx(0.06)
    assert required_gain(1.0, 100) == pytest.approx(0.01)  # floor: MIN_GAIN
    assert required_gain(0.5, 10_000) == pytest.approx(0.01)


def test_adapt_needs_validation_data():
    with pytest.raises(ValueError, match="validation"):
        adapt(pretrained(), related_task(50, 1), None)


def test_freeze_depth_keeps_the_first_blocks_frozen_whatever_the_evidence():
    # without freeze_depth this task makes adapt unfreeze down to the first block (above)
    source = blind()
    first_before = {k: v.copy() for k, v in source.body.state_dict().items()
                    if k.startswith("0.")}
    assert first_before, "the toy body's first block is named '0'"
    result = adapt(source, unrelated_task(300, 1), unrelated_task(200, 2), lr=1e-2,
                   freeze_depth=1)
    levels = [d["level"] for d in result.decisions]
    assert levels == ["feature_extraction", "top_1"]
    after = result.model.body.state_dict()
    for key, value in first_before.items():
        assert np.array_equal(after[key], value), key


@pytest.mark.parametrize("bad", [-1, 3, 1.5, True])
def test_freeze_depth_outside_the_body_is_an_error(bad):
    with pytest.raises(ValueError, match="freeze_depth"):
        adapt(blind(), unrelated_task(50, 1), unrelated_task(50, 2), freeze_depth=bad)


def test_recommended_freeze_depth_is_the_deepest_depth_within_the_margin():
    curve = {1: 0.95, 2: 0.90, 3: 0.93, 4: 0.70}
    assert recommended_freeze_depth(curve, 0.96, 0.02) == 1
    assert recommended_freeze_depth(curve, 0.96, 0.035) == 3  # a dip at 2 does not hide 3
    assert recommended_freeze_depth(curve, 0.99, 0.0) == 0
    assert recommended_freeze_depth(curve, 0.70, 0.0) == 4
    with pytest.raises(ValueError, match="margin"):
        recommended_freeze_depth(curve, 0.9, -0.1)
    with pytest.raises(ValueError, match="depths"):
        recommended_freeze_depth({0: 0.9}, 0.9, 0.1)
