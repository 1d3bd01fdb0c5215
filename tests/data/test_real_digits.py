"""Real digits: the glyphs' layout, disjoint splits and pools, determinism, a clear error."""

from __future__ import annotations

import sys
from itertools import combinations

import numpy as np
import pytest

from minitl.data import (
    REAL_DIGIT_POOLS,
    REAL_DIGITS_COUNT,
    glyph_digits,
    real_digit_ids,
    real_digits,
    real_two_digit_numbers,
)
from minitl.data.real_digits import linear_weights, load_raw_digits, resample, to_glyph_layout
from minitl.errors import ArgumentError, MissingDependencyError

SPLITS = ("train", "val", "test")
try:
    import sklearn  # noqa: F401
    HAVE_SKLEARN = True
except ImportError:
    HAVE_SKLEARN = False
needs_sklearn = pytest.mark.skipif(not HAVE_SKLEARN,
                                   reason="scikit-learn missing: pip install -e '.[real]'")


def ink_extent(images: np.ndarray, axis: int) -> float:
    """Mean number of rows (axis=2) or columns (axis=1) holding a pixel above 0.5."""
    spans = []
    for mask in (images[:, 0] > 0.5).any(axis=axis):
        on = np.flatnonzero(mask)
        spans.append(on[-1] - on[0] + 1)
    return float(np.mean(spans))


# ----------------------------------------------------------------------------- resampling


def test_linear_weights_rows_sum_to_one_and_identity_is_exact():
    for n_in, n_out in [(8, 21), (8, 8), (21, 8), (16, 8), (5, 3)]:
        w = linear_weights(n_in, n_out)
        assert w.shape == (n_out, n_in) and (w >= 0).all()
        np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(linear_weights(8, 8), np.eye(8))


def test_enlarging_interpolates_linearly_and_keeps_the_range():
    ramp = np.arange(8, dtype=np.float64)[None, :].repeat(8, axis=0)  # value = column centre
    big = resample(ramp, 16, 16)
    # Away from the clamped edges, output pixel j sits at input coordinate (j + 0.5) / 2 - 0.5.
    centres = (np.arange(16) + 0.5) / 2 - 0.5
    inner = (centres >= 0) & (centres <= 7)
    np.testing.assert_allclose(big[0, inner], centres[inner], atol=1e-12)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (3, 8, 8))
    y = resample(x, 21, 13)
    assert y.shape == (3, 21, 13) and y.min() >= x.min() - 1e-12 and y.max() <= x.max() + 1e-12


def test_shrinking_averages_instead_of_aliasing():
    stripes = np.tile([0.0, 1.0], 8)[None, :].repeat(4, axis=0)  # (4, 16) alternating columns
    small = resample(stripes, 4, 8)
    # Point sampling would give all 0 or all 1; an average over each output pixel gives ~0.5.
    assert np.all(np.abs(small[:, 1:-1] - 0.5) < 0.2)


# ----------------------------------------------------------------------------- single digits


@needs_sklearn
@pytest.mark.parametrize("size", [28, 16])
def test_layout_and_scaling_match_the_glyph_digits(size):
    real = real_digits(200, seed=0, size=size)
    glyph = glyph_digits(200, seed=0, size=size)
    assert real.images.shape == glyph.images.shape == (200, 1, size, size)
    assert real.images.dtype == glyph.images.dtype == np.float32
    assert real.labels.dtype == glyph.labels.dtype == np.int64
    assert real.classes == glyph.classes
    assert real.images.min() >= 0.0 and real.images.max() <= 1.0
    assert np.median(real.images.max(axis=(1, 2, 3))) > 0.9  # ink reaches white, as glyphs do
    border = np.concatenate([real.images[..., 0, :], real.images[..., -1, :],
                             real.images[..., :, 0], real.images[..., :, -1]], axis=-1)
    assert border.max() == 0.0  # black margin around a centred digit
    # The digit is as tall as a glyph digit (within 10% of the image side).
    assert abs(ink_extent(real.images, 2) - ink_extent(glyph.images, 2)) < 0.1 * size


@needs_sklearn
def test_images_are_the_sklearn_digits_with_their_labels():
    raw, labels = load_raw_digits()
    d = real_digits(seed=4, split="val", pool="target")
    np.testing.assert_array_equal(d.labels, labels[d.ids])
    np.testing.assert_array_equal(d.images, to_glyph_layout(raw[d.ids]))
    # Shrunk back to 8x8, each image still matches the 0..16 counts it came from (over 16)
    # far better than it matches its neighbour's.
    back = resample(d.images[:, 0, 3:24, 3:24], 8, 8).reshape(len(d), -1)
    want = (raw[d.ids] / 16.0).reshape(len(d), -1)
    own = [np.corrcoef(a, b)[0, 1] for a, b in zip(back, want)]
    other = [np.corrcoef(a, b)[0, 1] for a, b in zip(back, np.roll(want, 1, axis=0))]
    assert min(own) > 0.9 and np.mean(other) < 0.7


