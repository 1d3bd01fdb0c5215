"""Checkpoints: safetensors round trips, metadata, atomic writes, and loud failures."""

import json
import os
import struct

import numpy as np
import pytest
import safetensors.numpy

import minitl
from minitl import Tensor
from minitl.checkpoint import load, load_metadata, save
from minitl.errors import CheckpointError, DTypeError


def sample_state():
    rng = np.random.default_rng(0)
    return {
        "body.0.weight": rng.standard_normal((4, 3)).astype(np.float32),
        "body.0.bias": rng.standard_normal(4).astype(np.float32),
        "scalar": np.array(2.5, dtype=np.float64),            # 0-d
        "half": rng.standard_normal((2, 2)).astype(np.float16),
        "steps": np.array([1, -2, 3], dtype=np.int64),
        "i32": np.arange(6, dtype=np.int32).reshape(1, 2, 3),
        "i16": np.array([-7, 7], dtype=np.int16),
        "i8": np.array([[-128, 127]], dtype=np.int8),
        "u8": np.array([0, 255], dtype=np.uint8),
        "mask": np.array([True, False, True]),
        "empty": np.zeros((0, 5), dtype=np.float32),
    }


def assert_same(loaded, original):
    assert list(sorted(loaded)) == list(sorted(original))
    for name, array in original.items():
        got = loaded[name]
        assert got.dtype == array.dtype and got.shape == array.shape, name
        np.testing.assert_array_equal(got, array)


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.safetensors"
    state = sample_state()
    save(state, path, metadata={"architecture": "mlp-3-4-2", "source_task": "magnitude",
                                "metrics": {"accuracy": 0.97, "loss": [0.5, 0.1]}, "epochs": 3})
    return path, state


def test_round_trip_of_dtypes_shapes_and_metadata(saved):
    path, state = saved
    loaded = load(path)
    assert_same(loaded, state)
    assert loaded["scalar"].shape == ()
    assert all(a.flags.writeable and a.flags.owndata for a in loaded.values())
    meta = load_metadata(path)
    assert meta == {"architecture": "mlp-3-4-2", "source_task": "magnitude",
                    "metrics": {"accuracy": 0.97, "loss": [0.5, 0.1]}, "epochs": 3,
                    "minitl_version": minitl.__version__}


def test_tensors_and_non_contiguous_arrays_are_saved(tmp_path):
    path = tmp_path / "t.safetensors"
    base = np.arange(12, dtype=np.float32).reshape(3, 4)
    save({"w": Tensor(base, requires_grad=True), "view": base[:, ::2].T}, path)
    loaded = load(path)
    np.testing.assert_array_equal(loaded["w"], base)
    np.testing.assert_array_equal(loaded["view"], base[:, ::2].T)


def test_device_arrays_are_copied_to_the_host(tmp_path, device):
    from minitl.backend import to_device

    path = tmp_path / "d.safetensors"
    weights = np.arange(6, dtype=np.float32).reshape(2, 3)
    save({"w": to_device(weights, device), "t": Tensor(to_device(weights, device))}, path)
    loaded = load(path)
    assert isinstance(loaded["w"], np.ndarray)
    np.testing.assert_array_equal(loaded["t"], weights)


def test_interoperates_with_safetensors_own_numpy_api(saved, tmp_path):
    path, state = saved
    # minitl's file read by safetensors ...
    assert_same(safetensors.numpy.load(path.read_bytes()), state)
    # ... and safetensors' bytes read by minitl: no minitl metadata, so nothing to verify,
    # and it loads as it is (interchange is what the format is for)
    other = tmp_path / "other.safetensors"
    safetensors.numpy.save_file(state, str(other), metadata={"format": "np"})
    assert_same(load(other), state)
    assert load_metadata(other) == {"format": "np"}  # no minitl_version: unverified
    plain = tmp_path / "plain.safetensors"
    plain.write_bytes(safetensors.numpy.save({"x": np.ones(2, np.float32)}))
    assert load_metadata(plain) == {}
    arrays, meta = minitl.checkpoint.load_with_metadata(plain)
    assert arrays["x"].tolist() == [1.0, 1.0] and meta == {}


