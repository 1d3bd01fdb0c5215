"""Two-digit numbers: task labels, and which glyph slot each task depends on."""

from __future__ import annotations

import numpy as np
import pytest

from minitl.data import (
    NUMBER_TASKS,
    number_labels,
    number_slot_keys,
    render_glyphs,
    two_digit_numbers,
)

ALL = np.arange(100)


def test_task_labels_by_value():
    np.testing.assert_array_equal(number_labels(ALL, "magnitude"), (ALL >= 50).astype(int))
    np.testing.assert_array_equal(number_labels(ALL, "parity"), ALL % 2)
    thermo = number_labels(ALL, "thermometer")
    assert thermo.shape == (100, 9) and thermo.dtype == np.float32
    np.testing.assert_array_equal(thermo.sum(axis=1), ALL // 10)  # k outputs on for tens k
    np.testing.assert_array_equal(thermo[37], [1, 1, 1, 0, 0, 0, 0, 0, 0])
    for task in ("magnitude", "parity", "random"):
        assert number_labels(ALL, task).dtype == np.int64


def test_parity_depends_only_on_units_and_magnitude_only_on_tens():
    parity, magnitude = number_labels(ALL, "parity"), number_labels(ALL, "magnitude")
    tens, units = ALL // 10, ALL % 10
    for u in range(10):
        assert len(set(parity[units == u])) == 1  # same units digit -> same parity
    for t in range(10):
        assert len(set(magnitude[tens == t])) == 1  # same tens digit -> same magnitude
    # ... and each does vary with its own slot.
    assert len(set(parity[tens == 3])) == 2 and len(set(magnitude[units == 3])) == 2


def test_random_control_is_seeded_balanced_and_unrelated():
    a, b = number_labels(ALL, "random", seed=0), number_labels(ALL, "random", seed=0)
    np.testing.assert_array_equal(a, b)
    assert a.sum() == 50
    assert not np.array_equal(a, number_labels(ALL, "random", seed=1))
    # Not a function of either slot alone.
    assert any(len(set(a[ALL % 10 == u])) == 2 for u in range(10))
    assert any(len(set(a[ALL // 10 == t])) == 2 for t in range(10))


def test_bad_task_and_values():
    with pytest.raises(ValueError, match="unknown task"):
        number_labels(ALL, "size")
    with pytest.raises(ValueError):
        number_labels(np.array([100]), "parity")
    with pytest.raises(TypeError):
        number_labels(np.array([1.0]), "parity")
    assert set(NUMBER_TASKS) == {"magnitude", "thermometer", "parity", "random"}


def test_labels_method_matches_function():
    ds = two_digit_numbers(200, seed=2)
    for task in NUMBER_TASKS:
        np.testing.assert_array_equal(ds.labels(task), number_labels(ds.values, task))
    np.testing.assert_array_equal(ds.tens * 10 + ds.units, ds.values)


def test_each_slot_is_the_glyph_of_its_digit():
    """Regenerate each slot with the digit generator: tens slot <- tens digit, units <- units."""
    ds = two_digit_numbers(120, seed=9, split="val")
    tens_keys, units_keys = number_slot_keys(9, "val", np.arange(120))
    np.testing.assert_array_equal(render_glyphs(ds.tens, tens_keys), ds.images[:, 0])
    np.testing.assert_array_equal(render_glyphs(ds.units, units_keys), ds.images[:, 1])
    # Swapping the digit changes the slot: the slot image is drawn from that digit.
    other = (ds.units + 1) % 10
    redrawn = render_glyphs(other, units_keys)
    assert all(not np.array_equal(redrawn[i], ds.images[i, 1]) for i in range(120))


def test_slots_are_independent_glyph_samples():
    """For a value like 44 both slots show a 4, but two different handwriting samples."""
    ds = two_digit_numbers(400, seed=0)
    same = np.flatnonzero(ds.tens == ds.units)
    assert len(same) > 0
    for i in same:
        assert not np.array_equal(ds.images[i, 0], ds.images[i, 1])


def test_leading_zero_for_one_digit_values():
    ds = two_digit_numbers(300, seed=1)
    small = np.flatnonzero(ds.values < 10)
    tens_keys, _ = number_slot_keys(1, "train", small)
    np.testing.assert_array_equal(
        ds.images[small, 0], render_glyphs(np.zeros(len(small), dtype=np.int64), tens_keys)
    )
