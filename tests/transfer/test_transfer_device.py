"""Recipes, monitor and scores run where the data is: CPU (NumPy) or GPU (CuPy)."""

import numpy as np
from transfer_toys import pretrained, related_task, source_task

from minitl.transfer import (
    StabilityMonitor,
    adapt,
    feature_extraction,
    safe_finetune,
    transferability,
)
from minitl.transfer.reinit import matched_norm_init

TRAIN, VAL = related_task(96, 0), related_task(64, 1)


def test_recipes_on_each_device_match_the_cpu(device):
    probe = source_task(64, 5)
    runs = {}
    for where in ("cpu", device):
        runs[where] = safe_finetune(pretrained(), TRAIN, VAL, epochs=3, device=where,
                                    monitor=StabilityMonitor(source_probe=probe))
    model = runs[device].model
    assert all(p.device == device for p in model.parameters())
    for key in ("val_acc", "body_drift", "cka_source", "mismatch", "source_acc"):
        np.testing.assert_allclose(runs[device].history.last(key), runs["cpu"].history.last(key),
                                   rtol=1e-3, atol=1e-3, err_msg=key)
    fe = feature_extraction(pretrained().to(device), TRAIN, VAL, epochs=2, device=device)
    assert fe.model.head.weight.device == device
    scores = transferability(pretrained().to(device), *VAL)
    assert 0.0 <= scores["probe_accuracy"] <= 1.0 and scores["leep"] <= 0.0
    control = matched_norm_init(pretrained().to(device).body, pretrained().to(device).body,
                                rng=0)
    assert control[0].weight.device == device
    result = adapt(pretrained(), TRAIN, VAL, head_epochs=5, epochs_per_level=1,
                   device=device, compare_scratch=True)
    assert result.decisions[0]["val_acc"] is not None
