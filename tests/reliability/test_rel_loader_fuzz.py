"""Fuzzing the three loaders: checkpoint files, IDX files and zoo entries.

Each example builds a valid file, damages it (flipped, inserted or dropped bytes, a cut,
a rewritten header or header length, an appended tail), and loads it in a forked child
with a time and a memory limit (``bounded.py``). Every input must either load correctly
or raise a named minitl error; a hang, a raw exception or a memory blow-up fails. The
``ci`` hypothesis profile (``make test``) runs a bounded number of examples per loader,
the ``thorough`` one (``make test-slow``) many more.
"""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
from bounded import run_bounded
from data.test_idx import CODES as IDX_CODES
from data.test_idx import idx_bytes
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minitl import zoo
from minitl.checkpoint import load_with_metadata, save
from minitl.data import read_idx

# ---------------------------------------------------------------- damage


def _damage(draw, raw: bytes, header_json) -> bytes:
    """One way of breaking ``raw`` (or none: the intact file must load)."""
    how = draw(st.sampled_from(["none", "flip", "cut", "insert", "drop", "append",
                                "length", "header"] if header_json is not None else
                               ["none", "flip", "cut", "insert", "drop", "append"]))
    data = bytearray(raw)
    n = len(data)
    if how == "flip":
        for _ in range(draw(st.integers(1, 4))):
            i = draw(st.integers(0, n - 1))
            data[i] ^= draw(st.integers(1, 255))
    elif how == "cut":
        data = data[:draw(st.integers(0, n - 1))]
    elif how == "insert":
        i = draw(st.integers(0, n))
        data[i:i] = draw(st.binary(min_size=1, max_size=16))
    elif how == "drop":
        i = draw(st.integers(0, n - 1))
        del data[i:i + draw(st.integers(1, 16))]
    elif how == "append":
        data += draw(st.binary(min_size=1, max_size=64))
    elif how == "length":
        data[:8] = struct.pack("<Q", draw(st.one_of(st.integers(0, 2 * n),
                                                     st.integers(0, 2**64 - 1))))
    elif how == "header":
        header = json.dumps(draw(header_json)).encode()
        (old,) = struct.unpack("<Q", raw[:8])
        data = bytearray(struct.pack("<Q", len(header)) + header + raw[8 + old:])
    return bytes(data), how


def _same(a, b) -> bool:
    return (a.dtype == b.dtype and a.shape == b.shape
            and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))


# ---------------------------------------------------------------- checkpoints

DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
          np.uint8, np.bool_]
NAMES = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1,
                max_size=8).filter(lambda s: s != "__metadata__")
ARRAYS = st.sampled_from(DTYPES).flatmap(
    lambda d: hnp.arrays(d, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)))
METADATA = st.dictionaries(NAMES.filter(lambda s: not s.startswith("minitl_")),
                           st.one_of(st.text(max_size=20), st.integers(-10**6, 10**6),
                                     st.lists(st.floats(allow_nan=False), max_size=3)),
                           max_size=3)
JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                              st.floats(allow_nan=False, allow_infinity=False),
                              st.sampled_from(["F32", "U8", "BOOL", "BF16", "dtype", "shape",
                                               "data_offsets", "__metadata__"]),
                              st.text(max_size=6)),
                    lambda inner: st.one_of(st.lists(inner, max_size=4),
                                            st.dictionaries(st.sampled_from(
                                                ["dtype", "shape", "data_offsets",
                                                 "__metadata__", "w", "x"]) | st.text(max_size=4),
                                                inner, max_size=4)),
                    max_leaves=20)


def _summary(loaded):
    arrays, metadata = loaded
    return {k: np.asarray(v) for k, v in arrays.items()}, metadata


