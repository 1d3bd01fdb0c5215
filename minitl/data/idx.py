"""A reader for the IDX files of MNIST, Fashion-MNIST, KMNIST and EMNIST.

The IDX format is a tiny header followed by raw big-endian numbers:

=========  =====================================================================
bytes      meaning
=========  =====================================================================
0-1        zero (the magic number starts with two zero bytes)
2          element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
           0x0D float32, 0x0E float64
3          number of dimensions ``d``
4 .. 4+4d  each dimension's size, a big-endian uint32
rest       the elements in C (row-major) order, big-endian
=========  =====================================================================

Files are read from a local path, plain or gzip-compressed; nothing is downloaded. Any
inconsistency raises :class:`IDXFormatError`, naming the file and what is wrong.

Reading is bounded by the header: it is read and checked first, then exactly the bytes
it declares (and one more, to detect extra data), so a gzip bomb is stopped at the
declared size, a header declaring more than the file can hold (more than deflate's
1032:1 ratio for a ``.gz``) or more than ``max_bytes`` is refused before anything is
allocated, and only regular files are read (a FIFO or a folder is refused at once).

Note: EMNIST stores each image transposed (column-major); ``images.transpose(0, 1, 3, 2)``
turns them upright.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import sys
import zlib
from pathlib import Path

import numpy as np

from .._files import open_regular
from ..errors import MinitlError

# element type code -> big-endian NumPy dtype
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IDXFormatError(MinitlError, ValueError):
    """An IDX file is malformed: bad magic number, unknown type, truncated, or wrong size."""


#: The most a single IDX file may declare by default (EMNIST ByClass, the largest of the
#: family, holds about 550 MB of images).
MAX_BYTES = 2**32
#: deflate cannot compress better than about 1032:1, so a ``.gz`` file of n bytes holds at
#: most this many times n bytes of data.
_DEFLATE_RATIO = 1032


def _read_exactly(stream, n: int, path, what: str) -> bytes:
    data = stream.read(n)
    if len(data) < n:
        raise IDXFormatError(f"{path}: truncated {what}: need {n} bytes, file has {len(data)}")
    return data


def read_idx(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """Read one IDX file (plain or ``.gz``) into a native-endian NumPy array.

    The array keeps the file's element type (uint8 images stay uint8) and shape.
    Raises ``FileNotFoundError`` if the file is missing and :class:`IDXFormatError` if it
    is not a regular file, its contents are not a consistent IDX file, or its header
    declares more than ``max_bytes`` bytes of data.
    """
    path = Path(path)
    fh, size = open_regular(path, IDXFormatError, "IDX file")
    with fh:
        compressed = fh.read(2) == b"\x1f\x8b"  # gzip magic, whatever the file is called
        fh.seek(0)
        if not compressed:
            return _read_stream(fh, path, size, size, max_bytes)
        try:
            with gzip.GzipFile(fileobj=fh, mode="rb") as stream:
                return _read_stream(stream, path, None, size * _DEFLATE_RATIO + 1024, max_bytes)
        except (OSError, EOFError, zlib.error) as exc:
            raise IDXFormatError(f"{path}: corrupt or truncated gzip data ({exc})") from None


def _read_stream(stream, path, exact_size, most, max_bytes) -> np.ndarray:
    """Parse an IDX stream of ``exact_size`` bytes (None: unknown, at most ``most``)."""
    head = stream.read(4)
    if len(head) < 4:
        raise IDXFormatError(f"{path}: truncated header ({len(head)} bytes, need at least 4)")
    if head[0] != 0 or head[1] != 0:
        raise IDXFormatError(
            f"{path}: bad magic number 0x{head.hex()} (an IDX file starts with two zero "
            "bytes, then a type code and the number of dimensions)"
        )
    code, ndim = head[2], head[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise IDXFormatError(f"{path}: unknown element type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise IDXFormatError(f"{path}: wrong dimensions: the header declares 0 dimensions")
    header = 4 + 4 * ndim
    dims = stream.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise IDXFormatError(
            f"{path}: truncated header: {ndim} dimensions need {header} bytes, file has "
            f"{4 + len(dims)}"
        )
    shape = tuple(int(s) for s in np.frombuffer(dims, dtype=">u4"))
    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize  # a Python int: no overflow
    if math.prod(s for s in shape if s) * dtype.itemsize > sys.maxsize:
        raise IDXFormatError(f"{path}: shape {shape} is too large for an array (its sizes "
                             "multiply past the largest array NumPy can index)")
    if expected > max_bytes:
        raise IDXFormatError(f"{path}: shape {shape} of {dtype.name} declares {expected} bytes "
                             f"of data, more than max_bytes={max_bytes} (pass a larger "
                             "max_bytes if the file really is that big)")
    if exact_size is not None:
        body = exact_size - header
        if body != expected:
            what = "truncated data" if body < expected else "size mismatch"
            extra = f" ({body - expected} extra)" if body > expected else ""
            raise IDXFormatError(
                f"{path}: {what}: shape {shape} of {dtype.name} needs {expected} bytes "
                f"after the header, file has {body}{extra}"
            )
    elif header + expected > most:
        raise IDXFormatError(
            f"{path}: truncated data: shape {shape} of {dtype.name} needs {expected} bytes, "
            f"more than a compressed file of this size can hold"
        )
    data = stream.read(expected)
    if len(data) < expected:
        raise IDXFormatError(
            f"{path}: truncated data: shape {shape} of {dtype.name} needs {expected} bytes "
            f"after the header, file has {len(data)}"
        )
    if stream.read(1):
        raise IDXFormatError(
            f"{path}: size mismatch: shape {shape} of {dtype.name} needs {expected} bytes "
            "after the header, and the file holds more (extra data, or a gzip bomb)"
        )
    arr = np.frombuffer(data, dtype=dtype).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


_SPLIT_WORDS = {"train": ("train",), "test": ("t10k", "test")}


def _find(directory: Path, split: str, kind: str, prefix: str) -> Path:
    """The one file in ``directory`` named like ``<prefix><split>-<kind>-idxN-ubyte[.gz]``."""
    ndim = {"images": 3, "labels": 1}[kind]
    words = "|".join(_SPLIT_WORDS[split])
    pattern = re.compile(
        rf"^{re.escape(prefix)}(?:.*[-_])?(?:{words})[-_.]{kind}[-_.]idx{ndim}[-_.]ubyte(?:\.gz)?$"
    )
    matches = sorted(p for p in directory.iterdir() if p.is_file() and pattern.match(p.name))
    if not matches:
        raise FileNotFoundError(
            f"no {split} {kind} file in {directory}: expected a name like "
            f"'{prefix}{_SPLIT_WORDS[split][0]}-{kind}-idx{ndim}-ubyte' (optionally .gz)"
        )
    # The same data may sit there both plain and gzipped: prefer the plain file.
    stems = {p.name.removesuffix(".gz") for p in matches}
    if len(stems) > 1:
        names = ", ".join(p.name for p in matches)
        raise FileNotFoundError(
            f"several {split} {kind} files in {directory} ({names}); pass prefix= to choose"
        )
    return min(matches, key=lambda p: p.suffix == ".gz")


def load_mnist_like(
    directory: str | os.PathLike, split: str = "train", prefix: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Load an MNIST-style split from ``directory``: images (N, 1, H, W) float32 in [0, 1]
    and labels (N,) int64.

    Images must be uint8 (0..255, scaled to [0, 1]) or floating point already in
    [0, 1]; other dtypes (int8, int16, int32: no documented intensity range) are an
    IDXFormatError. Labels must be class indices: non-negative integers, or floats
    holding whole numbers in int64's range; fractions, NaN, infinities and negative
    values are an IDXFormatError naming the labels file.

    Finds the standard names (``train-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, with
    ``-`` or ``.`` separators, optionally ``.gz``). ``prefix`` selects one set among several
    in one folder, e.g. ``prefix="emnist-letters-"``. ``split`` is ``"train"`` or ``"test"``.
    """
    if split not in _SPLIT_WORDS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not a directory")
    image_path = _find(directory, split, "images", prefix)
    label_path = _find(directory, split, "labels", prefix)
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3:
        raise IDXFormatError(f"{image_path}: wrong dimensions: images must be 3-D (N, H, W), "
                             f"got shape {images.shape}")
    if labels.ndim != 1:
        raise IDXFormatError(f"{label_path}: wrong dimensions: labels must be 1-D (N,), "
                             f"got shape {labels.shape}")
    if images.shape[0] != labels.shape[0]:
        raise IDXFormatError(
            f"{label_path}: size mismatch: {labels.shape[0]} labels for "
            f"{images.shape[0]} images in {image_path.name}"
        )
    return _unit_images(images, image_path)[:, None], _class_indices(labels, label_path)