def test_another_tools_file_loads_into_a_module_without_keywords(tmp_path):
    model = minitl.nn.Sequential(minitl.nn.Linear(3, 4, rng=np.random.default_rng(0)),
                                 minitl.nn.ReLU(),
                                 minitl.nn.Linear(4, 2, rng=np.random.default_rng(1)))
    state = {k: v * 2 for k, v in model.state_dict().items()}
    path = tmp_path / "w.safetensors"
    safetensors.numpy.save_file(state, str(path))  # what another tool writes: no minitl keys
    model.load_state_dict(minitl.load(path))
    assert_same(model.state_dict(), state)
    assert "minitl_version" not in minitl.load_metadata(path)  # the mark of "unverified"


def test_require_digest_refuses_a_file_without_one(saved, tmp_path):
    path, state = saved
    assert_same(load(path, require_digest=True), state)  # minitl's own file: verified
    other = tmp_path / "other.safetensors"
    safetensors.numpy.save_file(state, str(other))
    for fn in (load, load_metadata, minitl.checkpoint.load_with_metadata):
        with pytest.raises(CheckpointError, match="require_digest=True") as info:
            fn(other, require_digest=True)
        assert str(other) in str(info.value)


def test_a_pytorch_written_file_loads_without_keywords(tmp_path):
    torch = pytest.importorskip("torch", reason="the bench extra: pip install torch==2.13.0")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    path = tmp_path / "w.safetensors"
    safetensors_torch.save_file(net.state_dict(), str(path))
    loaded = load(path)
    assert_same(loaded, {k: v.detach().numpy() for k, v in net.state_dict().items()})
    assert "minitl_version" not in load_metadata(path)  # unverified, and says so
    model = minitl.nn.Sequential(minitl.nn.Linear(3, 4), minitl.nn.ReLU(),
                                 minitl.nn.Linear(4, 2))
    model.load_state_dict(loaded)  # PyTorch's (out, in) weight layout is minitl's too
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(minitl.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_empty_state_dict_and_file_permissions(tmp_path):
    path = tmp_path / "empty.safetensors"
    save({}, path)
    assert load(path) == {}
    assert load_metadata(path) == {"minitl_version": minitl.__version__}
    if hasattr(os, "fchmod"):  # not the 0600 of a bare temporary file
        assert path.stat().st_mode & 0o044 == 0o044


def test_save_refuses_what_it_cannot_store(tmp_path):
    path = tmp_path / "x.safetensors"
    with pytest.raises(DTypeError, match="complex"):
        save({"z": np.ones(2, np.complex64)}, path)
    with pytest.raises(DTypeError, match="uint32"):
        save({"u": np.ones(2, np.uint32)}, path)
    with pytest.raises(TypeError, match="names must be strings"):
        save({1: np.ones(2)}, path)
    with pytest.raises(ValueError, match="reserved"):
        save({"x": np.ones(2)}, path, metadata={"minitl_version": "9"})
    with pytest.raises(TypeError, match="JSON"):
        save({"x": np.ones(2)}, path, metadata={"obj": object()})
    assert not path.exists()


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError, match="directory"):
        load(tmp_path)
    with pytest.raises(CheckpointError, match="no such file"):
        load_metadata(tmp_path / "nope.safetensors")


def test_truncated_at_every_64th_byte(saved, tmp_path):
    path, _ = saved
    raw = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    for size in range(0, len(raw), 64):
        cut.write_bytes(raw[:size])
        with pytest.raises(CheckpointError) as info:
            load(cut)
        assert "cut.safetensors" in str(info.value)
    for size in (len(raw) - 1, 1, 7, 8, 9):
        cut.write_bytes(raw[:size])
        with pytest.raises(CheckpointError):
            load(cut)


def test_every_single_header_byte_flip_is_caught_or_harmless(saved, tmp_path):
    # Flipping a byte of the header either makes the file invalid (CheckpointError) or
    # changes nothing that matters (JSON whitespace, a metadata value): never wrong weights.
    path, state = saved
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    bad = tmp_path / "bad.safetensors"
    errors = 0
    for i in range(8 + n):
        for flip in (0x01, 0x20):
            corrupted = bytearray(raw)
            corrupted[i] ^= flip
            bad.write_bytes(bytes(corrupted))
            try:
                loaded = load(bad)
            except CheckpointError:
                errors += 1
                continue
            assert_same(loaded, state)
    assert errors > 8 + n  # most flips break the header


