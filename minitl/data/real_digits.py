"""Real handwritten digits: scikit-learn's 1,797 images, in the glyph digits' layout.

Where they come from
--------------------
scikit-learn ships a small set of real handwriting inside the package (no download):
1,797 digits written by 43 people (the UCI "optical recognition of handwritten digits"
set). Each was scanned as a 32×32 black-and-white bitmap, scaled to fill the box, then
reduced to 8×8 by counting the ink pixels in every 4×4 block, so a pixel holds 0..16.
Installing the ``real`` extra brings scikit-learn: ``pip install -e '.[real]'``.

The layout
----------
The images come out exactly like :func:`glyph_digits`: float32 (N, 1, size, size), a black
background of 0 and ink up to 1 (the block counts divided by 16), the digit centred in a
box three quarters of the image tall -- the height of a glyph digit -- and resampled to it
with :func:`resample` (linear interpolation, pure NumPy). What is *not* matched, on
purpose, is everything that makes real data real: stroke width, blur and style are the
writers'. Real digits carry somewhat more ink than the glyphs and no pixel noise.

Splits and pools
----------------
1,797 images are few, so which image goes where is decided once per seed and every
function here follows the same partition. Each class's images are ordered by a hash of
``(seed, image id)`` and cut into six disjoint cells: a *source* and a *target* pool of
half the images each, and within each pool a ``train`` / ``val`` / ``test`` split of
60 / 20 / 20 %. ``pool="all"`` joins the two pools, so its ``"train"`` split is both pools'
train cells. An experiment that pretrains on real digits takes its source data from
``pool="source"`` and its target data from ``pool="target"``: no image is in both, and no
image is in two splits. Another seed gives another partition.

Two-digit numbers (:func:`real_two_digit_numbers`) are composed like
:func:`two_digit_numbers`, but each slot shows a real image of its digit, drawn (by the
sample's key) from the images of that split and pool only; so a test number never shows an
image a training number showed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ArgumentError, MinitlError, MissingDependencyError
from ._random import (
    SPLITS,
    Draws,
    balanced_labels,
    check_count,
    check_seed_split,
    derive,
    keys_for,
    mix64,
    seed_key,
)
from .glyphs import DIGIT_CLASSES, LabelledImages
from .numbers import NumberImages

#: How many images scikit-learn's digits hold.
REAL_DIGITS_COUNT = 1797
#: ``pool`` values: both pools, or one of two disjoint halves.
REAL_DIGIT_POOLS = ("all", "source", "target")
# The six cells of the partition and the share of each class they take, in order.
_CELLS = tuple((pool, split) for pool in ("source", "target") for split in SPLITS)
_CELL_SHARES = (0.3, 0.1, 0.1, 0.3, 0.1, 0.1)
_BOX = 0.75  # side of the digit's box, as a fraction of the image side (a glyph's height)
_MAX_COUNT = 16.0  # ink pixels in a 4x4 block: the brightest value of the 8x8 images


@dataclass(frozen=True)
class RealDigitImages(LabelledImages):
    """:class:`LabelledImages` plus ``ids`` (N,): each image's position in ``load_digits()``."""

    ids: np.ndarray


@dataclass(frozen=True)
class RealNumberImages(NumberImages):
    """:class:`NumberImages` plus the ids of the real images shown in each slot (N,)."""

    tens_ids: np.ndarray
    units_ids: np.ndarray


def load_raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as they ship: images float64 (1797, 8, 8) in 0..16, labels int64.

    Raises :class:`~minitl.errors.MissingDependencyError` naming the extra to install when
    scikit-learn is missing.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise MissingDependencyError(
            "the real digits come with scikit-learn, which is not installed: "
            "pip install -e '.[real]' (or pip install 'scikit-learn>=1.4')"
        ) from exc
    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float64)
    labels = np.asarray(bunch.target, dtype=np.int64)
    if images.shape != (REAL_DIGITS_COUNT, 8, 8) or labels.shape != (REAL_DIGITS_COUNT,):
        raise MinitlError(
            f"scikit-learn's load_digits gave images {images.shape} and labels "
            f"{labels.shape}; expected ({REAL_DIGITS_COUNT}, 8, 8) and ({REAL_DIGITS_COUNT},)"
        )
    return images, labels


# ----------------------------------------------------------------------------- resampling


