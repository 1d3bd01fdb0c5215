"""Shared contract of the procedural datasets: determinism, balance, ranges, splits."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from minitl.data import (
    ANIMAL_CLASSES,
    DIGIT_CLASSES,
    animals,
    glyph_digits,
    render_animals,
    render_glyphs,
    two_digit_numbers,
)
from minitl.data._random import SPLITS, Draws, keys_for

MAKERS = {"digits": glyph_digits, "animals": animals, "numbers": two_digit_numbers}
NUM_CLASSES = {"digits": len(DIGIT_CLASSES), "animals": len(ANIMAL_CLASSES), "numbers": 100}


def labels_of(ds):
    return ds.values if hasattr(ds, "values") else ds.labels


@pytest.mark.parametrize("name", MAKERS)
def test_same_seed_same_bytes(name):
    a, b = MAKERS[name](60, seed=5), MAKERS[name](60, seed=5)
    assert a.images.tobytes() == b.images.tobytes()
    assert labels_of(a).tobytes() == labels_of(b).tobytes()


@pytest.mark.parametrize("name", MAKERS)
def test_different_seeds_differ(name):
    a, b = MAKERS[name](60, seed=1), MAKERS[name](60, seed=2)
    assert not np.array_equal(a.images, b.images)
    assert not np.array_equal(labels_of(a), labels_of(b))


@pytest.mark.parametrize("name", MAKERS)
def test_sample_is_independent_of_n(name):
    """Sample i depends on (seed, split, i) only: a prefix of a bigger set is the smaller set."""
    small, big = MAKERS[name](37, seed=3), MAKERS[name](300, seed=3)
    np.testing.assert_array_equal(small.images, big.images[:37])
    np.testing.assert_array_equal(labels_of(small), labels_of(big)[:37])


@pytest.mark.parametrize("name", MAKERS)
def test_dtypes_shapes_and_range(name):
    ds = MAKERS[name](50, seed=0, size=20)
    shape = (50, 2, 1, 20, 20) if name == "numbers" else (50, 1, 20, 20)
    assert ds.images.shape == shape
    assert ds.images.dtype == np.float32
    assert labels_of(ds).dtype == np.int64
    assert labels_of(ds).shape == (50,)
    assert ds.images.min() >= 0.0 and ds.images.max() <= 1.0
    assert np.isfinite(ds.images).all()
    assert len(ds) == 50
    images, labels = ds  # unpacks as a pair
    assert images is ds.images and labels is labels_of(ds)


@pytest.mark.parametrize("name", MAKERS)
def test_default_size_is_28(name):
    assert MAKERS[name](4).images.shape[-2:] == (28, 28)


@pytest.mark.parametrize("name", ["digits", "animals"])
@pytest.mark.parametrize("n", [997, 1000])
def test_classes_balanced_within_two_percent(name, n):
    labels = labels_of(MAKERS[name](n, seed=11))
    c = NUM_CLASSES[name]
    counts = np.bincount(labels, minlength=c)
    assert counts.sum() == n
    assert np.abs(counts / n - 1 / c).max() <= 0.02


def test_number_values_balanced():
    values = two_digit_numbers(1000, seed=4).values
    assert np.array_equal(np.bincount(values, minlength=100), np.full(100, 10))


def test_labels_are_not_in_a_fixed_order():
    labels = glyph_digits(100, seed=0).labels
    assert not np.array_equal(labels, np.arange(100) % 10)


def _digests(images):
    return {hashlib.sha1(im.tobytes()).hexdigest() for im in images}


@pytest.mark.parametrize("name", MAKERS)
def test_splits_are_disjoint(name):
    """No image of one split equals any image of another (same seed, same size)."""
    sets = {s: MAKERS[name](400, seed=0, split=s) for s in SPLITS}
    digests = {s: _digests(ds.images) for s, ds in sets.items()}
    for s in SPLITS:
        assert len(digests[s]) == 400, "duplicate images inside one split"
    assert not digests["train"] & digests["val"]
    assert not digests["train"] & digests["test"]
    assert not digests["val"] & digests["test"]


def test_split_keys_disjoint_by_construction():
    """Per-sample keys are a bijection of (split, index): the splits share no key at all."""
    idx = np.arange(5000)
    keys = [set(keys_for(7, s, idx, "digits").tolist()) for s in SPLITS]
    assert all(len(k) == len(idx) for k in keys)
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])


def test_render_depends_only_on_label_and_key():
    """Drawing a sample alone or among others gives the same pixels (chunking is invisible)."""
    keys = keys_for(0, "train", np.arange(700), "test-render")
    digits = np.arange(700) % 10
    together = render_glyphs(digits, keys)
    alone = render_glyphs(digits[[3, 650]], keys[[3, 650]])
    np.testing.assert_array_equal(alone, together[[3, 650]])
    kinds = np.arange(700) % 4
    together = render_animals(kinds, keys)
    alone = render_animals(kinds[[5, 601]], keys[[5, 601]])
    np.testing.assert_array_equal(alone, together[[5, 601]])


def test_draws_are_uniform_enough():
    d = Draws(keys_for(0, "train", np.arange(20000), "rng"))
    u = d.uniform()
    assert 0.0 <= u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.01
    z = d.normal()
    assert abs(z.mean()) < 0.03 and abs(z.std() - 1.0) < 0.03
    k = d.integers(10)
    assert np.abs(np.bincount(k, minlength=10) / 20000 - 0.1).max() < 0.01


@pytest.mark.parametrize("name", MAKERS)
@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"split": "validation"}, ValueError),
        ({"seed": -1}, ValueError),
        ({"seed": 1.5}, TypeError),
        ({"size": 4}, ValueError),
    ],
)
def test_bad_arguments(name, kwargs, error):
    with pytest.raises(error):
        MAKERS[name](4, **kwargs)


@pytest.mark.parametrize("name", MAKERS)
def test_zero_samples(name):
    ds = MAKERS[name](0)
    assert ds.images.shape[0] == 0 and labels_of(ds).shape == (0,)
