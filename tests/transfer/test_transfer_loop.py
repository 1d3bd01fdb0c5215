"""train_loop: history rows, evaluation, determinism, frozen parts kept fixed."""

import json

import numpy as np
from transfer_toys import pretrained, related_task

from minitl import nn
from minitl.data import DataLoader
from minitl.optim import Adam
from minitl.transfer import History, safe_finetune, train_loop
from minitl.transfer.loop import extract_features, set_train_mode
from minitl.transfer.model import attach_head


def test_history_rows_steps_evaluations_and_json():
    model = attach_head(pretrained(), num_classes=2, sample=np.zeros((1, 16), np.float32),
                        rng=0)
    x, y = related_task(96, 0)
    loader = DataLoader(x, y, batch_size=32, shuffle=True, seed=0)
    opt = Adam(list(model.parameters()), lr=1e-3)
    history = train_loop(model, loader, opt, epochs=2, val=related_task(64, 1))
    assert history.step == 6 and len(history) == 7  # step-0 evaluation + 6 steps
    steps, accs = history.column("val_acc")
    assert steps == [0, 3, 6] and all(0.0 <= a <= 1.0 for a in accs)
    assert history.rows[1]["lr"] == [1e-3] and "loss" in history.rows[1]
    train_loop(model, loader, opt, steps=4, history=history, phase="more", eval_every=2,
               val=related_task(64, 1))
    assert history.step == 10 and history.column("val_acc", phase="more")[0] == [8, 10]
    json.dumps(history.to_list())
    assert History(history.to_list()).last("val_acc") == history.last("val_acc")


def test_same_seed_same_bits():
    data, val = related_task(96, 0), related_task(64, 1)
    runs = [safe_finetune(pretrained(), data, val, epochs=4, batch_size=32, seed=3,
                          monitor=True) for _ in range(2)]
    a, b = (r.model.state_dict() for r in runs)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert json.dumps(runs[0].history.to_list()) == json.dumps(runs[1].history.to_list())
    other = safe_finetune(pretrained(), data, val, epochs=4, batch_size=32, seed=4)
    assert not np.array_equal(other.model.head.weight.data, runs[0].model.head.weight.data)


def test_frozen_parts_run_in_eval_mode_so_batchnorm_statistics_stay_fixed():
    rng = np.random.default_rng(0)
    body = nn.Sequential(nn.Linear(16, 8, rng=rng), nn.BatchNorm1d(8), nn.ReLU())
    model = attach_head(nn.Sequential(body, nn.Linear(8, 2, rng=rng)), num_classes=2,
                        sample=np.zeros((1, 16), np.float32), rng=0)
    model.body.freeze()
    set_train_mode(model)
    assert not model.body.training and model.head.training
    before = model.body.state_dict()
    x, y = related_task(64, 0)
    train_loop(model, DataLoader(x, y, batch_size=16, seed=0),
               Adam(list(model.head.parameters()), lr=1e-2), epochs=2)
    for key, value in model.body.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_extract_features_is_batch_size_independent():
    body = pretrained().body
    x, _ = related_task(50, 0)
    np.testing.assert_allclose(extract_features(body, x, batch_size=7),
                               extract_features(body, x, batch_size=64), rtol=1e-5, atol=1e-6)