@given(data=st.data())
def test_checkpoint_loader_fuzz(tmp_path, data):
    state = data.draw(st.dictionaries(NAMES, ARRAYS, max_size=3), label="state")
    metadata = data.draw(METADATA, label="metadata")
    path = tmp_path / "fuzz.safetensors"
    save(state, path, metadata=metadata)
    damaged, how = _damage(data.draw, path.read_bytes(), JSON)
    path.write_bytes(damaged)
    require = data.draw(st.booleans(), label="require_digest")
    outcome = run_bounded(lambda: load_with_metadata(path, require_digest=require),
                          summarise=_summary)
    assert outcome.how in ("returned", "raised"), f"{how}: {outcome}"
    if outcome.how == "raised":
        assert outcome.minitl, f"{how}: {outcome}"
        return
    arrays, loaded_meta = outcome.value
    # verified by the digest (always so when minitl's metadata survived): what was saved
    if require or how == "none" or "minitl_version" in loaded_meta:
        assert set(arrays) == set(state), how
        for name in state:
            assert _same(arrays[name], np.asarray(state[name])), (how, name)
        assert {k: v for k, v in loaded_meta.items() if k != "minitl_version"} == metadata
    for array in arrays.values():  # unverified: at least well-formed arrays
        assert array.dtype in [np.dtype(d) for d in DTYPES]


# ---------------------------------------------------------------- IDX

IDX_ARRAYS = st.sampled_from(list(IDX_CODES)).flatmap(
    lambda d: hnp.arrays(d, hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5)))


@given(data=st.data())
def test_idx_reader_fuzz(tmp_path, data):
    arr = data.draw(IDX_ARRAYS, label="array")
    raw = idx_bytes(arr)
    random_header = data.draw(st.booleans(), label="random header")
    if random_header:
        ndim = data.draw(st.integers(0, 6))
        dims = data.draw(st.lists(st.integers(0, 2**32 - 1), min_size=ndim, max_size=ndim))
        raw = (struct.pack(">BBBB", 0, 0, data.draw(st.sampled_from([8, 9, 11, 12, 13, 14, 1])),
                           ndim) + struct.pack(f">{ndim}I", *dims)
               + data.draw(st.binary(max_size=64)))
    gz = data.draw(st.booleans(), label="gzip")
    if gz and data.draw(st.booleans(), label="damage before compressing"):
        raw, how = _damage(data.draw, raw, None)
        raw = gzip.compress(raw)
    else:
        raw = gzip.compress(raw) if gz else raw
        raw, how = _damage(data.draw, raw, None)
    path = tmp_path / "fuzz-idx"
    path.write_bytes(raw)
    outcome = run_bounded(lambda: read_idx(path), summarise=lambda a: a)
    assert outcome.how in ("returned", "raised"), f"{how}: {outcome}"
    if outcome.how == "raised":
        assert outcome.minitl, f"{how}: {outcome}"
        return
    got = outcome.value
    assert got.dtype in IDX_CODES and got.dtype.isnative
    if how == "none" and not random_header:  # an intact file loads exactly
        assert _same(got, arr)


# ---------------------------------------------------------------- zoo entries


def _zoo_summary(found):
    if found is None:
        return None
    state, meta = found
    return {k: np.asarray(v) for k, v in state.items()}, meta


@given(data=st.data())
def test_zoo_entry_fuzz(tmp_path, data):
    root = tmp_path / "zoo"
    state = data.draw(st.dictionaries(NAMES, ARRAYS, min_size=1, max_size=2), label="state")
    config = {"seed": data.draw(st.integers(0, 9))}
    path = zoo.store("task/model", state, {"note": "x"}, config=config, root=root)
    damaged, how = _damage(data.draw, path.read_bytes(), JSON)
    path.write_bytes(damaged)

    loaded = run_bounded(lambda: zoo.load("task/model", root=root), summarise=_zoo_summary)
    listed = run_bounded(lambda: zoo.list(root=root), summarise=lambda v: v)
    assert listed.how == "returned", f"{how}: {listed}"
    assert [e["name"] for e in listed.value] == ["task/model"]
    found = run_bounded(lambda: zoo.lookup("task/model", config, root=root),
                        summarise=_zoo_summary)
    assert found.how == "returned", f"{how}: {found}"
    if loaded.how == "raised":
        assert loaded.minitl, f"{how}: {loaded}"
        assert "error" in listed.value[0]
        assert found.value is None and not path.exists()  # set aside for retraining
        return
    assert loaded.how == "returned", f"{how}: {loaded}"
    for value in (loaded.value, found.value):
        arrays, meta = value
        assert set(arrays) == set(state) and meta["note"] == "x" and meta["config"] == config
        for name in state:
            assert _same(arrays[name], np.asarray(state[name])), (how, name)
