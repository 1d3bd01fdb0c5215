"""summary(): rows, output shapes, frozen counts, no side effects."""

import numpy as np

from minitl import nn


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, rng=rng), nn.BatchNorm2d(2),
                                      nn.ReLU(), nn.Sequential(nn.MaxPool2d(2), nn.Flatten()))
        self.classifier = nn.Linear(2 * 3 * 3, 4, rng=rng)

    def forward(self, x):
        return self.classifier(self.features(x))


def test_summary_lists_layers_shapes_and_frozen_counts():
    model = Tower()
    model.features.freeze()
    text = nn.summary(model, (5, 1, 6, 6))
    assert isinstance(text, str)
    names = [row[0].strip() for row in text.rows]
    assert names == ["(model)", "features", "features.0", "features.1", "features.2",
                     "features.3", "features.3.0", "features.3.1", "classifier"]
    shapes = {row[0].strip(): row[2] for row in text.rows}
    assert shapes["features.0"] == "(5, 2, 6, 6)" and shapes["features.3.1"] == "(5, 18)"
    assert shapes["(model)"] == "(5, 4)"
    statuses = {row[0].strip(): row[4] for row in text.rows}
    assert statuses["features.0"] == "frozen" and statuses["classifier"] == "trainable"
    frozen = 2 * 1 * 9 + 2 + 2 + 2
    assert (text.total_params, text.frozen_params) == (frozen + 18 * 4 + 4, frozen)
    assert text.trainable_params == 76 and text.frozen_tensors == 4
    assert f"Frozen params:    {frozen}" in text and "Trainable params: 76" in text
    assert "features.3.1" in text and "BatchNorm2d" in text


def test_summary_has_no_side_effects():
    model = Tower()
    model.features[1].eval()
    before = model.state_dict()
    nn.summary(model, (2, 1, 6, 6))
    assert model.training and model.features.training and not model.features[1].training
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    assert all(not m._forward_hooks for m in model.modules())
