"""What an adversarial pass found in the file loaders: checkpoints, IDX files and the zoo.

Silent wrong answers (metadata edits that load, a digest that can be renamed away, a zoo
entry read twice, labels truncated), memory bombs and hangs (gzip bombs, /dev/zero,
FIFOs, huge headers) and raw tracebacks. Calls that could hang or exhaust memory on a
broken loader run in a forked child with a time and memory limit (``bounded.py``).
"""

from __future__ import annotations

import builtins
import errno
import gzip
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
from bounded import expect_named_error, run_bounded
from data.test_idx import idx_bytes

import minitl
from minitl import checkpoint, zoo
from minitl.checkpoint import load, load_metadata, save
from minitl.data import IDXFormatError, load_mnist_like, read_idx
from minitl.errors import CheckpointError

# ---------------------------------------------------------------- helpers


def split_file(path):
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def write_file(path, header, buffer=b""):
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + buffer)
    return path


@pytest.fixture
def ckpt(tmp_path):
    path = tmp_path / "model.safetensors"
    state = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(2, np.float64)}
    save(state, path, metadata={"architecture": "mlp", "metrics": {"accuracy": 0.5}})
    return path, state


# ---------------------------------------------------------------- S5 the digest covers metadata


@pytest.mark.parametrize("edit", [
    lambda m: m.__setitem__("architecture", "cnn"),
    lambda m: m.__setitem__("metrics", json.dumps({"accuracy": 0.99})),
    lambda m: m.__setitem__("added", "x"),
    lambda m: m.pop("architecture"),
    lambda m: m.__setitem__("minitl_version", "0.0.1"),
    lambda m: m.__setitem__("minitl_json_keys", "[]"),
], ids=["value", "json-value", "added", "removed", "version", "json-keys"])
def test_metadata_edits_are_caught_by_the_digest(ckpt, edit):
    path, _ = ckpt
    header, buffer = split_file(path)
    edit(header["__metadata__"])
    write_file(path, header, buffer)
    for fn in (load, load_metadata):
        with pytest.raises(CheckpointError, match="digest") as info:
            fn(path)
        assert str(path) in str(info.value)


@pytest.mark.parametrize("how", ["renamed", "removed", "emptied"])
def test_a_minitl_file_without_its_digest_is_always_refused(ckpt, how):
    path, _ = ckpt
    header, buffer = split_file(path)
    digest = header["__metadata__"].pop("minitl_sha256")
    if how == "renamed":
        header["__metadata__"]["minitl_sha257"] = digest
    elif how == "emptied":
        header["__metadata__"]["minitl_sha256"] = ""
    write_file(path, header, buffer)
    for fn in (load, load_metadata):
        for require in (False, True):  # minitl's metadata is there: its digest must be too
            with pytest.raises(CheckpointError, match="digest") as info:
                fn(path, require_digest=require)
            assert str(path) in str(info.value)


def test_a_file_from_another_tool_loads_unless_the_caller_requires_a_digest(tmp_path):
    foreign = tmp_path / "foreign.safetensors"  # written by another tool: no minitl keys
    foreign.write_bytes(safetensors.numpy.save({"x": np.ones(2, np.float32)}))
    assert load(foreign)["x"].tolist() == [1.0, 1.0]
    assert load_metadata(foreign) == {}
    with pytest.raises(CheckpointError, match="require_digest=True"):
        load(foreign, require_digest=True)


def test_tensor_edits_are_still_caught(ckpt):
    path, _ = ckpt
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="digest"):
        load(path)


# ---------------------------------------------------------------- M2, M3, H1, R1, R2 headers


def test_load_metadata_of_dev_zero_is_refused_not_read_forever():
    for fn in (load_metadata, load):
        outcome = run_bounded(lambda fn=fn: fn("/dev/zero"), timeout=30, memory=256 * 2**20)
        expect_named_error(outcome, "/dev/zero", "regular file")


