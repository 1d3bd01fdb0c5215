"""Procedural animals: four classes told apart by body plan and by surface texture.

What defines a class
--------------------
Each animal is drawn as a line drawing from parts, in a local frame with the head toward
+x and y pointing down, then posed (mirrored, rotated, scaled, shifted) on the canvas.

* ``mammal`` (side view): an oval body covered in **fur** -- fine, roughly parallel
  stripes whose phase wanders (wavy, noisy), a round head with a pointed ear, **four
  legs** and a tail.
* ``bird`` (side view): a tilted egg-shaped body covered in **feather chevrons** (rows
  of V-shapes), a folded **wing** drawn as an outline over the body, a head with a
  beak, two thin legs with feet and tail feathers.
* ``fish`` (side view; the reptile/fish group): a long body covered in **scale arcs**
  (rows of overlapping arcs, offset like bricks), a gill line, an eye, a dorsal fin and a
  forked **tail fin** with rays. No legs.
* ``insect`` (top view): a **smooth** (untextured, solid) body in three segments --
  head, thorax, abdomen -- with **six legs** (three bent pairs), two **outline wings**
  lying back over the abdomen, and antennae.

So the label is carried by two kinds of evidence a model can learn: the parts (how many
legs, wings, fins) and the texture (stripes vs chevrons vs arcs vs none).

What does not define a class
----------------------------
Body proportions, part positions, leg angles, texture period/orientation/phase, pose,
size and position all vary at random, and the pen width is set per image so that the
amount of ink follows one distribution for every class (see :mod:`minitl.data._raster`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import _raster
from ._random import Draws, balanced_labels, check_count, check_seed_split, derive, keys_for
from .glyphs import LabelledImages

ANIMAL_CLASSES = ("mammal", "bird", "fish", "insect")

# Ink budget, as a fraction of the image area, shared by every class.
INK_FRACTION = (0.15, 0.21)

F32 = np.float32
TEXTURE_PEN = 1.5  # texture lines are this many times thinner than outlines


def _col(x) -> np.ndarray:
    """Per-sample parameter (n,) -> (n, 1, 1) float32 for broadcasting over pixels."""
    return np.asarray(x, dtype=F32).reshape(-1, 1, 1)


@dataclass
class Figure:
    """A batch of drawings in local units, as lists of per-sample parts.

    ``segments``: (n, 4) arrays ``(ax, ay, bx, by)``; ``outlines``/``fills``: ellipses as
    tuples ``(cx, cy, a, b, angle)`` of (n,) arrays, drawn as a ring or as a solid;
    ``textures``: ``(pattern, region, hole)``: a line pattern clipped to the ``region``
    ellipse, minus the ``hole`` ellipse (or ``None``).
    """

    n: int
    segments: list = field(default_factory=list)
    outlines: list = field(default_factory=list)
    fills: list = field(default_factory=list)
    textures: list = field(default_factory=list)

    def seg(self, *points):
        """Append a polyline through ``points`` (each a pair of (n,) arrays or scalars)."""
        pts = [(np.broadcast_to(x, (self.n,)), np.broadcast_to(y, (self.n,))) for x, y in points]
        for (ax, ay), (bx, by) in zip(pts[:-1], pts[1:], strict=True):
            self.segments.append(np.stack([ax, ay, bx, by], axis=1))

    def bbox(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        xs, ys = [], []
        for s in self.segments:
            xs += [s[:, 0], s[:, 2]]
            ys += [s[:, 1], s[:, 3]]
        for cx, cy, a, b, ang in self.outlines + self.fills + [t[1] for t in self.textures]:
            c, s = np.cos(ang), np.sin(ang)
            hw = np.sqrt((a * c) ** 2 + (b * s) ** 2)
            hh = np.sqrt((a * s) ** 2 + (b * c) ** 2)
            xs += [cx - hw, cx + hw]
            ys += [cy - hh, cy + hh]
        xs, ys = np.stack(xs, axis=1), np.stack(ys, axis=1)
        return xs.min(1), xs.max(1), ys.min(1), ys.max(1)


def _ellipse(n, cx, cy, a, b, angle=0.0):
    return tuple(np.broadcast_to(np.asarray(v, dtype=float), (n,)) for v in (cx, cy, a, b, angle))


def ellipse_sdf(U, V, ellipse) -> np.ndarray:
    """Approximate signed distance to an ellipse boundary (negative inside), local units.

    Uses ``f / |grad f|`` for ``f = (p/a)^2 + (q/b)^2 - 1``: exact on the boundary and
    accurate within a few pixels of it, which is all the pen ever sees.
    """
    cx, cy, a, b, ang = (_col(v) for v in ellipse)
    du, dv = U - cx, V - cy
    c, s = np.cos(ang), np.sin(ang)
    p = c * du + s * dv
    q = c * dv - s * du
    pa, qb = p / (a * a), q / (b * b)
    f = p * pa + q * qb - F32(1.0)
    g = F32(2.0) * np.sqrt(pa * pa + qb * qb) + F32(1e-3)
    return f / g


def _body_frame(U, V, ellipse):
    """Coordinates along (p) and across (q) an ellipse's long axis, from its centre."""
    cx, cy, _, _, ang = (_col(v) for v in ellipse)
    du, dv = U - cx, V - cy
    c, s = np.cos(ang), np.sin(ang)
    return c * du + s * dv, c * dv - s * du


