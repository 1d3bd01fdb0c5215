"""IDX reader: round trips on files this test writes itself, plain and gzipped, and errors."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from minitl.data import IDXFormatError, load_mnist_like, read_idx

CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
         np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(arr: np.ndarray) -> bytes:
    """Encode an array as IDX, independently of the reader: header, then big-endian data."""
    header = struct.pack(">BBBB", 0, 0, CODES[arr.dtype], arr.ndim)
    header += struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write(path, arr, gz=False):
    data = idx_bytes(arr)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.int32, np.int8, np.int16, np.float64])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (4, 6, 5)])
@pytest.mark.parametrize("gz", [False, True])
def test_round_trip(tmp_path, dtype, shape, gz):
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        arr = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    else:
        arr = (rng.normal(size=shape) * 50).astype(dtype)
    path = write(tmp_path / ("a.idx.gz" if gz else "a.idx"), arr, gz)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype)
    assert out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


def test_gzip_detected_by_content_not_name(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(read_idx(write(tmp_path / "noext", arr, gz=True)), arr)


def _expect(tmp_path, data: bytes, match: str):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(data)
    with pytest.raises(IDXFormatError, match=match) as info:
        read_idx(path)
    assert "bad-idx1-ubyte" in str(info.value)  # the message names the file
    assert isinstance(info.value, ValueError)


def test_bad_magic(tmp_path):
    _expect(tmp_path, b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "bad magic")


def test_unknown_dtype_code(tmp_path):
    _expect(tmp_path, b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "unknown element type")


def test_truncated_header(tmp_path):
    _expect(tmp_path, b"\x00\x00", "truncated header")
    _expect(tmp_path, b"\x00\x00\x08\x03" + struct.pack(">I", 2), "truncated header")


def test_truncated_data(tmp_path):
    full = idx_bytes(np.zeros((4, 3), dtype=np.int32))
    _expect(tmp_path, full[:-5], "truncated data")


def test_size_mismatch_extra_bytes(tmp_path):
    _expect(tmp_path, idx_bytes(np.zeros(5, dtype=np.uint8)) + b"\x00\x00", "size mismatch")


def test_zero_dimensions(tmp_path):
    _expect(tmp_path, b"\x00\x00\x08\x00", "0 dimensions")


def test_corrupt_gzip(tmp_path):
    data = gzip.compress(idx_bytes(np.zeros(100, dtype=np.uint8)))
    _expect(tmp_path, data[: len(data) // 2], "gzip")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


def _mnist_dir(tmp_path, n_train=6, n_test=4, gz=True, prefix="", sep="-"):
    rng = np.random.default_rng(1)
    suffix = ".gz" if gz else ""
    data = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        write(tmp_path / f"{prefix}{split}{sep}images{sep}idx3{sep}ubyte{suffix}", images, gz)
        write(tmp_path / f"{prefix}{split}{sep}labels{sep}idx1{sep}ubyte{suffix}", labels, gz)
        data[split] = images, labels
    return data


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("sep", ["-", "."])
def test_load_mnist_like(tmp_path, gz, sep):
    data = _mnist_dir(tmp_path, gz=gz, sep=sep)
    for split, name in (("train", "train"), ("test", "t10k")):
        x, y = load_mnist_like(tmp_path, split)
        images, labels = data[name]
        assert x.shape == (len(images), 1, 28, 28) and x.dtype == np.float32
        assert y.dtype == np.int64
        np.testing.assert_allclose(x[:, 0], images / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(y, labels)


def test_load_mnist_like_prefix_chooses_among_sets(tmp_path):
    _mnist_dir(tmp_path, n_train=3, prefix="emnist-letters-")
    _mnist_dir(tmp_path, n_train=5, prefix="emnist-digits-")
    with pytest.raises(FileNotFoundError, match="prefix"):
        load_mnist_like(tmp_path, "train")
    x, _ = load_mnist_like(tmp_path, "train", prefix="emnist-digits-")
    assert len(x) == 5


def test_load_mnist_like_errors(tmp_path):
    with pytest.raises(ValueError):
        load_mnist_like(tmp_path, "val")
    with pytest.raises(FileNotFoundError, match="train images"):
        load_mnist_like(tmp_path, "train")
    write(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    write(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(IDXFormatError, match="size mismatch"):
        load_mnist_like(tmp_path, "train")
    write(tmp_path / "train-labels-idx1-ubyte", np.zeros((3, 1), np.uint8))
    with pytest.raises(IDXFormatError, match="wrong dimensions"):
        load_mnist_like(tmp_path, "train")