def test_data_corruption_is_caught_by_the_digest(saved, tmp_path):
    path, _ = saved
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0x10
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load(bad)


def write_raw(path, header, data=b""):
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


@pytest.mark.parametrize("header,data,message", [
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4, "outside"),
    ({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8, "needs 12"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 8, "trailing"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
      "b": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}}, b"\0" * 6, "overlaps"),
    ({"a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}, b"\0" * 2, "gap"),
    ({"w": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}}, b"\0" * 2, "bfloat16"),
    ({"w": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}}, b"\0", "not one"),
    ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4, "shape"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}, b"\0" * 4, "pair"),
    ({"w": {"dtype": "F32", "shape": [1]}}, b"\0" * 4, "exactly"),
    ({"w": {"dtype": "BOOL", "shape": [1], "data_offsets": [0, 1]}}, b"\x07", "0 and 1"),
    ({"__metadata__": {"k": 1}}, b"", "strings to strings"),
    ([1, 2], b"", "not an object"),
])
def test_malformed_headers(tmp_path, header, data, message):
    path = tmp_path / "bad.safetensors"
    write_raw(path, header, data)
    with pytest.raises(CheckpointError, match=message):
        load(path)


def test_malformed_header_bytes(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", 2**40) + b"{}")
    with pytest.raises(CheckpointError, match="implausibly large"):
        load(path)
    path.write_bytes(struct.pack("<Q", 50) + b"{}")
    with pytest.raises(CheckpointError, match="runs past the end"):
        load(path)
    path.write_bytes(struct.pack("<Q", 5) + b"{oops")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load(path)
    path.write_bytes(struct.pack("<Q", 2) + b"\xff\xfe")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load(path)
    text = b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "a": {}}'
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"\0")
    with pytest.raises(CheckpointError, match="duplicate"):
        load(path)


def test_safetensors_errors_are_wrapped(saved, tmp_path, monkeypatch):
    path, _ = saved

    def broken(data):
        raise RuntimeError("simulated failure inside safetensors")

    monkeypatch.setattr(safetensors.numpy, "load", broken)
    with pytest.raises(CheckpointError, match="simulated failure"):
        load(path)


def listing(folder):
    return sorted(os.listdir(folder))


def test_atomic_write_keeps_the_old_file_when_writing_fails(saved, monkeypatch):
    path, state = saved
    before = path.read_bytes()
    folder = path.parent
    names = listing(folder)
    real_fdopen = os.fdopen

    class HalfWriter:
        """Writes half the bytes, then fails like a full disk."""

        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            raise OSError(28, "No space left on device (simulated)")

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(minitl.checkpoint.os, "fdopen",
                        lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="simulated"):
        save({"new": np.ones(3, np.float32)}, path)
    assert path.read_bytes() == before
    assert listing(folder) == names  # no temporary file left behind
    assert_same(load(path), state)


@pytest.mark.parametrize("target", ["fsync", "replace"])
def test_atomic_write_keeps_the_old_file_when_sync_or_rename_fails(saved, monkeypatch, target):
    path, state = saved
    names = listing(path.parent)

    def boom(*args):
        raise OSError(f"simulated {target} failure")

    monkeypatch.setattr(minitl.checkpoint.os, target, boom)
    with pytest.raises(OSError, match="simulated"):
        save({"new": np.ones(3, np.float32)}, path)
    monkeypatch.undo()
    assert listing(path.parent) == names
    assert_same(load(path), state)


def test_save_replaces_an_existing_file_and_never_uses_pickle(saved, monkeypatch):
    path, _ = saved

    def no_pickle(*args, **kwargs):
        raise AssertionError("np.load must not be used to read checkpoints")

    monkeypatch.setattr(np, "load", no_pickle)
    save({"only": np.arange(3, dtype=np.int8)}, path)
    loaded = load(path)
    assert list(loaded) == ["only"]
    np.testing.assert_array_equal(loaded["only"], [0, 1, 2])
    assert listing(path.parent) == ["model.safetensors"]