def linear_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights resampling one axis from ``n_in`` to ``n_out`` pixels.

    Pixel ``j`` is the unit interval ``[j, j + 1)`` with its value at the centre
    ``j + 0.5``. Output pixel ``i`` is centred at ``(i + 0.5) * n_in / n_out`` in input
    coordinates and takes a tent-weighted mean of the input pixels around it. Enlarging,
    the tent is one input pixel wide on each side: plain linear interpolation, with the
    edge pixels held beyond the last centre. Shrinking, the tent widens to one *output*
    pixel, so every input pixel counts (an area-like average, no aliasing). Rows sum to 1,
    so a constant image stays constant and values never leave their range.
    """
    if n_in < 1 or n_out < 1:
        raise ArgumentError(f"resample: sizes must be positive, got {n_in} -> {n_out}")
    scale = n_in / n_out
    reach = max(scale, 1.0)
    centres = (np.arange(n_out) + 0.5) * scale
    dist = np.abs((np.arange(n_in) + 0.5)[None, :] - centres[:, None])
    w = np.clip(1.0 - dist / reach, 0.0, None)
    return w / w.sum(axis=1, keepdims=True)


def resample(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resample the last two axes of ``images`` to ``(height, width)`` (float64, separable)."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim < 2:
        raise ArgumentError(f"resample: images need at least 2 axes, got shape {images.shape}")
    wy = linear_weights(images.shape[-2], height)
    wx = linear_weights(images.shape[-1], width)
    return wy @ images @ wx.T


def to_glyph_layout(raw: np.ndarray, size: int = 28) -> np.ndarray:
    """8×8 block counts (N, 8, 8) in 0..16 -> float32 (N, 1, size, size) in [0, 1].

    The digit is resampled to a box ``round(0.75 * size)`` pixels square (the height of a
    glyph digit) and centred on a black image.
    """
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 8:
        raise ArgumentError(f"size must be an int of at least 8 pixels, got {size!r}")
    raw = np.asarray(raw, dtype=np.float64)
    box = int(round(_BOX * size))
    top = (size - box) // 2
    out = np.zeros((raw.shape[0], 1, size, size), dtype=np.float32)
    digit = resample(raw / _MAX_COUNT, box, box)
    out[:, 0, top:top + box, top:top + box] = np.clip(digit, 0.0, 1.0)
    return out


# ----------------------------------------------------------------------------- the partition


def _check_pool(pool: str) -> None:
    if pool not in REAL_DIGIT_POOLS:
        raise ArgumentError(f"pool must be one of {REAL_DIGIT_POOLS}, got {pool!r}")


def _cell_ids(labels: np.ndarray, seed: int, split: str, pool: str) -> np.ndarray:
    """Ids of the images of ``(pool, split)``, ordered so every prefix is class-balanced."""
    ids = np.arange(labels.shape[0], dtype=np.uint64)
    score = mix64(ids ^ np.uint64(seed_key(seed, "real-digits/partition")))
    tiebreak = mix64(ids ^ np.uint64(seed_key(seed, "real-digits/order")))
    # Cut each class, ordered by score, into the six cells by their shares.
    cell = np.empty(labels.shape[0], dtype=np.int64)
    ends = np.cumsum(_CELL_SHARES)
    for c in range(len(DIGIT_CLASSES)):
        members = np.flatnonzero(labels == c)
        ranked = members[np.argsort(score[members], kind="stable")]
        bounds = np.floor(ends * len(members) + 0.5).astype(np.int64)
        cell[ranked] = np.searchsorted(bounds, np.arange(len(members)), side="right")
    wanted = [i for i, (p, s) in enumerate(_CELLS) if s == split and pool in ("all", p)]
    sel = np.flatnonzero(np.isin(cell, wanted))
    # Rank within class (by score); then round r holds every class's r-th image.
    by_class = np.lexsort((score[sel], labels[sel]))
    sorted_labels = labels[sel][by_class]
    rank = np.empty(len(sel), dtype=np.int64)
    rank[by_class] = np.arange(len(sel)) - np.searchsorted(sorted_labels, sorted_labels)
    return sel[np.lexsort((tiebreak[sel], rank))]


def real_digit_ids(seed: int = 0, split: str = "train", pool: str = "all") -> np.ndarray:
    """Ids (positions in ``load_digits()``, 0..1796) of the images of one split of one pool.

    The partition depends only on ``seed`` (see the module docstring): the three splits of
    a pool are disjoint, the ``"source"`` and ``"target"`` pools are disjoint, and
    ``"all"`` is their union. Ids come in an order whose every prefix is class-balanced to
    within one image per class (until a class runs out).
    """
    check_seed_split(seed, split)
    _check_pool(pool)
    _, labels = load_raw_digits()
    return _cell_ids(labels, seed, split, pool)


def real_digits(n: int | None = None, seed: int = 0, split: str = "train", pool: str = "all",
                size: int = 28) -> RealDigitImages:
    """Real handwritten digits in the layout of :func:`glyph_digits`.

    Returns a :class:`RealDigitImages` (``images, labels = real_digits()`` works): images
    float32 (n, 1, size, size) in [0, 1], labels int64 in 0..9, ``ids`` into
    ``load_digits()``. ``n=None`` gives every image of the split; a smaller ``n`` gives a
    class-balanced prefix. With ``pool="all"`` the splits hold about 1,078 / 360 / 360
    images, with ``"source"`` or ``"target"`` about half of that.
    """
    check_seed_split(seed, split)
    _check_pool(pool)
    images, labels = load_raw_digits()
    ids = _cell_ids(labels, seed, split, pool)
    if n is not None:
        n = check_count(n)
        if n > len(ids):
            raise ArgumentError(
                f"real_digits: asked for {n} images, but split {split!r} of pool {pool!r} "
                f"holds {len(ids)} of the {REAL_DIGITS_COUNT} real digits"
            )
        ids = ids[:n]
    return RealDigitImages(to_glyph_layout(images[ids], size), labels[ids], DIGIT_CLASSES, ids)


def _pick(ids: np.ndarray, labels: np.ndarray, digits: np.ndarray, keys: np.ndarray,
          where: str) -> np.ndarray:
    """For sample ``i``, the id of one image of digit ``digits[i]`` among ``ids`` (by its key)."""
    u = Draws(keys).uniform()
    out = np.empty(digits.shape[0], dtype=np.int64)
    for d in range(len(DIGIT_CLASSES)):
        sel = digits == d
        if not sel.any():
            continue
        members = ids[labels[ids] == d]
        if members.size == 0:
            raise ArgumentError(f"real_two_digit_numbers: {where} holds no image of a {d}")
        out[sel] = members[np.minimum((u[sel] * members.size).astype(np.int64),
                                      members.size - 1)]
    return out


def real_two_digit_numbers(n: int, seed: int = 0, split: str = "train", pool: str = "all",
                           size: int = 28, disjoint_slots: bool = False) -> RealNumberImages:
    """``n`` two-digit numbers drawn with real digit images, like :func:`two_digit_numbers`.

    Images float32 (n, 2, 1, size, size) (slot 0 the tens digit, slot 1 the units digit),
    values int64 in 0..99, every block of 100 samples holding each value once. Each slot's
    image is a real image of its digit from split ``split`` of pool ``pool`` only, chosen by
    the sample's own key, so sample ``i`` is a pure function of
    ``(seed, split, pool, i, size, disjoint_slots)``. Images repeat within a split (a split
    holds about 18 to 108 images of each digit); they never cross splits or pools. With
    ``disjoint_slots=True`` the split's images are also halved (alternately, per class)
    between the slots, so no image shows up as a tens digit and as a units digit.
    """
    n = check_count(n)
    check_seed_split(seed, split)
    _check_pool(pool)
    images, labels = load_raw_digits()
    ids = _cell_ids(labels, seed, split, pool)
    idx = np.arange(n)
    domain = f"real-numbers/{pool}"
    values = balanced_labels(seed, split, idx, 100, domain)
    keys = keys_for(seed, split, idx, domain)
    where = f"split {split!r} of pool {pool!r}"
    tens_pool = units_pool = ids
    if disjoint_slots:  # every other image of each class, in the split's balanced order
        rank = np.empty(ids.size, dtype=np.int64)
        for d in range(len(DIGIT_CLASSES)):
            of_d = labels[ids] == d
            rank[of_d] = np.arange(of_d.sum())
        tens_pool, units_pool = ids[rank % 2 == 0], ids[rank % 2 == 1]
    tens_ids = _pick(tens_pool, labels, values // 10, derive(keys, 0), where)
    units_ids = _pick(units_pool, labels, values % 10, derive(keys, 1), where)
    slots = np.stack([to_glyph_layout(images[tens_ids], size),
                      to_glyph_layout(images[units_ids], size)], axis=1)
    return RealNumberImages(slots, values, tens_ids, units_ids)