def _wobble(d: Draws, amplitude: float):
    """A smooth random scalar field (two plane waves) used to make patterns irregular."""
    amp = d.uniform(0.3, 1.0, (2,)) * amplitude
    freq = d.normal((2, 2)) * 6.0
    phase = d.uniform(0.0, 2 * np.pi, (2,))

    def field(p, q):
        out = np.zeros(np.broadcast_shapes(p.shape, q.shape), F32)
        for c in range(2):
            arg = _col(freq[:, c, 0]) * p + _col(freq[:, c, 1]) * q + _col(phase[:, c])
            out += _col(amp[:, c]) * np.sin(arg)
        return out

    return field


def _fur(d: Draws, body):
    """Fine stripes at a random angle to the body, with a wandering (noisy) phase."""
    angle = np.radians(d.uniform(55.0, 125.0))
    period = d.uniform(0.15, 0.19)
    offset = d.uniform(0.0, 1.0)
    wob = _wobble(d, 0.35)

    def pattern(U, V):
        p, q = _body_frame(U, V, body)
        s = (p * _col(np.cos(angle)) + q * _col(np.sin(angle))) / _col(period)
        s = s + _col(offset) + wob(p, q)
        return np.abs(s - np.round(s)) * _col(period)

    return pattern


def _chevrons(d: Draws, body):
    """Rows of V-shapes along the body axis, pointing to the tail, like overlapping feathers."""
    slope = d.uniform(0.9, 1.5)
    period = d.uniform(0.17, 0.21)
    offset = d.uniform(0.0, 1.0)
    wob = _wobble(d, 0.08)

    def pattern(U, V):
        p, q = _body_frame(U, V, body)
        s = (p - _col(slope) * np.abs(q)) / _col(period) + _col(offset) + wob(p, q)
        return np.abs(s - np.round(s)) * _col(period) / _col(np.sqrt(1 + slope**2))

    return pattern


def _scales(d: Draws, body):
    """Scale arcs: in a brick-offset grid of cells, each cell holds an arc bulging tailward."""
    period = d.uniform(0.19, 0.24)
    offset = d.uniform(0.0, 1.0, (2,))

    def pattern(U, V):
        p, q = _body_frame(U, V, body)
        cell = _col(period)
        a = p / cell + _col(offset[:, 0])
        b = q / (F32(0.9) * cell) + _col(offset[:, 1])
        row = np.floor(b)
        a = a + F32(0.5) * (row % 2)
        fa, fb = a - np.floor(a), b - row
        r = np.sqrt((fa - F32(1.0)) ** 2 + (fb - F32(0.5)) ** 2)
        return np.abs(r - F32(0.5)) * cell

    return pattern


