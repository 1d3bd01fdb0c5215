"""The stability monitor: measurements, verdicts, and stopping on NaN with the layer named."""

import warnings

import numpy as np
import pytest
from transfer_toys import pretrained, related_task, source_task

import minitl
from minitl import nn
from minitl.data import DataLoader
from minitl.errors import TrainingDivergedError
from minitl.nn import functional as F
from minitl.optim import SGD, Adam
from minitl.transfer import StabilityMonitor, naive_finetune, thresholds, train_loop
from minitl.transfer.model import attach_head
from minitl.transfer.monitor import stability_verdict

TRAIN, VAL = related_task(160, 0), related_task(128, 1)


def test_injected_nan_in_a_weight_stops_training_and_names_the_layer():
    source = pretrained()
    source.body[2].weight.data[3, 4] = np.nan
    with pytest.raises(TrainingDivergedError, match=r"step 1\b.*body\.2\.weight") as info:
        naive_finetune(source, TRAIN, VAL, monitor=True)
    assert info.value.step == 1 and info.value.layer == "body.2"


class OverflowAfter(nn.Module):
    """Identity for the first ``steps`` training-mode calls, then an overflow to inf."""

    def __init__(self, steps):
        super().__init__()
        self.steps, self.calls = steps, 0

    def forward(self, x):
        self.calls += self.training
        return x * 1e30 * 1e30 if self.calls > self.steps else x


def test_a_non_finite_activation_is_traced_to_the_module_that_produced_it():
    model = attach_head(pretrained(), num_classes=2, sample=TRAIN[0][:1], rng=0)
    model.body = nn.Sequential(model.body[0], model.body[1], OverflowAfter(2),
                               model.body[2], model.body[3])
    monitor = StabilityMonitor(target_probe=VAL).attach(model)
    loader = DataLoader(*TRAIN, batch_size=32, seed=0)
    before = model.body[0].weight.data.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the overflow itself
        with pytest.raises(TrainingDivergedError) as info:
            train_loop(model, loader, Adam(list(model.parameters())), epochs=2,
                       monitor=monitor, eval_at_start=False)
    assert info.value.step == 3 and info.value.layer == "body.2"
    assert "OverflowAfter" in str(info.value)
    # the step that went wrong never reached the weights
    assert np.isfinite(model.body[0].weight.data).all()
    assert not np.array_equal(before, model.body[0].weight.data)  # steps 1-2 did


def test_monitor_in_a_hand_written_loop_records_every_signal():
    source = pretrained()
    model = attach_head(source, num_classes=2, sample=TRAIN[0][:1], rng=0)
    monitor = StabilityMonitor(target_probe=VAL, source_probe=source_task(128, 5))
    monitor.attach(model, source_head=source.head)
    opt = SGD(list(model.parameters()), lr=0.05)
    for step, (x, y) in enumerate(DataLoader(*TRAIN, batch_size=32, seed=0), start=1):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        monitor.on_backward(step, loss, inputs=x)
        opt.step()
        monitor.on_step(step, loss)
    row = monitor.on_eval(step)
    assert set(row) >= {"cka_target", "cka_source", "mismatch", "source_acc", "dead_frac",
                        "stability", "stability_reasons"}
    assert 0.0 <= row["cka_target"] <= 1.0 and 0.0 <= row["mismatch"] <= 1.0
    assert monitor.initial["source_acc"] > 0.8  # the pretrained model knows its task
    last = monitor.history.rows[-1]
    assert set(last["grad_norm"]) == {"body.0", "body.2", "head"}
    assert set(last["update_ratio"]) == set(last["drift"]) == {"body.0", "body.2", "head"}
    assert last["body_head_ratio"] == pytest.approx(last["body_update"] / last["head_update"])
    x = minitl.tensor(VAL[0][:4])
    assert monitor.verdict()[0] in thresholds.SEVERITY and model(x).shape == (4, 2)


def test_aggressive_fine_tuning_is_called_abrupt_and_forgets_the_source():
    probe = source_task(128, 5)
    calm = naive_finetune(pretrained(), TRAIN, VAL, epochs=3, lr=1e-4,
                          monitor=StabilityMonitor(source_probe=probe))
    wild = naive_finetune(pretrained(), TRAIN, VAL, epochs=3, lr=0.1,
                          monitor=StabilityMonitor(source_probe=probe))
    assert calm.history.last("stability") == "stable"
    assert wild.history.last("stability") == "abrupt"
    assert wild.history.last("source_acc") < calm.history.last("source_acc") - 0.2
    assert wild.history.last("body_drift") > 10 * calm.history.last("body_drift")


def test_loss_explosion_is_recorded_and_can_stop_training():
    monitor = StabilityMonitor(stop_on_explosion=True)
    model = attach_head(pretrained(), num_classes=2, sample=TRAIN[0][:1], rng=0)
    monitor.attach(model)
    for step, loss in enumerate([1.0] * thresholds.LOSS_START_STEPS, start=1):
        out = monitor.on_step(step, loss)
    assert out["loss_ratio"] == pytest.approx(1.0)
    with pytest.raises(TrainingDivergedError, match="smoothed loss"):
        for step in range(6, 60):
            monitor.on_step(step, 50.0)


def test_verdict_words_follow_the_named_thresholds():
    T = thresholds
    assert stability_verdict({"body_drift": 0.5 * T.DRIFT_SHIFTING})[0] == T.STABLE
    assert stability_verdict({"body_drift": T.DRIFT_SHIFTING})[0] == T.SHIFTING
    word, reasons = stability_verdict({"body_drift": 0.01, "cka_source": T.CKA_ABRUPT - 0.1})
    assert word == T.ABRUPT and "CKA" in reasons[0]
    assert stability_verdict({}, recent_body_updates=[T.UPDATE_ABRUPT] * 3)[0] == T.ABRUPT
    drop = {"source_acc": 0.9}, {"source_acc": 0.9 + T.FORGET_SHIFTING}
    assert stability_verdict(*drop)[0] == T.SHIFTING
    assert stability_verdict({"loss_exploded": True})[0] == T.ABRUPT
    assert T.worst(["stable", "abrupt", "shifting"]) == "abrupt"
