"""The layer-transfer experiment's arms: which layers are copied, frozen and re-initialised.

``make_arm`` builds every arm of demos/layers.py; these tests hold it to the protocol:
the first n hidden layers are bit-identical copies of the base network, a frozen copy
stays bit-identical through training, and the layers above n (and the head) come from
the fresh initialisation, not from the base.
"""

from pathlib import Path

import numpy as np
import pytest

from demos import layers
from minitl.transfer.loop import derive_seed

IN_DIM, DEPTH = 12, layers.DEPTH


def _net(tag: str):
    return layers.build_mlp(IN_DIM, 5, np.random.default_rng(derive_seed(0, tag)), width=8)


def _weights(layer) -> dict:
    return {k: v.copy() for k, v in layer.state_dict().items()}


def _same(a, b) -> bool:
    return all(np.array_equal(a[k], b[k]) for k in a)


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, IN_DIM)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64) + 2 * (x[:, 1] > 0).astype(np.int64)


@pytest.mark.parametrize("n", range(DEPTH + 1))
@pytest.mark.parametrize("frozen", [True, False])
def test_an_arm_copies_exactly_the_first_n_layers(n, frozen):
    base, fresh = _net("base"), _net("fresh")
    base_before, fresh_before = _weights(base), _weights(fresh)
    arm = layers.make_arm(base, fresh, n, frozen=frozen)
    hidden_base, hidden_fresh = layers.hidden_layers(base), layers.hidden_layers(fresh)
    for i, layer in enumerate(layers.hidden_layers(arm)):
        w = _weights(layer)
        if i < n:
            assert _same(w, _weights(hidden_base[i])), f"layer {i} is not base's"
            assert all(p.requires_grad is not frozen for p in layer.parameters())
        else:
            assert _same(w, _weights(hidden_fresh[i])), f"layer {i} is not the fresh one"
            assert not _same(w, _weights(hidden_base[i])), f"layer {i} still is base's"
            assert all(p.requires_grad for p in layer.parameters())
    assert _same(_weights(arm[-1]), _weights(fresh[-1]))  # the head is always new
    assert _same(_weights(base), base_before) and _same(_weights(fresh), fresh_before)
    assert all(p.requires_grad for p in base.parameters())  # the base is not frozen


@pytest.mark.parametrize("n", [1, 3])
def test_frozen_copies_stay_bit_identical_through_training(n):
    base = _net("base")
    arm = layers.make_arm(base, _net("fresh"), n, frozen=True)
    start = [_weights(layer) for layer in layers.hidden_layers(arm)]
    head0 = _weights(arm[-1])
    layers.fit(arm, _data(), steps=15, lr=1e-2, seed=1, n_copied=n)
    hidden = layers.hidden_layers(arm)
    for i in range(n):
        assert _same(_weights(hidden[i]), start[i]), f"frozen layer {i} moved"
    for i in range(n, DEPTH):
        assert not _same(_weights(hidden[i]), start[i]), f"trainable layer {i} did not move"
    assert not _same(_weights(arm[-1]), head0)


def test_fine_tuned_copies_start_as_the_base_and_then_move():
    base = _net("base")
    arm = layers.make_arm(base, _net("fresh"), 2, frozen=False)
    layers.fit(arm, _data(), steps=15, lr=1e-2, seed=1, n_copied=2)
    for i in range(2):
        assert not _same(_weights(layers.hidden_layers(arm)[i]),
                         _weights(layers.hidden_layers(base)[i]))


def test_the_copied_layers_get_their_own_learning_rate_group():
    arm = layers.make_arm(_net("base"), _net("fresh"), 2, frozen=False)
    groups = layers.param_groups(arm, 2, lr=1e-2, copied_lr_scale=0.1)
    assert [g["name"] for g in groups] == ["copied", "new"]
    assert groups[0]["lr"] == pytest.approx(1e-3) and groups[1]["lr"] == 1e-2
    assert len(groups[0]["params"]) == 4 and len(groups[1]["params"]) == 2 * (DEPTH - 2) + 2


def test_class_split_is_two_disjoint_halves_fixed_by_the_seed():
    a, b = layers.class_split(3)
    assert sorted(a + b) == list(range(10)) and len(a) == len(b) == 5
    assert layers.class_split(3) == (a, b)
    assert any(layers.class_split(s) != (a, b) for s in range(4, 10))


