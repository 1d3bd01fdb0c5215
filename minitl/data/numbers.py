"""Two-digit numbers 0-99, for transfer between tasks that read different digits.

Each sample is a value ``v`` in 0..99 drawn as two glyph digits side by side: slot 0 holds
the tens digit ``v // 10`` (a leading ``0`` for ``v < 10``), slot 1 the units digit
``v % 10``. Both slots are drawn by the same generator as :func:`glyph_digits`, each from its
own key, so the two glyphs of a number are independent handwriting samples.

Images have shape (N, 2, 1, H, W): a model reads each slot with one weight-shared encoder
(fold the slot axis into the batch, encode, unfold, combine). The labels are functions of
the value, chosen so that tasks lean on different slots:

* ``"magnitude"``: ``v >= 50`` -- needs only the tens glyph;
* ``"thermometer"``: nine float outputs ``v >= 10k`` for k = 1..9 -- a graded reading of
  the tens glyph (float32 (N, 9));
* ``"parity"``: ``v`` odd -- needs only the units glyph;
* ``"random"``: a fixed random 50/50 split of the 100 values (seeded) -- a control task
  that has no structure shared with the digit identities; the model must memorise a lookup
  table over both glyphs.

A network pretrained on magnitude has learnt to read the *tens* slot; whether that
encoder helps with parity (same glyphs, other slot) is the transfer experiment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._random import balanced_labels, check_count, check_seed_split, derive, keys_for
from .glyphs import render_glyphs

NUMBER_TASKS = ("magnitude", "thermometer", "parity", "random")
_TENS_SLOT, _UNITS_SLOT = 10, 11  # derivation tags of the two slot keys


def number_labels(values, task: str, seed: int = 0) -> np.ndarray:
    """Targets of ``task`` for integer ``values`` in 0..99.

    ``magnitude``, ``parity`` and ``random`` give int64 class labels (N,) in {0, 1};
    ``thermometer`` gives float32 (N, 9) with column ``k - 1`` equal to ``values >= 10 k``.
    ``seed`` only matters for ``random``: it picks which 50 values are labelled 1.
    """
    v = np.asarray(values)
    if not np.issubdtype(v.dtype, np.integer):
        raise TypeError(f"values must be integers, got dtype {v.dtype}")
    v = v.astype(np.int64)
    if v.size and (v.min() < 0 or v.max() > 99):
        raise ValueError("values must lie in 0..99")
    if task == "magnitude":
        return (v >= 50).astype(np.int64)
    if task == "thermometer":
        return (v[..., None] >= 10 * np.arange(1, 10)).astype(np.float32)
    if task == "parity":
        return (v % 2).astype(np.int64)
    if task == "random":
        table = np.zeros(100, dtype=np.int64)
        table[np.random.default_rng([seed, 0x4E554D]).permutation(100)[:50]] = 1
        return table[v]
    raise ValueError(f"unknown task {task!r}; expected one of {NUMBER_TASKS}")


@dataclass(frozen=True)
class NumberImages:
    """Two-glyph images (N, 2, 1, H, W) float32 and their values (N,) int64.

    Unpacks as ``images, values``; :meth:`labels` turns the values into task targets.
    """

    images: np.ndarray
    values: np.ndarray

    @property
    def tens(self) -> np.ndarray:
        return self.values // 10

    @property
    def units(self) -> np.ndarray:
        return self.values % 10

    def labels(self, task: str, seed: int = 0) -> np.ndarray:
        return number_labels(self.values, task, seed)

    def __iter__(self):
        return iter((self.images, self.values))

    def __len__(self) -> int:
        return int(self.values.shape[0])


def number_slot_keys(seed: int, split: str, indices) -> tuple[np.ndarray, np.ndarray]:
    """Glyph keys of the tens and units slots of samples ``indices``.

    ``render_glyphs(values // 10, tens_keys)`` redraws exactly the tens slot (and likewise
    for units): the slots are ordinary glyph digits.
    """
    keys = keys_for(seed, split, np.asarray(indices), "numbers")
    return derive(keys, _TENS_SLOT), derive(keys, _UNITS_SLOT)


def two_digit_numbers(n: int, seed: int = 0, split: str = "train", size: int = 28) -> NumberImages:
    """``n`` two-digit numbers; every block of 100 samples holds each value 0..99 once.

    Sample ``i`` is a pure function of ``(seed, split, i, size)``, and the splits never
    share a sample. Magnitude and parity are therefore balanced (exactly, for ``n`` a
    multiple of 100).
    """
    n = check_count(n)
    check_seed_split(seed, split)
    idx = np.arange(n)
    values = balanced_labels(seed, split, idx, 100, "numbers")
    tens_keys, units_keys = number_slot_keys(seed, split, idx)
    tens = render_glyphs(values // 10, tens_keys, size)
    units = render_glyphs(values % 10, units_keys, size)
    images = np.stack([tens, units], axis=1)
    return NumberImages(images, values)
