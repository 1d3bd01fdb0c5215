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

Note: EMNIST stores each image transposed (column-major); ``images.transpose(0, 1, 3, 2)``
turns them upright.
"""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import numpy as np

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


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(2)
        fh.seek(0)
        raw = fh.read()
    if head == b"\x1f\x8b":  # gzip magic, whatever the file is called
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise IDXFormatError(f"{path}: corrupt or truncated gzip data ({exc})") from exc
    return raw


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (plain or ``.gz``) into a native-endian NumPy array.

    The array keeps the file's element type (uint8 images stay uint8) and shape.
    Raises ``FileNotFoundError`` if the file is missing and :class:`IDXFormatError` if its
    contents are not a consistent IDX file.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise IDXFormatError(f"{path}: truncated header ({len(data)} bytes, need at least 4)")
    if data[0] != 0 or data[1] != 0:
        raise IDXFormatError(
            f"{path}: bad magic number 0x{data[:4].hex()} (an IDX file starts with two zero "
            "bytes, then a type code and the number of dimensions)"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise IDXFormatError(f"{path}: unknown element type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise IDXFormatError(f"{path}: wrong dimensions: the header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXFormatError(
            f"{path}: truncated header: {ndim} dimensions need {header} bytes, file has "
            f"{len(data)}"
        )
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    body = len(data) - header
    if body < expected:
        raise IDXFormatError(
            f"{path}: truncated data: shape {shape} of {dtype.name} needs {expected} bytes "
            f"after the header, file has {body}"
        )
    if body > expected:
        raise IDXFormatError(
            f"{path}: size mismatch: shape {shape} of {dtype.name} needs {expected} bytes "
            f"after the header, file has {body} ({body - expected} extra)"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
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
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    x = (images.astype(np.float32) / np.float32(scale))[:, None]
    return x, labels.astype(np.int64)
