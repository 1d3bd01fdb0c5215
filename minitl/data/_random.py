"""Per-sample random numbers that depend only on a sample's identity.

A procedural dataset is a function from a *sample identity* to an image. Here a sample's
identity is the triple ``(seed, split, index)``; everything random about that sample (its
class, pose, stroke jitter, pixel noise) is computed from that triple alone, by hashing,
with no shared random generator being advanced. This buys three things:

* **Reproducibility.** Sample 17 is the same image whether you ask for 20 samples or
  20,000, and whether it was rendered in the first chunk or the last.
* **Vectorisation.** A hash is a pure array function, so the numbers for thousands of
  samples are computed in one NumPy expression (a "counter-based" generator).
* **Disjoint splits by construction.** Each split owns its own range of indices
  (train: ``[0, 2**40)``, val: ``[2**40, 2**41)``, test: ``[2**41, 3 * 2**40)``). The key of a
  sample is ``mix64(global_index ^ seed_key)``: XOR with a constant and ``mix64`` are both
  bijections of 64-bit integers, so two different global indices can never share a key.
  No train sample has the identity, or the random numbers, of a val or test sample.

The mixer is the finalising step of the well-known *splitmix64* generator. NumPy's unsigned
integer arithmetic wraps around modulo 2**64, which is exactly what the hash needs.
"""

from __future__ import annotations

import numpy as np

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MUL1 = 0xBF58476D1CE4E5B9
_MUL2 = 0x94D049BB133111EB

SPLITS = ("train", "val", "test")
SPLIT_STRIDE = 1 << 40  # indices available to each split


def mix_int(x: int) -> int:
    """The 64-bit mixer on one Python int (used for seeds and stream numbers)."""
    x &= _MASK
    x = ((x ^ (x >> 30)) * _MUL1) & _MASK
    x = ((x ^ (x >> 27)) * _MUL2) & _MASK
    return x ^ (x >> 31)


def mix64(x: np.ndarray) -> np.ndarray:
    """The same mixer applied elementwise to a uint64 array (returns a new array)."""
    x = np.array(x, dtype=np.uint64, copy=True, ndmin=1)
    x ^= x >> np.uint64(30)
    x *= np.uint64(_MUL1)
    x ^= x >> np.uint64(27)
    x *= np.uint64(_MUL2)
    x ^= x >> np.uint64(31)
    return x


