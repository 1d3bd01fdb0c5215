"""Vectorised drawing: distance fields over a pixel grid, and ink that does not reveal class.

Everything here draws a whole batch of images at once. A drawing is described by a
*distance field*: for every pixel, how far (in pixels) it is from the nearest piece of
ink skeleton (a stroke centre line, a shape outline, a texture line). A pen of radius ``r``
then inks exactly the pixels whose distance is below ``r``, with a one-pixel linear ramp
around ``r`` for anti-aliasing::

    intensity = clip(r + 0.5 - distance, 0, 1)

Choosing ``r`` per image is how the datasets defeat the "count the ink" shortcut: the
generator first draws a target ink count ``K`` from a distribution that is the same for
every class, then sets ``r`` halfway between the K-th and (K+1)-th smallest distance of
that image. Exactly ``K`` pixels then lie above 0.5, whatever the class; and because the
ramp is symmetric about ``r``, the summed intensity is close to ``K`` as well. A long
skeleton (an ``8``) gets a thin pen, a short one (a ``1``) a thick pen.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32


def pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates ``xs`` of shape (1, 1, W) and ``ys`` of shape (1, H, 1)."""
    c = np.arange(size, dtype=F32) + F32(0.5)
    return c.reshape(1, 1, size), c.reshape(1, size, 1)


def min_segment_dist2(px, py, segs: np.ndarray, best: np.ndarray) -> np.ndarray:
    """Lower ``best`` (n, H, W) to the squared distance from each pixel to each segment.

    ``segs`` has shape (n, S, 4) holding ``(ax, ay, bx, by)`` per segment in pixels;
    ``px``/``py`` broadcast to (n, H, W) (a separable grid, or per-sample coordinates).
    The loop runs over the S segments; each step is a handful of whole-batch array ops::

        t = clip(((p - a) . (b - a)) / |b - a|^2, 0, 1)     # closest point parameter
        d2 = |p - a - t (b - a)|^2
    """
    segs = segs.astype(F32, copy=False)
    t = np.empty(best.shape, F32)
    e = np.empty(best.shape, F32)
    f = np.empty(best.shape, F32)
    for s in range(segs.shape[1]):
        ax, ay, bx, by = (segs[:, s, k, None, None] for k in range(4))
        dx, dy = bx - ax, by - ay
        inv = F32(1.0) / np.maximum(dx * dx + dy * dy, F32(1e-12))
        wx, wy = px - ax, py - ay
        np.add(wx * (dx * inv), wy * (dy * inv), out=t)
        np.maximum(t, F32(0.0), out=t)
        np.minimum(t, F32(1.0), out=t)
        np.multiply(t, dx, out=e)
        np.subtract(wx, e, out=e)
        np.multiply(e, e, out=e)
        np.multiply(t, dy, out=f)
        np.subtract(wy, f, out=f)
        np.multiply(f, f, out=f)
        np.add(e, f, out=e)
        np.minimum(best, e, out=best)
    return best


def ink_by_count(
    dist: np.ndarray, counts: np.ndarray, r_min: float, r_max: float
) -> tuple[np.ndarray, np.ndarray]:
    """Ink each image with the pen radius that makes ``counts`` pixels exceed 0.5.

    ``dist`` is (n, H, W) in pixels (negative inside filled shapes); returns the float32
    images and the radii used. Radii are kept within ``[r_min, r_max]`` so strokes stay
    drawable; the datasets choose ink targets for which that bound rarely binds.
    """
    n = dist.shape[0]
    flat = dist.reshape(n, -1)
    p = flat.shape[1]
    k = np.clip(np.asarray(counts, dtype=np.int64), 1, p - 1)[:, None]
    srt = np.sort(flat, axis=1)
    lo = np.take_along_axis(srt, k - 1, axis=1)
    hi = np.take_along_axis(srt, k, axis=1)
    r = np.clip(0.5 * (lo + hi), r_min, r_max).astype(F32)
    img = np.subtract(r[:, :, None].reshape(n, 1, 1) + F32(0.5), dist, dtype=F32)
    np.clip(img, F32(0.0), F32(1.0), out=img)
    return img, r[:, 0]


def add_pixel_noise(img: np.ndarray, noise: np.ndarray, amplitude: np.ndarray) -> np.ndarray:
    """``clip(img + amplitude * noise, 0, 1)`` in place; ``amplitude`` is one value per image."""
    amp = np.asarray(amplitude, dtype=F32).reshape(-1, *([1] * (img.ndim - 1)))
    img += noise.reshape(img.shape) * amp
    np.clip(img, F32(0.0), F32(1.0), out=img)
    return img


def chunks(n: int, size: int):
    """``(start, stop)`` pairs that cover ``range(n)`` in pieces of at most ``size``."""
    for start in range(0, n, size):
        yield start, min(start + size, n)


def chunk_len(size: int, budget: int = 1 << 18) -> int:
    """Samples per chunk so one (chunk, size, size) float32 buffer stays near ``budget`` floats.

    Small buffers stay in the CPU cache, which matters more than NumPy call overhead here.
    """
    return max(16, budget // (size * size))
