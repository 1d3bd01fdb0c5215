"""The five recipes: what each protects, measured."""

import numpy as np
import pytest
from transfer_toys import pretrained, related_task, source_task

from minitl import nn
from minitl.transfer import (
    BodyHead,
    StabilityMonitor,
    feature_extraction,
    lp_ft,
    naive_finetune,
    safe_finetune,
    scratch,
)

TRAIN, VAL = related_task(160, 0), related_task(128, 1)


def assert_same_state(a, b):
    a, b = a.state_dict(), b.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


class CountCalls(nn.Module):
    """Identity that counts how often it runs (the count is shared by copies)."""

    calls = 0

    def forward(self, x):
        CountCalls.calls += 1
        return x


def counting_source():
    source = pretrained()
    source.body.append(CountCalls())
    return source


@pytest.mark.parametrize("recipe", [feature_extraction, naive_finetune, safe_finetune, lp_ft,
                                    scratch])
def test_no_recipe_modifies_the_source(recipe):
    source = pretrained()
    result = recipe(source, TRAIN, VAL, epochs=2)
    assert_same_state(source, pretrained())
    assert isinstance(result.model, BodyHead) and result.model.body is not source.body
    assert 0.0 <= result.final["val_acc"] <= 1.0 and result.final["steps"] > 0


def test_feature_extraction_leaves_the_body_bit_identical():
    source = pretrained()
    result = feature_extraction(source, TRAIN, VAL, epochs=3)
    assert_same_state(result.model.body, source.body)
    assert result.final["val_acc"] > 0.75  # the related target is linear in the features
    uncached = feature_extraction(source, TRAIN, VAL, epochs=3, cache=False)
    assert_same_state(uncached.model.body, source.body)


def test_cached_features_do_not_run_the_body_per_epoch():
    calls = {}
    for epochs in (1, 6):
        CountCalls.calls = 0
        feature_extraction(counting_source(), TRAIN, VAL, epochs=epochs, batch_size=16)
        calls[epochs] = CountCalls.calls
    assert calls[1] == calls[6] <= 4  # head sizing, one pass over train, one over val
    CountCalls.calls = 0
    feature_extraction(counting_source(), TRAIN, VAL, epochs=2, batch_size=16, cache=False)
    assert CountCalls.calls >= 2 * (160 // 16)  # without the cache: every batch, every epoch


def test_cached_and_uncached_feature_extraction_agree():
    a = feature_extraction(pretrained(), TRAIN, VAL, epochs=3, seed=1)
    b = feature_extraction(pretrained(), TRAIN, VAL, epochs=3, seed=1, cache=False)
    np.testing.assert_allclose(a.model.head.weight.data, b.model.head.weight.data,
                               rtol=1e-4, atol=1e-5)
    assert a.info["cached_features"] and not b.info["cached_features"]


def test_safe_finetune_moves_the_body_less_than_naive_finetune():
    probe = source_task(128, 7)
    runs = {}
    for name, recipe in (("naive", naive_finetune), ("safe", safe_finetune)):
        runs[name] = recipe(pretrained(), TRAIN, VAL, epochs=6, lr=1e-2, seed=0,
                            monitor=StabilityMonitor(source_probe=probe))
    naive, safe = runs["naive"].history, runs["safe"].history
    assert safe.last("body_drift") < 0.5 * naive.last("body_drift")
    assert safe.last("cka_source") > naive.last("cka_source")
    # "Δθ_g ≪ Δθ_h": while the body trains, its relative steps are far below the head's
    ratios = [r["body_head_ratio"] for r in safe.rows
              if r.get("body_update") and r.get("body_head_ratio") is not None]
    naive_ratios = [r["body_head_ratio"] for r in naive.rows if "body_head_ratio" in r]
    assert np.median(ratios) < np.median(naive_ratios)
    stages = runs["safe"].info["stages"]
    assert [s["phase"] for s in stages] == ["head", "+body.2", "+body.0"]
    lrs = runs["safe"].info["block_lrs"]
    np.testing.assert_allclose(lrs, [1e-2 / 2.6**2, 1e-2 / 2.6, 1e-2])


def test_safe_finetune_keeps_unreached_blocks_frozen_and_supports_l2sp():
    source = pretrained()
    result = safe_finetune(source, TRAIN, VAL, epochs=3, head_epochs=2, l2sp_alpha=0.1,
                           l2sp_beta=0.01, schedule=None)
    assert [s["phase"] for s in result.info["stages"]] == ["head", "+body.2"]
    np.testing.assert_array_equal(result.model.body[0].weight.data,
                                  source.body[0].weight.data)
    assert not np.array_equal(result.model.body[2].weight.data, source.body[2].weight.data)


def test_lp_ft_probes_first_then_fine_tunes_everything():
    result = lp_ft(pretrained(), TRAIN, VAL, epochs=2, probe_epochs=30)
    phases = [r["phase"] for r in result.history.rows]
    first_ft = phases.index("finetune")
    assert set(phases[:first_ft]) == {"probe"} and set(phases[first_ft:]) == {"finetune"}
    assert result.info["cached_features"] and result.info["probe_val_acc"] > 0.75
    assert result.config["lr"] == 1e-4


def test_scratch_draws_fresh_weights_and_the_matched_norm_control_matches_norms():
    source = pretrained()
    fresh = scratch(source, TRAIN, VAL, steps=1)
    matched = scratch(source, TRAIN, VAL, steps=0, init="matched_norm")
    assert matched.recipe == "scratch_matched_norm"
    assert not np.allclose(fresh.model.body[0].weight.data, source.body[0].weight.data)
    ref = dict(source.body.named_parameters())
    for name, p in matched.model.body.named_parameters():
        np.testing.assert_allclose(np.linalg.norm(p.data), np.linalg.norm(ref[name].data),
                                   rtol=1e-5, err_msg=name)
        assert not np.allclose(p.data, ref[name].data)  # same scale, different values
    # same seed, same new head as every other recipe (paired comparisons)
    fe = feature_extraction(source, TRAIN, VAL, steps=0)
    np.testing.assert_array_equal(matched.model.head.weight.data, fe.model.head.weight.data)


def test_record_is_json_ready():
    import json

    result = naive_finetune(pretrained(), TRAIN, VAL, epochs=1, monitor=True)
    rec = result.record("naive", test_acc=0.5)
    assert rec["arm"] == "naive" and rec["seed"] == 0 and rec["final"]["test_acc"] == 0.5
    assert rec["n_train"] == 160 and rec["num_classes"] == 2
    json.dumps(rec, allow_nan=False)


def test_sequential_sources_and_named_blocks_are_accepted():
    rng = np.random.default_rng(0)
    source = nn.Sequential(nn.Linear(16, 12, rng=rng), nn.ReLU(), nn.Linear(12, 8, rng=rng),
                           nn.ReLU(), nn.Linear(8, 4, rng=rng))
    before = [p.data.copy() for p in source.parameters()]
    result = safe_finetune(source, TRAIN, VAL, epochs=4, blocks=[["0"], ["2", "3"]])
    assert result.info["blocks"] == ["body.0", "body.2+3"]
    assert result.model.head.weight.shape == (2, 8)
    for p, b in zip(source.parameters(), before):
        np.testing.assert_array_equal(p.data, b)
