"""No shortcut: the amount of ink must not give the class away.

For each dataset/task we fit two 1-D classifiers on a training split -- one on the mean
intensity of an image, one on the number of pixels above 0.5 -- and score them on the test
split. Both must stay within 10 points of chance (1 / number of classes). The histogram
classifier (majority class per quantile bin) picks up any class-dependent shift of the
scalar, so passing it means ink amount is nearly useless as a cue.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from minitl.data import animals, glyph_digits, two_digit_numbers

from .helpers import (
    bright_pixel_count,
    histogram_classifier_accuracy,
    mean_intensity,
    nearest_mean_accuracy,
)

N_TRAIN, N_TEST = 4000, 2000
MARGIN = 0.10


@cache
def _generate(name):
    make = {"digits": glyph_digits, "animals": animals, "numbers": two_digit_numbers}[name]
    return make(N_TRAIN, seed=0, split="train"), make(N_TEST, seed=0, split="test")


def _data(name):
    """Train/test images and labels for a dataset or a numbers task, and the class count."""
    if name in ("digits", "animals"):
        tr, te = _generate(name)
        return tr.images, tr.labels, te.images, te.labels, 10 if name == "digits" else 4
    task = name.split("-")[1]
    tr, te = _generate("numbers")
    return tr.images, tr.labels(task), te.images, te.labels(task), 2


@pytest.mark.parametrize("feature", [mean_intensity, bright_pixel_count],
                         ids=["mean_intensity", "count_above_half"])
@pytest.mark.parametrize("name", ["digits", "animals", "numbers-parity", "numbers-magnitude"])
def test_ink_amount_is_near_chance(name, feature):
    x_tr, y_tr, x_te, y_te, c = _data(name)
    f_tr, f_te = feature(x_tr), feature(x_te)
    chance = 1.0 / c
    hist = histogram_classifier_accuracy(f_tr, y_tr, f_te, y_te, c)
    near = nearest_mean_accuracy(f_tr, y_tr, f_te, y_te, c)
    print(f"{name} {feature.__name__}: histogram {hist:.3f}, nearest-mean {near:.3f}, "
          f"chance {chance:.3f}")
    assert hist <= chance + MARGIN, f"{name}: {feature.__name__} predicts the class ({hist:.3f})"
    assert near <= chance + MARGIN, f"{name}: {feature.__name__} predicts the class ({near:.3f})"


def test_per_class_ink_is_matched():
    """The class means of both ink measures differ by only a few percent."""
    for make in (glyph_digits, animals):
        ds = make(4000, seed=1)
        for feature in (mean_intensity, bright_pixel_count):
            f = feature(ds.images)
            means = np.array([f[ds.labels == c].mean() for c in np.unique(ds.labels)])
            assert means.max() / means.min() < 1.06, (make.__name__, feature.__name__, means)