def check_seed_split(seed: int, split: str) -> int:
    """Validate ``seed`` and ``split``; return the split's position in :data:`SPLITS`."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= int(seed) < 2**63:
        raise ValueError(f"seed must be in [0, 2**63), got {seed}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return SPLITS.index(split)


def check_count(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    return int(n)


def keys_for(seed: int, split: str, indices: np.ndarray, domain: str) -> np.ndarray:
    """64-bit keys of the samples ``indices`` of ``split``; ``domain`` names the dataset.

    ``domain`` keeps datasets apart: digits and animals with the same seed are unrelated.
    """
    code = check_seed_split(seed, split)
    idx = np.asarray(indices, dtype=np.uint64)
    if idx.size and int(idx.max()) >= SPLIT_STRIDE:
        raise ValueError(f"sample index too large (max {SPLIT_STRIDE - 1})")
    global_index = idx + np.uint64(code * SPLIT_STRIDE)
    return mix64(global_index ^ np.uint64(seed_key(seed, domain)))


def seed_key(seed: int, domain: str) -> int:
    """One 64-bit key per ``(seed, domain)``: the root every sample key of a dataset hangs from."""
    return mix_int(mix_int(int(seed)) ^ _domain_code(domain))


def derive(keys: np.ndarray, tag: int) -> np.ndarray:
    """Child keys (e.g. one per glyph slot) that are fixed functions of the parent keys."""
    return mix64(np.asarray(keys, dtype=np.uint64) ^ np.uint64(mix_int(_GOLDEN * (tag + 1))))


def _domain_code(domain: str) -> int:
    code = 0
    for ch in domain.encode():
        code = mix_int(code ^ ch)
    return code


def balanced_labels(
    seed: int, split: str, indices: np.ndarray, num_classes: int, domain: str
) -> np.ndarray:
    """Class labels that are exactly balanced in every block of ``num_classes`` samples.

    Indices ``[b * C, (b + 1) * C)`` form block ``b``; a block's labels are a random
    permutation of ``0 .. C-1`` drawn from the block's own key. So any prefix of the
    dataset is balanced to within one sample per class, without any label order pattern.
    """
    idx = np.asarray(indices, dtype=np.int64)
    blocks, pos = np.divmod(idx, num_classes)
    uniq, inverse = np.unique(blocks, return_inverse=True)
    block_keys = keys_for(seed, split, uniq, domain + "/label-blocks")
    scores = Draws(block_keys).bits((num_classes,))
    perms = np.argsort(scores, axis=1, kind="stable")
    return perms[inverse, pos].astype(np.int64)


class Draws:
    """Counter-based random draws for a batch of samples, one row per sample.

    Every call returns an array whose first axis runs over the samples; call number ``c``
    of a sample depends only on that sample's key and ``c``. Code that renders a sample must
    therefore make its calls in an order that does not depend on which other samples are
    being rendered alongside it.
    """

    def __init__(self, keys: np.ndarray):
        self.keys = np.asarray(keys, dtype=np.uint64)
        self.n = self.keys.shape[0]
        self._stream = 0

    def bits(self, shape: tuple[int, ...] = ()) -> np.ndarray:
        """Uniform 64-bit integers of shape ``(n, *shape)``."""
        self._stream += 1
        stream_keys = mix64(self.keys ^ np.uint64(mix_int(self._stream * _GOLDEN)))
        m = int(np.prod(shape, dtype=np.int64))
        counters = np.arange(1, m + 1, dtype=np.uint64) * np.uint64(_GOLDEN)
        out = mix64(stream_keys[:, None] + counters[None, :])
        return out.reshape((self.n, *shape))

    def uniform(self, low=0.0, high=1.0, shape: tuple[int, ...] = ()) -> np.ndarray:
        """Float64 uniform on ``[low, high)``; ``low``/``high`` broadcast against the result."""
        u = (self.bits(shape) >> np.uint64(11)).astype(np.float64) * 2.0**-53
        return low + (np.asarray(high) - low) * u

    def normal(self, shape: tuple[int, ...] = ()) -> np.ndarray:
        """Standard normal float64 (Box-Muller on the two 32-bit halves of each hash)."""
        b = self.bits(shape)
        u1 = ((b >> np.uint64(32)).astype(np.float64) + 0.5) * 2.0**-32
        u2 = (b & np.uint64(0xFFFFFFFF)).astype(np.float64) * 2.0**-32
        return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)

    def integers(self, high: int, shape: tuple[int, ...] = ()) -> np.ndarray:
        """Int64 uniform on ``0 .. high-1``."""
        return np.minimum((self.uniform(shape=shape) * high).astype(np.int64), high - 1)

    def choice(self, probs) -> np.ndarray:
        """Index drawn with the given probabilities (one per sample)."""
        cdf = np.cumsum(np.asarray(probs, dtype=np.float64))
        cdf /= cdf[-1]
        return np.minimum(np.searchsorted(cdf, self.uniform(), side="right"), len(cdf) - 1)

    def pixel_noise(self, shape: tuple[int, ...]) -> np.ndarray:
        """Cheap zero-mean float32 noise on ``[-1, 1]`` (triangular: sum of two uniforms).

        One 64-bit hash gives both uniforms, which halves the cost for whole images.
        """
        b = self.bits(shape)
        scale = np.float32(2.0**-32)
        hi = (b >> np.uint64(32)).astype(np.float32)
        lo = (b & np.uint64(0xFFFFFFFF)).astype(np.float32)
        return (hi + lo) * scale - np.float32(1.0)
