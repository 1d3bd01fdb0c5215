"""Mini-batches of NumPy arrays, as minitl Tensors.

A :class:`DataLoader` holds aligned arrays (images, labels, ...) whose first axis runs
over samples, and yields tuples of tensors, one per array, ``batch_size`` samples at a
time. With ``shuffle=True`` it visits the samples in a fresh random order every epoch,
drawn from the loader's own ``np.random.Generator`` (seeded by ``seed``): two loaders with
the same seed give the same sequence of epochs, and nothing touches NumPy's global random
state.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..backend import normalize_device, require_cupy
from ..errors import DTypeError


def _batch_dtype(arr: np.ndarray) -> np.ndarray:
    """Floats become float32 (minitl's default), integers int64 (class labels); unsigned
    integers beyond int64's range are a DTypeError rather than a silent wrap-around."""
    if np.issubdtype(arr.dtype, np.floating):
        return arr.astype(np.float32, copy=False)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
            raise DTypeError(f"DataLoader: a uint64 array holds {arr.max()}, beyond int64's "
                             "range; integer arrays (class labels) are converted to int64")
        return arr.astype(np.int64, copy=False)
    return arr


class DataLoader:
    """Iterate over aligned arrays in mini-batches of Tensors.

    Parameters
    ----------
    *arrays:
        NumPy arrays (or array-likes) with the same length along axis 0.
    batch_size:
        Samples per batch; the last batch may be smaller unless ``drop_last``.
    shuffle:
        Visit samples in a new random order each epoch.
    seed:
        Seed of the loader's private generator (``None``: fresh OS entropy).
    drop_last:
        Skip a final incomplete batch.
    device:
        Where batches go: each batch is built with ``minitl.tensor`` and moved with
        ``.to(device)``.

    ``len(loader)`` is the number of batches per epoch. Each batch is a copy, so a model
    that changes its input in place cannot corrupt the dataset.
    """

    def __init__(
        self,
        *arrays,
        batch_size: int,
        shuffle: bool = False,
        seed: int | None = None,
        drop_last: bool = False,
        device: str = "cpu",
    ):
        if not arrays:
            raise ValueError("DataLoader needs at least one array")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
            raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.arrays = tuple(_batch_dtype(np.asarray(a)) for a in arrays)
        lengths = [a.shape[0] if a.ndim else None for a in self.arrays]
        if None in lengths or len(set(lengths)) != 1:
            shapes = [a.shape for a in self.arrays]
            raise ValueError(f"arrays must share their first dimension, got shapes {shapes}")
        self.num_samples = lengths[0]
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.device = normalize_device(device)  # an unknown device fails here, not later
        if self.device == "cuda":
            require_cupy()
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        full, rest = divmod(self.num_samples, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def batch_indices(self) -> Iterator[np.ndarray]:
        """The sample indices of each batch of one epoch (draws a new order if shuffling)."""
        n = self.num_samples
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        for b in range(len(self)):
            yield order[b * self.batch_size : (b + 1) * self.batch_size]

    def numpy_batches(self) -> Iterator[tuple[np.ndarray, ...]]:
        """One epoch of batches as tuples of NumPy arrays (what ``__iter__`` wraps)."""
        for idx in self.batch_indices():
            yield tuple(np.take(a, idx, axis=0) for a in self.arrays)

    def __iter__(self):
        from minitl import Tensor  # imported here: the data layer sits below the engine

        for batch in self.numpy_batches():  # fresh arrays (np.take copies): wrapped, not copied
            yield tuple(Tensor(a).to(self.device) for a in batch)

    def __repr__(self) -> str:
        shapes = ", ".join(str(a.shape) for a in self.arrays)
        return (
            f"DataLoader({shapes}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, device={self.device!r})"
        )