@needs_sklearn
def test_splits_and_pools_are_disjoint_and_cover_every_image():
    for seed in (0, 7):
        cells = {(p, s): set(real_digit_ids(seed, s, p).tolist())
                 for p in ("source", "target") for s in SPLITS}
        for a, b in combinations(cells, 2):
            assert not cells[a] & cells[b], f"seed {seed}: {a} and {b} share images"
        assert set().union(*cells.values()) == set(range(REAL_DIGITS_COUNT))
        for s in SPLITS:
            ids = real_digit_ids(seed, s, "all")
            assert len(set(ids.tolist())) == len(ids)  # no image twice in a split
            assert set(ids.tolist()) == cells[("source", s)] | cells[("target", s)]
        sizes = {k: len(v) for k, v in cells.items()}
        assert 500 < sizes[("source", "train")] < 560 and 170 < sizes[("target", "test")] < 190


@needs_sklearn
def test_prefixes_are_class_balanced():
    labels = real_digits(seed=2, split="train", pool="all").labels
    for n in (10, 37, 500, 1000):
        counts = np.bincount(labels[:n], minlength=10)
        assert counts.max() - counts.min() <= 1, (n, counts)


@needs_sklearn
def test_same_seed_same_bits_other_seed_other_split():
    a, b = real_digits(300, seed=5), real_digits(300, seed=5)
    assert a.images.tobytes() == b.images.tobytes()
    np.testing.assert_array_equal(a.ids, b.ids)
    c = real_digits(300, seed=6)
    assert set(real_digit_ids(5, "test").tolist()) != set(real_digit_ids(6, "test").tolist())
    assert not np.array_equal(a.images, c.images)
    # A prefix is the same whatever n is asked for.
    np.testing.assert_array_equal(real_digits(40, seed=5).images, a.images[:40])


# ----------------------------------------------------------------------------- numbers


@needs_sklearn
def test_numbers_layout_values_and_slots():
    raw, labels = load_raw_digits()
    nums = real_two_digit_numbers(250, seed=1, split="train", pool="target", size=28)
    assert nums.images.shape == (250, 2, 1, 28, 28) and nums.images.dtype == np.float32
    assert nums.values.dtype == np.int64
    np.testing.assert_array_equal(np.sort(nums.values[:200]), np.repeat(np.arange(100), 2))
    np.testing.assert_array_equal(labels[nums.tens_ids], nums.tens)
    np.testing.assert_array_equal(labels[nums.units_ids], nums.units)
    np.testing.assert_array_equal(nums.images[:, 0], to_glyph_layout(raw[nums.tens_ids]))
    np.testing.assert_array_equal(nums.images[:, 1], to_glyph_layout(raw[nums.units_ids]))
    for task in ("magnitude", "thermometer", "parity", "random"):
        assert len(nums.labels(task)) == 250
    pool = set(real_digit_ids(1, "train", "target").tolist())
    assert set(nums.tens_ids.tolist()) | set(nums.units_ids.tolist()) <= pool


@needs_sklearn
def test_numbers_never_share_an_image_across_splits_or_pools():
    def used(split, pool):
        nums = real_two_digit_numbers(600, seed=3, split=split, pool=pool)
        return set(nums.tens_ids.tolist()) | set(nums.units_ids.tolist())

    target = {s: used(s, "target") for s in SPLITS}
    for a, b in combinations(SPLITS, 2):
        assert not target[a] & target[b], f"target {a} and {b} share images"
    source = used("train", "source") | used("val", "source")
    assert not source & set().union(*target.values())


@needs_sklearn
def test_disjoint_slots_never_show_an_image_in_both_slots():
    nums = real_two_digit_numbers(1000, seed=4, split="train", pool="target",
                                  disjoint_slots=True)
    tens, units = set(nums.tens_ids.tolist()), set(nums.units_ids.tolist())
    assert not tens & units
    assert tens | units <= set(real_digit_ids(4, "train", "target").tolist())
    shared = real_two_digit_numbers(1000, seed=4, split="train", pool="target")
    assert set(shared.tens_ids.tolist()) & set(shared.units_ids.tolist())  # the default shares
    np.testing.assert_array_equal(nums.values, shared.values)


@needs_sklearn
def test_numbers_are_a_pure_function_of_seed_split_pool_and_index():
    a = real_two_digit_numbers(120, seed=9, split="val", pool="source")
    b = real_two_digit_numbers(50, seed=9, split="val", pool="source")
    assert a.images[:50].tobytes() == b.images.tobytes()
    np.testing.assert_array_equal(a.values[:50], b.values)
    c = real_two_digit_numbers(120, seed=10, split="val", pool="source")
    assert not np.array_equal(a.images, c.images)


# ----------------------------------------------------------------------------- errors


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    # A None entry in sys.modules makes `import sklearn...` raise ImportError.
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    for call in (lambda: real_digits(10), lambda: real_two_digit_numbers(10),
                 lambda: real_digit_ids(0)):
        with pytest.raises(MissingDependencyError, match=r"pip install -e '\.\[real\]'"):
            call()
    assert issubclass(MissingDependencyError, ImportError)


@needs_sklearn
def test_bad_arguments_are_named():
    with pytest.raises(ArgumentError, match="pool must be one of"):
        real_digits(10, pool="targets")
    with pytest.raises(ArgumentError, match=r"asked for 5000 images.*'test' of pool 'source'"):
        real_digits(5000, split="test", pool="source")
    with pytest.raises(ArgumentError, match="size"):
        real_digits(10, size=4)
    with pytest.raises(ValueError, match="split"):
        real_two_digit_numbers(10, split="dev")
    assert REAL_DIGIT_POOLS == ("all", "source", "target")