# ---------------------------------------------------------------------------------------
# The four body plans. Each makes its draws in a fixed order (see ``Draws``).
# ---------------------------------------------------------------------------------------


def _mammal(d: Draws) -> Figure:
    n, fig = d.n, Figure(d.n)
    a, b = d.uniform(0.5, 0.62), d.uniform(0.22, 0.3)
    body = _ellipse(n, 0.0, 0.0, a, b)
    fig.outlines.append(body)
    fig.textures.append((_fur(d, body), body, None))
    rh = d.uniform(0.16, 0.21)
    hx, hy = a + rh * 0.45, -b * 0.8 - rh * 0.5
    fig.outlines.append(_ellipse(n, hx, hy, rh, rh * d.uniform(0.85, 1.0)))
    ear = d.uniform(0.12, 0.2)
    fig.seg((hx - rh * 0.6, hy - rh * 0.7), (hx - rh * 0.45, hy - rh - ear),
            (hx, hy - rh * 0.95))
    legs = d.uniform(0.35, 0.5)
    spread = d.uniform(-0.08, 0.08, (4, 2))
    for j, pos in enumerate((0.7, 0.42, -0.42, -0.7)):
        x0 = a * pos + spread[:, j, 0] * 0.5
        fig.seg((x0, b * 0.6), (x0 + spread[:, j, 1], b + legs * 0.5),
                (x0 + spread[:, j, 0], b + legs))
    curl = d.uniform(-0.35, 0.25)
    fig.seg((-a * 0.97, -b * 0.2), (-a - 0.2, -b * 0.4 + curl * 0.5), (-a - 0.3, -b + curl))
    return fig


def _bird(d: Draws) -> Figure:
    n, fig = d.n, Figure(d.n)
    a, b = d.uniform(0.45, 0.55), d.uniform(0.3, 0.36)
    tilt = -d.uniform(0.15, 0.45)
    body = _ellipse(n, 0.0, 0.0, a, b, tilt)
    fig.outlines.append(body)
    rh = d.uniform(0.16, 0.2)
    hx, hy = a * np.cos(tilt) + rh * 0.2, a * np.sin(tilt) - rh * 0.9
    fig.outlines.append(_ellipse(n, hx, hy, rh, rh))
    beak = d.uniform(0.16, 0.26)
    droop = d.uniform(-0.02, 0.08)
    fig.seg((hx + rh * 0.8, hy - rh * 0.45), (hx + rh + beak, hy + droop),
            (hx + rh * 0.8, hy + rh * 0.35))
    # The folded wing: a clean outline (no chevrons inside) with a feather line along it.
    wing_angle = tilt + d.uniform(0.2, 0.4)
    wing_len = a * d.uniform(0.75, 0.9)
    wing = _ellipse(n, -0.12, -0.02, wing_len, b * 0.5, wing_angle)
    fig.outlines.append(wing)
    fig.textures.append((_chevrons(d, body), body, wing))
    wc, ws = np.cos(wing_angle), np.sin(wing_angle)
    fig.seg((-0.12 - wing_len * 0.1 * wc, -0.02 - wing_len * 0.1 * ws),
            (-0.12 - wing_len * wc, -0.02 - wing_len * ws))
    tail = d.uniform(-0.1, 0.15, (2,))
    tx, ty = -a * 0.85 * np.cos(tilt), -a * 0.85 * np.sin(tilt)
    fig.seg((tx, ty), (tx - 0.32, ty + 0.05 + tail[:, 0]))
    fig.seg((tx, ty + 0.05), (tx - 0.28, ty + 0.22 + tail[:, 1]))
    legs = d.uniform(0.22, 0.32)
    for x0 in (0.08, -0.1):
        fig.seg((x0, b * 0.85), (x0, b + legs), (x0 + 0.13, b + legs))
    return fig


