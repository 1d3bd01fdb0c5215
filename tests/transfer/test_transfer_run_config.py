"""Every shared setting of a RunConfig reaches the optimizer and the loop, in every recipe
and in adapt: the weight decay sits in every optimizer group that trains, the optimizer
is the one named, ``augment`` sees every training batch of ``batch_size`` examples,
evaluations come every ``eval_every`` steps, and the monitor's verdict is on each one.

Each run is observed from outside: a spy on ``Optimizer.step`` sees what each step
trains and with which hyperparameters, the augmentation counts the batches it is given,
and the history shows when the evaluations ran.
"""

from __future__ import annotations

import functools
import importlib

import numpy as np
import pytest
from transfer_toys import blind, unrelated_task

from minitl.optim import SGD, Optimizer
from minitl.transfer import adapt, recipes

WEIGHT_DECAY, BATCH, EVAL_EVERY = 0.0123, 8, 4
TRAIN, VAL = unrelated_task(44, 1), unrelated_task(40, 2)  # 6 batches of 8 (the last of 4)

#: Every recipe and adapt, short, each given the same non-default shared settings; from
#: the blind source, whose frozen features are near chance, so adapt tries every level.
RUNS = {
    "scratch": lambda **kw: recipes.scratch(blind(), TRAIN, VAL, epochs=2, **kw),
    "feature_extraction": lambda **kw: recipes.feature_extraction(blind(), TRAIN, VAL,
                                                                  epochs=2, **kw),
    "naive_finetune": lambda **kw: recipes.naive_finetune(blind(), TRAIN, VAL, epochs=2, **kw),
    "safe_finetune": lambda **kw: recipes.safe_finetune(blind(), TRAIN, VAL, head_epochs=1,
                                                        epochs_per_block=1, epochs=3, **kw),
    "lp_ft": lambda **kw: recipes.lp_ft(blind(), TRAIN, VAL, probe_epochs=2, epochs=2, **kw),
    "adapt": lambda **kw: adapt(blind(), TRAIN, VAL, head_epochs=2, epochs_per_level=2,
                                patience=5, **kw),
}
#: Phases that evaluate once per epoch whatever ``eval_every`` says: lp_ft's probe checks
#: its convergence epoch by epoch (documented in lp_ft).
PER_EPOCH_PHASES = {"probe"}


@functools.cache
def observed(name: str) -> dict:
    """Run ``name`` once with the settings above, and what was seen while it ran."""
    steps, batches = [], []

    def augment(x, rng):
        batches.append(x.shape[0])
        return x

    real_step = Optimizer.step

    def spy(self, closure=None):
        trained = [(group["weight_decay"], any(id(p) in body for p in group["params"]))
                   for group in self.param_groups
                   if any(p.requires_grad and p.grad is not None for p in group["params"])]
        steps.append((type(self), trained))
        return real_step(self, closure)

    blind()  # the source is trained once and cached: before the spy, so it is not counted
    body: set[int] = set()
    real_prepare = recipes.prepare

    def prepare(*args, **kwargs):  # note which parameters are the body's
        prepared = real_prepare(*args, **kwargs)
        body.update(id(p) for p in prepared.model.body.parameters())
        return prepared

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Optimizer, "step", spy)
        mp.setattr(recipes, "prepare", prepare)
        mp.setattr(importlib.import_module("minitl.transfer.adapt"), "prepare", prepare)
        result = RUNS[name](optimizer="sgd", weight_decay=WEIGHT_DECAY, batch_size=BATCH,
                            augment=augment, eval_every=EVAL_EVERY, monitor=True)
    return {"steps": steps, "batches": batches, "rows": list(result.history.rows),
            "levels": [d["level"] for d in getattr(result, "decisions", [])]}


@pytest.mark.parametrize("name", RUNS)
def test_weight_decay_is_in_every_group_that_trains(name):
    steps = observed(name)["steps"]
    assert steps, "nothing was trained"
    decays = {decay for _, trained in steps for decay, _ in trained}
    assert decays == {WEIGHT_DECAY}
    body_trained = any(in_body for _, trained in steps for _, in_body in trained)
    assert body_trained == (name != "feature_extraction")


@pytest.mark.parametrize("name", RUNS)
def test_the_optimizer_named_is_the_one_used(name):
    assert {kind for kind, _ in observed(name)["steps"]} == {SGD}


@pytest.mark.parametrize("name", RUNS)
def test_augment_sees_every_training_batch_of_batch_size(name):
    seen = observed(name)
    assert len(seen["batches"]) == len(seen["steps"])  # one augmented batch per step
    assert set(seen["batches"]) == {BATCH, len(TRAIN[0]) % BATCH}


@pytest.mark.parametrize("name", RUNS)
def test_evaluations_come_every_eval_every_steps_with_the_monitors_verdict(name):
    rows = observed(name)["rows"]
    evaluated = [r for r in rows if "val_acc" in r and r["phase"] not in PER_EPOCH_PHASES]
    assert len(evaluated) >= 3
    gaps = {b["step"] - a["step"] for a, b in zip(evaluated, evaluated[1:])}
    assert max(gaps) <= EVAL_EVERY and EVAL_EVERY in gaps, sorted(gaps)
    assert all("stability" in r for r in evaluated)


def test_adapt_tried_the_unfreezing_levels():
    assert observed("adapt")["levels"][:3] == ["feature_extraction", "top_1", "top_2"]
    phases = {r["phase"] for r in observed("adapt")["rows"] if "loss" in r}
    assert {"top_1", "top_2"} <= phases
    assert np.isfinite([r["loss"] for r in observed("adapt")["rows"] if "loss" in r]).all()