def test_a_fifo_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    for fn in (load_metadata, load):
        outcome = run_bounded(lambda fn=fn: fn(fifo), timeout=20)
        expect_named_error(outcome, str(fifo), "regular file")


def test_header_size_is_capped(tmp_path):
    path = write_file(tmp_path / "big.safetensors",
                      {"__metadata__": {"a": "x" * (checkpoint.MAX_HEADER_BYTES + 10)}})
    with pytest.raises(CheckpointError, match="header") as info:
        load_metadata(path, require_digest=False)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("count", [10**5, 10**6])
def test_tensor_entry_count_is_capped_in_bounded_memory(tmp_path, count):
    path = tmp_path / "many.safetensors"
    entry = '{"dtype":"U8","shape":[0],"data_offsets":[0,0]}'
    text = "{" + ",".join(f'"t{i}":{entry}' for i in range(count)) + "}"
    write_file(path, text.encode())
    outcome = run_bounded(lambda: load(path, require_digest=False), memory=512 * 2**20)
    expect_named_error(outcome, str(path))
    assert "tensors" in outcome.message or "header" in outcome.message


def test_a_small_header_with_a_few_empty_tensors_still_loads(tmp_path):
    path = tmp_path / "few.safetensors"
    entry = {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}
    write_file(path, {f"t{i}": entry for i in range(100)})
    assert len(load(path, require_digest=False)) == 100


@pytest.mark.parametrize("header", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"__metadata__": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
    b'{"x": {"dtype": "F32", "shape": ' + b"[" * 50_000 + b"]" * 50_000
    + b', "data_offsets": [0, 0]}}',
], ids=["top", "metadata", "shape"])
def test_deeply_nested_json_is_a_named_error(tmp_path, header):
    path = write_file(tmp_path / "deep.safetensors", header)
    for fn in (load, load_metadata):
        with pytest.raises(CheckpointError, match="JSON|nested") as info:
            fn(path, require_digest=False)
        assert str(path) in str(info.value)


