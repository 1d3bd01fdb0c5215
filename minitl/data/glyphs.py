"""Glyph digits: handwriting-like digits drawn from stroke skeletons.

What defines a class
--------------------
Each digit is a *skeleton*: a few pen strokes (straight polylines, elliptical arcs and
Bezier curves) in a glyph box 2 units tall, with y pointing down. A ``7`` is a top bar and
a diagonal; a ``4`` is an L-shaped stroke crossed by a vertical one; and so on. Some digits
have a few variants, as people write them differently (a ``1`` with or without a flag and
a base, an open or a closed ``4``, a ``7`` with a crossbar). The class is carried by the
arrangement of strokes, which is what a model must learn to see.

What varies within a class
--------------------------
Everything a writer varies and that should *not* decide the class:

* per-point jitter and a smooth random warp of the skeleton (wobbly, uneven strokes);
* slant (shear), rotation, aspect ratio, size and position;
* pen width -- chosen per image so that the amount of ink is drawn from one distribution
  shared by all classes (see :mod:`minitl.data._raster`); otherwise "how much ink" would
  separate a ``1`` from an ``8`` without looking at the shape;
* pixel noise.

The strokes are rasterised with an anti-aliased distance field, all images of a batch at
once; loops run only over strokes and over chunks of samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _raster
from ._random import Draws, balanced_labels, check_count, check_seed_split, derive, keys_for

DIGIT_CLASSES = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9")

# ---------------------------------------------------------------------------------------
# Skeletons. Coordinates: x in about [-0.6, 0.6], y in [-1, 1], y pointing down, so an
# angle of -90 degrees is the top of an arc and +90 degrees its bottom.
# ---------------------------------------------------------------------------------------


def _arc(cx, cy, rx, ry, a0, a1, step=22.5):
    """Points along an elliptical arc from angle ``a0`` to ``a1`` (degrees)."""
    k = max(2, int(np.ceil(abs(a1 - a0) / step)))
    th = np.radians(np.linspace(a0, a1, k + 1))
    return np.stack([cx + rx * np.cos(th), cy + ry * np.sin(th)], axis=1)


def _bez(p0, p1, p2, p3, k=6):
    """Points along a cubic Bezier curve."""
    t = np.linspace(0.0, 1.0, k + 1)[:, None]
    p0, p1, p2, p3 = (np.asarray(p, dtype=float) for p in (p0, p1, p2, p3))
    return (
        (1 - t) ** 3 * p0 + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * p3
    )


def _line(*pts):
    return np.asarray(pts, dtype=float)


def _join(*pieces):
    """One continuous stroke from pieces; a shared joint point is kept once."""
    out = [np.asarray(pieces[0], dtype=float)]
    for piece in pieces[1:]:
        piece = np.asarray(piece, dtype=float)
        if np.allclose(out[-1][-1], piece[0]):
            piece = piece[1:]
        out.append(piece)
    return np.concatenate(out, axis=0)


@dataclass(frozen=True)
class Skeleton:
    """Strokes flattened to points (M, 2) and segments (S, 2) indexing consecutive points."""

    points: np.ndarray
    segments: np.ndarray

    @classmethod
    def from_strokes(cls, *strokes) -> Skeleton:
        pts, segs, offset = [], [], 0
        for stroke in strokes:
            stroke = np.asarray(stroke, dtype=float)
            m = len(stroke)
            pts.append(stroke)
            segs.append(np.stack([np.arange(m - 1), np.arange(1, m)], axis=1) + offset)
            offset += m
        return cls(np.concatenate(pts), np.concatenate(segs))


def _skeletons() -> list[list[tuple[float, Skeleton]]]:
    """Per digit, a list of ``(weight, skeleton)`` variants."""
    S = Skeleton.from_strokes
    upper_3 = _arc(0.0, -0.5, 0.46, 0.48, 200, 465)
    lower_3 = _arc(0.0, 0.47, 0.52, 0.52, 245, 520)
    hook_2 = _arc(0.0, -0.45, 0.5, 0.52, 170, 385)
    belly_5 = _arc(0.0, 0.42, 0.55, 0.56, 228, 505)
    return [
        [  # 0: one closed oval, usually overshooting where the pen started
            (0.6, S(_arc(0.0, 0.0, 0.55, 0.95, -100, 280))),
            (0.4, S(_arc(0.02, 0.0, 0.5, 0.95, -70, 300))),
        ],
        [  # 1: a vertical stroke, often with a flag, sometimes with a base
            (0.2, S(_line((0.05, -1.0), (-0.05, 1.0)))),
            (0.5, S(_line((-0.38, -0.55), (0.08, -1.0), (0.0, 1.0)))),
            (
                0.3,
                S(
                    _line((-0.38, -0.55), (0.08, -1.0), (0.0, 1.0)),
                    _line((-0.38, 1.0), (0.38, 1.0)),
                ),
            ),
        ],
        [  # 2: a hook, a diagonal down to the left, a base to the right
            (0.5, S(_join(hook_2, _line(hook_2[-1], (-0.55, 1.0), (0.6, 1.0))))),
            (
                0.5,
                S(
                    _join(
                        hook_2,
                        _bez(hook_2[-1], (0.2, 0.3), (-0.35, 0.65), (-0.55, 1.0)),
                        _line((-0.55, 1.0), (0.6, 0.95)),
                    )
                ),
            ),
        ],
        [  # 3: two bumps opening to the left (or a flat top and one bump)
            (0.7, S(_join(upper_3, lower_3))),
            (
                0.3,
                S(_join(_line((-0.45, -1.0), (0.45, -1.0), (-0.1, -0.12)), lower_3)),
            ),
        ],
        [  # 4: an L-shape and a vertical crossing it (open or closed top)
            (0.6, S(_line((0.0, -1.0), (-0.55, 0.3), (0.6, 0.3)), _line((0.3, -0.5), (0.3, 1.0)))),
            (0.4, S(_line((0.32, 1.0), (0.32, -1.0), (-0.55, 0.35), (0.6, 0.35)))),
        ],
        [  # 5: a top bar, a short down-stroke, a belly opening to the left
            (1.0, S(_join(_line((0.5, -1.0), (-0.3, -1.0), tuple(belly_5[0])), belly_5))),
        ],
        [  # 6: a long curve down the left side ending in a closed loop at the bottom
            (
                1.0,
                S(
                    _join(
                        _bez((0.42, -1.0), (-0.2, -0.9), (-0.58, -0.2), (-0.5, 0.45)),
                        _arc(0.0, 0.45, 0.5, 0.52, 180, -175),
                    )
                ),
            ),
        ],
        [  # 7: a top bar and a long diagonal (sometimes crossed, sometimes curved)
            (0.5, S(_line((-0.55, -1.0), (0.55, -1.0), (-0.1, 1.0)))),
            (
                0.25,
                S(_line((-0.55, -1.0), (0.55, -1.0), (-0.1, 1.0)), _line((-0.2, 0.0), (0.4, 0.0))),
            ),
            (
                0.25,
                S(
                    _join(
                        _line((-0.55, -1.0), (0.55, -1.0)),
                        _bez((0.55, -1.0), (0.2, -0.4), (-0.05, 0.3), (-0.05, 1.0)),
                    )
                ),
            ),
        ],
        [  # 8: two stacked loops, the lower one a little larger
            (1.0, S(_arc(0.0, -0.52, 0.4, 0.45, 0, 370), _arc(0.0, 0.45, 0.5, 0.53, -90, 275))),
        ],
        [  # 9: a closed loop at the top and a stem down its right side
            (0.6, S(_arc(0.0, -0.45, 0.48, 0.5, 0, 365), _line((0.48, -0.45), (0.3, 1.0)))),
            (
                0.4,
                S(
                    _arc(0.0, -0.45, 0.48, 0.5, 0, 365),
                    _bez((0.48, -0.5), (0.52, 0.3), (0.35, 0.8), (-0.15, 1.0)),
                ),
            ),
        ],
    ]


SKELETONS = _skeletons()

# Ink budget, as a fraction of the image area, shared by every class.
INK_FRACTION = (0.095, 0.155)


def _place(sk: Skeleton, d: Draws, size: int) -> np.ndarray:
    """Per-sample distorted copies of a skeleton, in pixels: (n, M, 2)."""
    n, pts = d.n, sk.points[None, :, :]
    # A writer's hand: wobble each point a little, then bend the whole glyph smoothly.
    jitter = d.uniform(0.01, 0.035)[:, None, None] * d.normal((pts.shape[1], 2))
    amp = d.uniform(0.0, 0.08, (2, 2))
    freq = d.normal((2, 2, 2)) * 1.6
    phase = d.uniform(0.0, 2 * np.pi, (2, 2))
    x, y = pts[..., 0] + jitter[..., 0], pts[..., 1] + jitter[..., 1]
    wx = np.zeros((n, pts.shape[1]))
    wy = np.zeros((n, pts.shape[1]))
    for c in range(2):
        arg_x = freq[:, 0, c, 0, None] * x + freq[:, 0, c, 1, None] * y + phase[:, 0, c, None]
        arg_y = freq[:, 1, c, 0, None] * x + freq[:, 1, c, 1, None] * y + phase[:, 1, c, None]
        wx += amp[:, 0, c, None] * np.sin(arg_x)
        wy += amp[:, 1, c, None] * np.sin(arg_y)
    x, y = x + wx, y + wy
    # Slant, aspect, rotation and size.
    slant = d.uniform(-0.15, 0.4)[:, None]
    aspect = d.uniform(0.8, 1.2)[:, None]
    angle = np.radians(d.uniform(-12.0, 12.0))[:, None]
    height = d.uniform(0.6, 0.74) * size  # pixels for the 2-unit glyph box
    x = (x - slant * y) * aspect
    c, s = np.cos(angle), np.sin(angle)
    x, y = c * x - s * y, s * x + c * y
    k = (height / 2.0)[:, None]
    x, y = x * k, y * k
    # Centre the bounding box, then shift a little.
    shift = d.uniform(-1.0, 1.0, (2,)) * (size / 28.0)
    x += size / 2.0 + shift[:, 0, None] - 0.5 * (x.max(1) + x.min(1))[:, None]
    y += size / 2.0 + shift[:, 1, None] - 0.5 * (y.max(1) + y.min(1))[:, None]
    return np.stack([x, y], axis=-1)


def render_glyphs(digits: np.ndarray, keys: np.ndarray, size: int = 28) -> np.ndarray:
    """Draw digit ``digits[i]`` for the sample with key ``keys[i]``: float32 (n, 1, size, size).

    The image depends only on ``(digits[i], keys[i], size)``, never on the other samples
    in the call; the two-digit numbers use this same function for both of their slots.
    """
    digits = np.asarray(digits, dtype=np.int64)
    keys = np.asarray(keys, dtype=np.uint64)
    if digits.shape != keys.shape or digits.ndim != 1:
        raise ValueError("digits and keys must be 1-D arrays of the same length")
    if digits.size and (digits.min() < 0 or digits.max() > 9):
        raise ValueError("digits must lie in 0..9")
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    n = digits.shape[0]
    out = np.empty((n, size, size), dtype=np.float32)
    if n == 0:
        return out[:, None]
    # Variant choice, then one group per (digit, variant) so segment counts match.
    u = Draws(keys).uniform()
    variant = np.zeros(n, dtype=np.int64)
    for digit, variants in enumerate(SKELETONS):
        sel = digits == digit
        cdf = np.cumsum([w for w, _ in variants])
        variant[sel] = np.minimum(
            np.searchsorted(cdf / cdf[-1], u[sel], side="right"), len(variants) - 1
        )
    pose_keys, ink_keys = derive(keys, 1), derive(keys, 2)
    xs, ys = _raster.pixel_grid(size)
    step = _raster.chunk_len(size)
    for digit, variants in enumerate(SKELETONS):
        for v, (_, sk) in enumerate(variants):
            members = np.flatnonzero((digits == digit) & (variant == v))
            for a, b in _raster.chunks(len(members), step):
                idx = members[a:b]
                pts = _place(sk, Draws(pose_keys[idx]), size)
                segs = np.concatenate(
                    [pts[:, sk.segments[:, 0]], pts[:, sk.segments[:, 1]]], axis=-1
                )
                best = np.full((len(idx), size, size), np.inf, dtype=np.float32)
                _raster.min_segment_dist2(xs, ys, segs, best)
                out[idx] = np.sqrt(best, out=best)
    # Ink: a pen width per image that meets a class-independent ink target, then noise.
    area = size * size
    for a, b in _raster.chunks(n, step):
        d = Draws(ink_keys[a:b])
        counts = np.rint(d.uniform(*INK_FRACTION) * area).astype(np.int64)
        scale = size / 28.0
        img, _ = _raster.ink_by_count(out[a:b], counts, 0.45 * scale, 5.0 * scale)
        _raster.add_pixel_noise(img, d.pixel_noise((size, size)), d.uniform(0.0, 0.15))
        out[a:b] = img
    return out[:, None]


@dataclass(frozen=True)
class LabelledImages:
    """Images (N, 1, H, W) float32 in [0, 1] and labels (N,) int64; unpacks as a pair."""

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]

    def __iter__(self):
        return iter((self.images, self.labels))

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def glyph_digits(n: int, seed: int = 0, split: str = "train", size: int = 28) -> LabelledImages:
    """``n`` handwriting-like digit images, ten balanced classes.

    Returns a :class:`LabelledImages` (``images, labels = glyph_digits(1000)`` works):
    images float32 (n, 1, size, size) in [0, 1], labels int64 in 0..9. Sample ``i`` is a
    pure function of ``(seed, split, i, size)``; ``"train"``, ``"val"`` and ``"test"``
    never share a sample. Any prefix is class-balanced to within one per class.
    """
    n = check_count(n)
    check_seed_split(seed, split)
    idx = np.arange(n)
    labels = balanced_labels(seed, split, idx, 10, "digits")
    keys = keys_for(seed, split, idx, "digits")
    return LabelledImages(render_glyphs(labels, keys, size), labels, DIGIT_CLASSES)