def _unit_images(images: np.ndarray, path: Path) -> np.ndarray:
    """uint8 images scaled to [0, 1]; float images checked to lie there already."""
    if images.dtype == np.uint8:
        return images.astype(np.float32) / np.float32(255.0)
    if images.dtype.kind != "f":
        raise IDXFormatError(f"{path}: images of dtype {images.dtype.name} are not supported "
                             "(MNIST-style images are uint8, 0..255, or floats in [0, 1]); "
                             "read them with read_idx and scale them yourself")
    if images.size and not (np.isfinite(images).all() and images.min() >= 0
                            and images.max() <= 1):
        raise IDXFormatError(f"{path}: float images must lie in [0, 1], these range over "
                             f"[{images.min()}, {images.max()}]")
    return images.astype(np.float32)


def _class_indices(labels: np.ndarray, path: Path) -> np.ndarray:
    """Labels as int64 class indices, refusing what is not one."""
    if labels.dtype.kind == "f":
        if not np.isfinite(labels).all() or not (labels == np.round(labels)).all():
            bad = labels[~np.isfinite(labels) | (labels != np.round(labels))][0]
            raise IDXFormatError(f"{path}: labels must be integers (class indices), found "
                                 f"{bad}")
        if labels.size and labels.max() >= 2.0**63:
            raise IDXFormatError(f"{path}: label {labels.max()} is out of range for a class "
                                 "index (int64)")
    if labels.size and labels.min() < 0:
        raise IDXFormatError(f"{path}: labels must be class indices, found the negative "
                             f"label {labels.min()}")
    return labels.astype(np.int64)