@pytest.mark.parametrize("dtype", [123, [1], {"a": 1}, None, 1.5, True])
def test_a_dtype_that_is_not_a_string_is_a_named_error(tmp_path, dtype):
    path = write_file(tmp_path / "d.safetensors",
                      {"x": {"dtype": dtype, "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4)
    for fn in (load, load_metadata):
        with pytest.raises(CheckpointError, match="'x'.*dtype"):
            fn(path, require_digest=False)


# ---------------------------------------------------------------- C1, C2, C3 saving


@pytest.mark.parametrize("umask", [0o077, 0o022, 0o002])
def test_new_checkpoints_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        save({"x": np.ones(1, np.float32)}, tmp_path / "m.safetensors")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.safetensors").stat().st_mode) == 0o666 & ~umask


KILLED_SAVE = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import minitl as mt

    def die(*args, **kwargs):  # killed after the temporary file is written, before the rename
        os.kill(os.getpid(), signal.SIGKILL)

    os.replace = die
    mt.save({"x": np.ones(3, np.float32)}, sys.argv[1])
""")


def _temporaries(folder):
    return [p.name for p in Path(folder).iterdir() if p.name.endswith(".tmp")]


def test_a_killed_save_leaves_no_temporary_file_after_the_next_save(tmp_path):
    path = tmp_path / "m.safetensors"
    child = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(path)])
    assert child.returncode == -9
    assert _temporaries(tmp_path), "the killed save should have left its temporary file"
    save({"x": np.zeros(3, np.float32)}, path)
    assert _temporaries(tmp_path) == []
    assert load(path)["x"].tolist() == [0.0, 0.0, 0.0]


SLOW_SAVE = textwrap.dedent("""
    import os, sys
    import numpy as np
    import minitl as mt

    real_fsync = os.fsync
    calls = []
    def wait_then_sync(fd):  # hold the temporary file open until told to go on
        if not calls:
            print("writing", flush=True)
            sys.stdin.readline()
        calls.append(fd)
        real_fsync(fd)

    os.fsync = wait_then_sync
    mt.save({"x": np.full(3, 7.0, np.float32)}, sys.argv[1])
    print("saved", flush=True)
""")


def test_a_live_writers_temporary_file_is_left_alone(tmp_path):
    path = tmp_path / "m.safetensors"
    child = subprocess.Popen([sys.executable, "-c", SLOW_SAVE, str(path)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
        assert _temporaries(tmp_path)
        save({"x": np.zeros(3, np.float32)}, path)  # must not delete the child's file
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "saved"
    finally:
        child.kill()
        child.wait()
    assert load(path)["x"].tolist() == [7.0, 7.0, 7.0]


def test_save_errors_name_the_destination_not_the_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space") as info:
        save({"x": np.ones(1, np.float32)}, path)
    assert str(path) in str(info.value) and ".tmp" not in str(info.value)
    monkeypatch.undo()
    missing = tmp_path / "no-such-folder" / "m.safetensors"
    with pytest.raises(FileNotFoundError) as info:
        save({"x": np.ones(1, np.float32)}, missing)
    assert str(missing) in str(info.value) and ".tmp" not in str(info.value)
    assert _temporaries(tmp_path) == []


def test_saving_to_a_symlink_writes_through_it(tmp_path):
    real = tmp_path / "store" / "real.safetensors"
    real.parent.mkdir()
    save({"x": np.ones(1, np.float32)}, real)
    link = tmp_path / "link.safetensors"
    link.symlink_to(real)
    save({"x": np.full(1, 5.0, np.float32)}, link)
    assert link.is_symlink()
    assert load(real)["x"].tolist() == [5.0]
    assert _temporaries(tmp_path) == [] and _temporaries(real.parent) == []


# ---------------------------------------------------------------- IDX: M1, H1, R3, R4, S6

def test_a_gzip_bomb_stops_at_the_declared_size(tmp_path):
    path = tmp_path / "bomb-idx1-ubyte.gz"
    zeros = gzip.compress(b"\0" * 2**24, compresslevel=1)  # 16 MiB of zeros per member
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(10, np.uint8))) + zeros * 64)  # 1 GiB
    outcome = run_bounded(lambda: read_idx(path), memory=256 * 2**20)
    expect_named_error(outcome, str(path), "size mismatch")


def test_a_header_declaring_more_than_the_gzip_can_hold_is_refused_early(tmp_path):
    path = tmp_path / "liar.gz"
    header = struct.pack(">BBBBIII", 0, 0, 0x0D, 3, 60000, 1000, 1000)  # 240 GB of float32
    path.write_bytes(gzip.compress(header + b"\0" * 100))
    outcome = run_bounded(lambda: read_idx(path), memory=256 * 2**20)
    expect_named_error(outcome, str(path))


def test_read_idx_refuses_a_fifo_and_a_directory(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    expect_named_error(run_bounded(lambda: read_idx(fifo), timeout=20), str(fifo),
                       "regular file")
    with pytest.raises(IDXFormatError, match="regular file"):
        read_idx(tmp_path)


def test_corrupt_deflate_data_is_a_named_error(tmp_path):
    rng = np.random.default_rng(0)
    data = bytearray(gzip.compress(idx_bytes(rng.integers(0, 255, 4000).astype(np.uint8))))
    data[10:30] = b"\xff" * 20  # the first deflate block header: zlib.error
    path = tmp_path / "bad.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(IDXFormatError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_dimensions_whose_product_overflows_64_bits_are_a_named_error(tmp_path):
    # 2**16 four times times 5 is 5 * 2**64: NumPy's int64 product wraps to 0
    path = tmp_path / "huge"
    path.write_bytes(struct.pack(">BBBB5I", 0, 0, 0x08, 5, 65536, 65536, 65536, 65536, 5))
    with pytest.raises(IDXFormatError) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def _mnist(tmp_path, images, labels):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(images))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    return tmp_path


@pytest.mark.parametrize("labels, word", [
    (np.array([1.5, 2.0], np.float32), "integ"),
    (np.array([np.nan, 1.0], np.float32), "integ"),
    (np.array([np.inf, 1.0], np.float64), "integ"),
    (np.array([1e30, 1.0], np.float64), "range"),
    (np.array([-1, 2], np.int8), "negative"),
], ids=["fraction", "nan", "inf", "huge", "negative"])
def test_labels_that_are_not_class_indices_are_refused(tmp_path, labels, word):
    folder = _mnist(tmp_path, np.zeros((2, 3, 3), np.uint8), labels)
    with pytest.raises(IDXFormatError, match=word) as info:
        load_mnist_like(folder)
    assert "labels" in str(info.value)


def test_integral_float_labels_load(tmp_path):
    folder = _mnist(tmp_path, np.zeros((2, 3, 3), np.uint8), np.array([3.0, 1.0], np.float32))
    assert load_mnist_like(folder)[1].tolist() == [3, 1]


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.int8])
def test_images_of_an_unsupported_dtype_are_refused_by_name(tmp_path, dtype):
    folder = _mnist(tmp_path, np.full((2, 3, 3), 1000 if dtype != np.int8 else 100, dtype),
                    np.array([0, 1], np.uint8))
    with pytest.raises(IDXFormatError, match=np.dtype(dtype).name) as info:
        load_mnist_like(folder)
    assert "images" in str(info.value)


def test_float_images_must_lie_in_the_unit_interval(tmp_path):
    ok = _mnist(tmp_path, np.full((2, 3, 3), 0.5, np.float32), np.array([0, 1], np.uint8))
    assert load_mnist_like(ok)[0].max() == np.float32(0.5)
    bad = _mnist(tmp_path, np.full((2, 3, 3), 255.0, np.float32), np.array([0, 1], np.uint8))
    with pytest.raises(IDXFormatError, match=r"\[0, 1\]"):
        load_mnist_like(bad)


# ---------------------------------------------------------------- zoo: S3, S4, H1, R5, R8, C4


def test_zoo_load_reads_the_entry_once(tmp_path, monkeypatch):
    zoo.store("m", {"w": np.ones(2, np.float32)}, {"v": 1}, root=tmp_path)
    target = os.path.realpath(tmp_path / "m.safetensors")
    opened = []
    real_open, real_os_open = builtins.open, os.open

    def counting_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.path.realpath(file) == target:
            opened.append(file)
        return real_open(file, *args, **kwargs)

    def counting_os_open(file, *args, **kwargs):
        if os.path.realpath(file) == target:
            opened.append(file)
        return real_os_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    monkeypatch.setattr(os, "open", counting_os_open)
    state, meta = zoo.load("m", root=tmp_path)
    assert len(opened) == 1
    assert meta["v"] == 1 and state["w"].tolist() == [1.0, 1.0]


def test_zoo_load_under_a_concurrent_writer_never_mixes_versions(tmp_path):
    versions = [({"w": np.full(4096, float(v), np.float32)}, {"version": v}) for v in (1, 2)]
    zoo.store("m", *versions[0], root=tmp_path)
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            i += 1
            zoo.store("m", *versions[i % 2], root=tmp_path)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(200):
            state, meta = zoo.load("m", root=tmp_path)
            assert np.all(state["w"] == meta["version"])
    finally:
        stop.set()
        thread.join()


def test_zoo_key_includes_the_library_version_and_source(tmp_path, monkeypatch):
    config = {"lr": 0.1}
    zoo.store("m", {"w": np.ones(1, np.float32)}, config=config, root=tmp_path)
    assert zoo.contains("m", config, root=tmp_path)
    monkeypatch.setattr(minitl, "__version__", "999.0")
    assert not zoo.contains("m", config, root=tmp_path)
    monkeypatch.undo()
    assert zoo.contains("m", config, root=tmp_path)
    monkeypatch.setattr(zoo, "_source_digest", lambda folder: "changed")
    assert not zoo.contains("m", config, root=tmp_path)


def test_the_source_digest_follows_every_library_file(tmp_path):
    package = Path(minitl.__file__).parent
    copy = tmp_path / "minitl"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = zoo._source_digest(copy)
    assert before == zoo._source_digest(package)
    with open(copy / "ops" / "reduce.py", "a") as f:
        f.write("\n# changed\n")
    assert zoo._source_digest(copy) != before


def test_zoo_listing_and_loading_refuse_a_fifo(tmp_path):
    zoo.store("good", {"w": np.ones(1, np.float32)}, root=tmp_path)
    os.mkfifo(tmp_path / "pipe.safetensors")
    outcome = run_bounded(lambda: zoo.list(root=tmp_path), summarise=lambda v: v, timeout=20)
    assert outcome.how == "returned", str(outcome)
    entries = {e["name"]: e for e in outcome.value}
    assert "error" in entries["pipe"] and "regular file" in entries["pipe"]["error"]
    assert "error" not in entries["good"]
    expect_named_error(run_bounded(lambda: zoo.load("pipe", root=tmp_path), timeout=20),
                       "regular file")


@pytest.mark.parametrize("name", ["a\0b", "a" * 300, 123, None, b"model", ".", "a/.", "a/./b",
                                  "a//b", "", "/abs", "../x", "a/..", "a/", ".hidden",
                                  "a\\..\\b"],
                         ids=["nul", "long", "int", "None", "bytes", "dot", "trailing-dot",
                              "inner-dot", "empty-part", "empty", "absolute", "parent",
                              "trailing-parent", "trailing-slash", "hidden", "backslash"])
def test_zoo_names_are_checked(tmp_path, name):
    for fn in (lambda: zoo.store(name, {"w": np.ones(1, np.float32)}, root=tmp_path),
               lambda: zoo.load(name, root=tmp_path),
               lambda: zoo.contains(name, root=tmp_path)):
        with pytest.raises(CheckpointError, match="name"):
            fn()
    assert not any(tmp_path.iterdir())


def test_a_corrupt_entry_is_reported_set_aside_and_not_reused(tmp_path):
    config = {"lr": 0.1}
    path = zoo.store("src/m", {"w": np.ones(64, np.float32)}, config=config, root=tmp_path)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0x10
    path.write_bytes(bytes(raw))
    with pytest.warns(RuntimeWarning, match="src/m") as caught:
        assert zoo.lookup("src/m", config, root=tmp_path) is None
    message = str(caught[0].message)
    assert "digest" in message and "set aside" in message
    assert not path.exists()
    assert [p.name for p in path.parent.iterdir()] == ["m.safetensors.corrupt"]
    assert zoo.list(root=tmp_path) == []
    zoo.store("src/m", {"w": np.zeros(64, np.float32)}, config=config, root=tmp_path)
    state, meta = zoo.lookup("src/m", config, root=tmp_path)
    assert state["w"].sum() == 0 and meta["config"] == config


def test_lookup_of_an_absent_or_stale_entry_is_none_without_warning(tmp_path, recwarn):
    assert zoo.lookup("m", {"a": 1}, root=tmp_path) is None
    zoo.store("m", {"w": np.ones(1, np.float32)}, config={"a": 1}, root=tmp_path)
    assert zoo.lookup("m", {"a": 2}, root=tmp_path) is None
    assert len(recwarn) == 0


def test_an_empty_shape_whose_other_sizes_overflow_is_a_named_error(tmp_path):
    # found by the loader fuzz: 0 elements, but NumPy cannot even form the shape
    path = tmp_path / "empty-but-huge"
    path.write_bytes(struct.pack(">BBBB5I", 0, 0, 0x08, 5, 0, 161, 1493, 1328446, 28884187))
    with pytest.raises(IDXFormatError, match="too large") as info:
        read_idx(path)
    assert str(path) in str(info.value)