# ------------------------------------------------------------------ claims on made-up runs


def _runs(anb, bnb, base, seeds=range(10), noise=0.5):
    rng = np.random.default_rng(0)
    runs = []
    for s in seeds:
        runs.append({"arm": "baseB", "n_train": 500, "seed": s, "depth": 0,
                     "test_acc": base + rng.normal(0, noise) / 100, "val_acc": base})
        for n in range(1, DEPTH + 1):
            for arm, acc in ((f"A{n}B", anb[n - 1]), (f"B{n}B", bnb[n - 1]),
                             (f"A{n}B+", base)):
                runs.append({"arm": arm, "n_train": 500, "seed": s, "depth": n,
                             "test_acc": acc + rng.normal(0, noise) / 100, "val_acc": acc})
    return runs


def test_general_to_specific_needs_the_fall_above_the_margin():
    spec = {"id": "layers.general_to_specific", "sentence": "s", "n_train": 500,
            "margin": 5.0}
    falls = layers.general_to_specific(_runs([0.95, 0.9, 0.85, 0.8], [0.99] * 4, 0.99), spec)
    flat = layers.general_to_specific(_runs([0.95, 0.94, 0.93, 0.93], [0.99] * 4, 0.99), spec)
    assert falls["passed"] and falls["estimate"] == pytest.approx(15, abs=1)
    assert not flat["passed"]


def test_cut_is_harmless_fails_on_a_middle_dip_and_says_where():
    spec = {"id": "layers.cut_is_harmless", "sentence": "s", "n_train": 500, "delta": 1.0}
    ok = layers.within_base(_runs([0.9] * 4, [0.99] * 4, 0.99), spec, "B{n}B")
    dip = layers.within_base(_runs([0.9] * 4, [0.99, 0.95, 0.98, 0.99], 0.99), spec, "B{n}B")
    assert ok["passed"] and not dip["passed"]
    assert dip["details"]["largest_loss_at_depth"] == 2 and dip["details"]["dip_in_middle"]


def test_few_samples_picks_the_depth_on_validation_not_on_test():
    runs = []
    for s in range(10):
        runs.append({"arm": "scratch", "n_train": 25, "seed": s, "test_acc": 0.80,
                     "val_acc": 0.80})
        for n, (val, test) in enumerate([(0.9, 0.85), (0.7, 0.99), (0.6, 0.6),
                                         (0.6, 0.6)], 1):
            runs.append({"arm": f"A{n}B", "n_train": 25, "seed": s,
                         "test_acc": test + 0.001 * s, "val_acc": val})
    claim = layers.few_samples(runs, {"id": "layers.few_samples", "sentence": "s",
                                      "n_train": 25})
    assert set(claim["details"]["chosen_depth"].values()) == {1}
    assert claim["passed"] and claim["estimate"] == pytest.approx(5.45)


# ------------------------------------------------------------------ end to end, tiny


def test_a_tiny_run_decides_every_pre_registered_claim_and_draws_both_figures(tmp_path):
    from demos import protocol

    spec = layers._spec("choose_depth")
    cfg = layers.config("glyph", True, hp={"lr": 1e-3, "steps": 3},
                        choose={**spec, "epochs_per_level": 1})
    res = layers.run([0, 1], cfg, jobs=1)
    assert [c["id"] for c in res["claims"]] == protocol.claim_ids("layers")
    assert all(c["passed"] is None for c in res["claims"])  # quick: nothing decided
    arms = {(r["arm"], r["n_train"]) for r in res["runs"]}
    full, few = res["full_n"], 5 * layers.FEW_PER_CLASS[0]
    for n in range(1, DEPTH + 1):
        assert {(f"B{n}B", full), (f"B{n}B+", full), (f"A{n}B", few), (f"A{n}B+", few)} <= arms
    assert {("baseB", full), ("scratch", few), ("recommended", few)} <= arms
    assert all(c["frozen_layers_unchanged"] for c in res["choices"])
    paths = layers.figures({"glyph": res, "real": res}, tmp_path)
    assert all(Path(p).stat().st_size > 0 for p in paths)
    assert "layers.choose_depth" in layers.report(res)