def _fish(d: Draws) -> Figure:
    n, fig = d.n, Figure(d.n)
    a, b = d.uniform(0.6, 0.72), d.uniform(0.24, 0.32)
    body = _ellipse(n, 0.0, 0.0, a, b)
    fig.outlines.append(body)
    fig.textures.append((_scales(d, body), _ellipse(n, -0.12, 0.0, a * 0.75, b * 0.85), None))
    fig.seg((a * 0.5, -b * 0.8), (a * 0.38, 0.0), (a * 0.5, b * 0.8))  # gill
    fig.fills.append(_ellipse(n, a * 0.72, -b * 0.25, 0.05, 0.05))  # eye
    base = -a + 0.06
    span, length = d.uniform(0.25, 0.34), d.uniform(0.28, 0.38)
    notch = d.uniform(0.1, 0.2)
    tip_x = base - length
    fig.seg((base, 0.0), (tip_x, -span), (tip_x + notch, 0.0), (tip_x, span), (base, 0.0))
    fig.seg((base, 0.0), (tip_x + notch * 0.5, -span * 0.5))  # fin rays
    fig.seg((base, 0.0), (tip_x + notch * 0.5, span * 0.5))
    top = d.uniform(0.14, 0.24)
    fig.seg((-0.28, -b * 0.9), (-0.12, -b - top), (0.15, -b * 0.95))  # dorsal fin
    fig.seg((0.05, b * 0.92), (-0.08, b + top * 0.6), (-0.16, b * 0.9))  # pelvic fin
    return fig


def _insect(d: Draws) -> Figure:
    n, fig = d.n, Figure(d.n)
    rh = d.uniform(0.07, 0.1)
    ab_a, ab_b = d.uniform(0.3, 0.38), d.uniform(0.11, 0.15)
    fig.fills.append(_ellipse(n, 0.6, 0.0, rh, rh))  # head
    fig.fills.append(_ellipse(n, 0.33, 0.0, 0.12, 0.08))  # thorax
    fig.fills.append(_ellipse(n, 0.16 - ab_a, 0.0, ab_a, ab_b))  # abdomen
    reach = d.uniform(0.38, 0.5)
    bend = d.uniform(-0.1, 0.1, (3,))
    for side in (-1.0, 1.0):
        for j, (x0, fx, tx) in enumerate(((0.42, 0.15, 0.3), (0.33, 0.0, 0.0),
                                          (0.25, -0.15, -0.32))):
            fig.seg((x0, 0.0), (x0 + fx + bend[:, j], side * reach * 0.6),
                    (x0 + tx + bend[:, j] * 2, side * reach))
    wing_len, wing_w = d.uniform(0.3, 0.4), d.uniform(0.11, 0.15)
    wing_ang = np.radians(d.uniform(12.0, 30.0))
    for side in (-1.0, 1.0):
        cx = 0.28 - wing_len * np.cos(wing_ang)
        cy = side * wing_len * np.sin(wing_ang)
        fig.outlines.append(_ellipse(n, cx, cy, wing_len, wing_w, -side * wing_ang))
    ant = d.uniform(0.15, 0.25)
    for side in (-1.0, 1.0):
        fig.seg((0.6 + rh * 0.8, side * rh * 0.5), (0.7 + ant, side * (rh + ant * 0.7)))
    return fig


PLANS = (_mammal, _bird, _fish, _insect)


