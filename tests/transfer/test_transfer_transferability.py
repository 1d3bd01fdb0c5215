"""transferability: before training, are the tasks related?"""

import numpy as np
from transfer_toys import blind, pretrained, related_task, unrelated_task

from minitl.transfer import transferability


def test_related_target_scores_higher_than_an_unrelated_one():
    related = transferability(pretrained(), *related_task(200, 0, noise=0.0))
    unrelated = transferability(blind(), *unrelated_task(200, 0))
    keys = {"probe_accuracy", "label_cka", "logme", "h_score", "leep", "chance", "n",
            "feature_dim", "num_classes"}
    assert keys <= set(related) and keys <= set(unrelated)
    assert related["feature_dim"] == unrelated["feature_dim"] == 16  # LogME is comparable
    for key in ("probe_accuracy", "label_cka", "logme", "h_score", "leep"):
        assert related[key] > unrelated[key], key
    assert related["probe_accuracy"] > 0.8 and unrelated["probe_accuracy"] < 0.7


def test_body_alone_in_batches_gives_the_same_scores_without_leep():
    model, (x, y) = pretrained(), related_task(120, 3)
    whole = transferability(model, x, y, batch_size=256)
    body = transferability(model.body, (x, y), batch_size=7)
    assert "leep" not in body
    for key in ("probe_accuracy", "label_cka", "logme", "h_score"):
        np.testing.assert_allclose(body[key], whole[key], rtol=1e-5)