def _render(fig: Figure, d: Draws, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pose a figure on the canvas; return its distance field in pixels (n, H, W).

    Also returns the fraction of the canvas the figure spans (drawn the same way for
    every class), which scales the ink budget: a small animal gets less ink, not a
    fatter pen.
    """
    n = fig.n
    x0, x1, y0, y1 = fig.bbox()
    cu, cv = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    extent = np.maximum(x1 - x0, y1 - y0)
    mirror = np.where(d.uniform() < 0.5, -1.0, 1.0)
    angle = np.radians(d.uniform(-20.0, 20.0))
    fill = d.uniform(0.62, 0.92)  # fraction of the canvas spanned by the figure
    k = fill * size / extent  # pixels per local unit
    shift = d.uniform(-1.0, 1.0, (2,)) * ((1.0 - fill) * (0.4 * size))[:, None]
    xs, ys = _raster.pixel_grid(size)
    X, Y = xs - _col(size / 2 + shift[:, 0]), ys - _col(size / 2 + shift[:, 1])
    c, s = _col(np.cos(angle)), _col(np.sin(angle))
    U = (c * X + s * Y) / _col(k) * _col(mirror) + _col(cu)
    V = (c * Y - s * X) / _col(k) + _col(cv)
    best = np.full((n, size, size), np.inf, F32)
    if fig.segments:
        _raster.min_segment_dist2(U, V, np.stack(fig.segments, axis=1), best)
    dist = np.sqrt(best, out=best)
    for e in fig.outlines:
        np.minimum(dist, np.abs(ellipse_sdf(U, V, e)), out=dist)
    for e in fig.fills:
        np.minimum(dist, ellipse_sdf(U, V, e), out=dist)
    for pattern, region, hole in fig.textures:
        # Texture lines are drawn with a finer pen than outlines (distances scaled up).
        tex = np.maximum(pattern(U, V) * F32(TEXTURE_PEN), ellipse_sdf(U, V, region) + F32(0.05))
        if hole is not None:
            np.maximum(tex, F32(0.05) - ellipse_sdf(U, V, hole), out=tex)
        np.minimum(dist, tex, out=dist)
    dist *= _col(k)
    return dist, fill


def render_animals(labels: np.ndarray, keys: np.ndarray, size: int = 28) -> np.ndarray:
    """Draw animal class ``labels[i]`` for key ``keys[i]``: float32 (n, 1, size, size)."""
    labels = np.asarray(labels, dtype=np.int64)
    keys = np.asarray(keys, dtype=np.uint64)
    if labels.shape != keys.shape or labels.ndim != 1:
        raise ValueError("labels and keys must be 1-D arrays of the same length")
    if labels.size and (labels.min() < 0 or labels.max() >= len(PLANS)):
        raise ValueError(f"labels must lie in 0..{len(PLANS) - 1}")
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    n = labels.shape[0]
    out = np.empty((n, size, size), dtype=F32)
    fill = np.empty(n)
    part_keys, pose_keys, ink_keys = derive(keys, 1), derive(keys, 2), derive(keys, 3)
    step = _raster.chunk_len(size)
    for cls, plan in enumerate(PLANS):
        members = np.flatnonzero(labels == cls)
        for a, b in _raster.chunks(len(members), step):
            idx = members[a:b]
            fig = plan(Draws(part_keys[idx]))
            out[idx], fill[idx] = _render(fig, Draws(pose_keys[idx]), size)
    area = size * size
    for a, b in _raster.chunks(n, step):
        d = Draws(ink_keys[a:b])
        counts = np.rint(d.uniform(*INK_FRACTION) * (fill[a:b] / 0.8) ** 2 * area).astype(np.int64)
        scale = size / 28.0
        img, _ = _raster.ink_by_count(out[a:b], counts, 0.3 * scale, 2.5 * scale)
        _raster.add_pixel_noise(img, d.pixel_noise((size, size)), d.uniform(0.0, 0.15))
        out[a:b] = img
    return out[:, None]


def animals(n: int, seed: int = 0, split: str = "train", size: int = 28) -> LabelledImages:
    """``n`` procedural animal drawings in four balanced classes (:data:`ANIMAL_CLASSES`).

    Returns a :class:`LabelledImages`: images float32 (n, 1, size, size) in [0, 1], labels
    int64 in 0..3. Sample ``i`` is a pure function of ``(seed, split, i, size)``; the
    splits never share a sample.
    """
    n = check_count(n)
    check_seed_split(seed, split)
    idx = np.arange(n)
    labels = balanced_labels(seed, split, idx, len(ANIMAL_CLASSES), "animals")
    keys = keys_for(seed, split, idx, "animals")
    return LabelledImages(render_animals(labels, keys, size), labels, ANIMAL_CLASSES)
