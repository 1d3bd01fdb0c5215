"""Save and load weights as safetensors files, atomically, with validation.

A checkpoint is a flat ``{name: array}`` dict (a ``model.state_dict()``) plus a
little metadata. The file format is safetensors, the one Hugging Face and
PyTorch users share, so weights move between minitl and PyTorch by key name
(``"0.weight"``, ``"head.bias"``, ...)::

    minitl.save(model.state_dict(), "source.safetensors",
                metadata={"architecture": "mlp-64-64", "source_task": "magnitude",
                          "metrics": {"accuracy": 0.97}})
    weights = minitl.load("source.safetensors")      # {name: np.ndarray}
    info = minitl.load_metadata("source.safetensors")  # {"architecture": ..., ...}

The format, which this module checks itself before trusting a file::

    8 bytes     N, the header length, an unsigned little-endian integer
    N bytes     JSON: {name: {"dtype": "F32", "shape": [..], "data_offsets": [b, e]},
                       "__metadata__": {str: str}}   (maybe padded with spaces)
    the rest    the data buffer; tensor `name` is bytes b..e of it, little-endian

Guarantees:

* **No pickle.** Only raw numbers are stored; loading a file cannot run code.
* **Atomic writes.** ``save`` writes a temporary file in the target's folder,
  flushes and fsyncs it, then renames it over the target (``os.replace``) and
  fsyncs the folder. A crash or an exception mid-save leaves the old checkpoint
  intact and no temporary file behind.
* **Loud failures.** A missing, truncated or corrupted file raises
  :class:`~minitl.errors.CheckpointError` naming the file and the fault, never a
  wrong array. Files written by minitl also carry a SHA-256 digest of every
  tensor's name, dtype, shape and bytes (metadata key ``minitl_sha256``), so a
  flipped bit in the weights is caught too.

Metadata values in safetensors are strings. Strings are stored as they are;
any other value (numbers, lists, dicts) is stored as JSON and decoded again by
:func:`load_metadata` (the names of those keys are kept under
``minitl_json_keys``). ``minitl_version`` is always recorded.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import tempfile
from collections.abc import Mapping

import numpy as np

from . import backend
from .errors import CheckpointError, DTypeError

__all__ = ["load", "load_metadata", "save"]

# safetensors dtype names <-> NumPy dtypes (the ones NumPy and PyTorch share).
_DTYPES = {
    "F16": np.dtype(np.float16),
    "F32": np.dtype(np.float32),
    "F64": np.dtype(np.float64),
    "I8": np.dtype(np.int8),
    "I16": np.dtype(np.int16),
    "I32": np.dtype(np.int32),
    "I64": np.dtype(np.int64),
    "U8": np.dtype(np.uint8),
    "BOOL": np.dtype(np.bool_),
}
_NAMES = {dtype: name for name, dtype in _DTYPES.items()}

_MAX_HEADER = 100_000_000  # the limit safetensors itself applies
_JSON_KEYS = "minitl_json_keys"
_DIGEST_KEY = "minitl_sha256"
_VERSION_KEY = "minitl_version"
_INTERNAL_KEYS = (_JSON_KEYS, _DIGEST_KEY)


# --------------------------------------------------------------------------
# save
# --------------------------------------------------------------------------


def _minitl_version() -> str:
    try:
        import minitl

        return str(minitl.__version__)
    except (ImportError, AttributeError):  # pragma: no cover - a half-imported package
        try:
            from importlib.metadata import version

            return version("minitl")
        except Exception:
            return "unknown"


def _host_array(name: str, value) -> np.ndarray:
    """``value`` (a Tensor, NumPy or CuPy array, or number) as a C-contiguous host array."""
    from .autograd import Tensor

    if isinstance(value, Tensor):
        value = value.data
    array = np.asarray(backend.to_numpy(value), order="C")  # keeps 0-d shapes
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    if array.dtype.newbyteorder("=") not in _NAMES:
        raise DTypeError(
            f"save: tensor {name!r} has dtype {array.dtype}, which a checkpoint cannot hold; "
            f"supported: {', '.join(str(d) for d in _NAMES)}"
        )
    return array


def _digest(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over each tensor's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        array = arrays[name]
        described = json.dumps([name, _NAMES[array.dtype.newbyteorder("=")], list(array.shape)])
        h.update(described.encode() + b"\0")
        h.update(np.asarray(array, order="C").reshape(-1).view(np.uint8).data)
    return h.hexdigest()


def _encode_metadata(metadata) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"save: metadata must be a dict, got {type(metadata).__name__}")
    encoded, as_json = {}, []
    for key, value in metadata.items():
        if not isinstance(key, str):
            raise TypeError(f"save: metadata keys must be strings, got {key!r}")
        if key in _INTERNAL_KEYS or key == _VERSION_KEY:
            raise ValueError(f"save: metadata key {key!r} is reserved for minitl")
        if isinstance(value, str):
            encoded[key] = value
        else:
            try:
                encoded[key] = json.dumps(value, allow_nan=True)
            except TypeError as exc:
                raise TypeError(f"save: metadata value for {key!r} is not JSON-serialisable "
                                f"({exc}); pass strings, numbers, lists or dicts") from None
            as_json.append(key)
    if as_json:
        encoded[_JSON_KEYS] = json.dumps(sorted(as_json))
    return encoded


def save(state_dict: Mapping, path, metadata: Mapping | None = None) -> None:
    """Write ``state_dict`` (``{name: Tensor or array}``) to ``path`` as safetensors, atomically.

    ``metadata`` is an optional dict of extra facts (architecture, source task,
    metrics); non-string values are stored as JSON. GPU arrays are copied to
    the host first. Supported dtypes: float16/32/64, int8/16/32/64, uint8, bool.
    Errors from the file system (a missing folder, a full disk) propagate as
    OSError, and the previous file at ``path``, if any, is left untouched.
    """
    import safetensors.numpy

    if not isinstance(state_dict, Mapping):
        raise TypeError(f"save: expected a dict of name -> array, got {type(state_dict).__name__}")
    arrays = {}
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"save: tensor names must be strings, got {name!r}")
        if name == "__metadata__":
            raise ValueError("save: '__metadata__' is reserved by the safetensors format")
        arrays[name] = _host_array(name, value)
    header_metadata = _encode_metadata(metadata)
    header_metadata[_VERSION_KEY] = _minitl_version()
    header_metadata[_DIGEST_KEY] = _digest(arrays)
    payload = safetensors.numpy.save(arrays, metadata=header_metadata)
    _write_atomically(os.fspath(path), payload)


def _write_atomically(path: str, payload: bytes) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    try:  # keep an existing file's permissions; mkstemp's own 0600 would hide a new one
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------
# load
# --------------------------------------------------------------------------


def _read_bytes(path) -> tuple[str, bytes]:
    where = os.fspath(path)
    try:
        with open(where, "rb") as f:
            return where, f.read()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {where!r}: no such file") from None
    except IsADirectoryError:
        raise CheckpointError(f"checkpoint {where!r}: is a directory, not a file") from None
    except OSError as exc:
        raise CheckpointError(f"checkpoint {where!r}: cannot be read ({exc})") from None


def _no_duplicates(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _parse_header(where: str, raw: bytes) -> tuple[dict, dict, int]:
    """Check the header against the file; return (entries, metadata, data start)."""

    def fail(problem):
        return CheckpointError(f"checkpoint {where!r}: {problem}")

    if len(raw) < 8:
        raise fail(f"only {len(raw)} bytes, too short for the 8-byte header length "
                   "(empty or truncated file)")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > _MAX_HEADER:
        raise fail(f"header length {n} is implausibly large (corrupted file?)")
    if 8 + n > len(raw):
        raise fail(f"header length {n} runs past the end of the {len(raw)}-byte file "
                   "(truncated file?)")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        raise fail(f"the header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise fail(f"the header is a JSON {type(header).__name__}, not an object")

    metadata = header.pop("__metadata__", {})
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise fail("__metadata__ must map strings to strings")

    buffer_len = len(raw) - 8 - n
    spans = []
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise fail(f"tensor {name!r}: the entry must have exactly dtype, shape and "
                       f"data_offsets, got {entry!r}")
        dtype_name, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype_name == "BF16":
            raise fail(f"tensor {name!r} is bfloat16, which NumPy (and so minitl) cannot "
                       "represent; convert it to float32 before saving (tensor.float())")
        if dtype_name not in _DTYPES:
            raise fail(f"tensor {name!r} has dtype {dtype_name!r}, not one minitl supports "
                       f"({', '.join(_DTYPES)})")
        if not isinstance(shape, list) or not all(
                type(s) is int and s >= 0 for s in shape):
            raise fail(f"tensor {name!r}: shape {shape!r} is not a list of sizes")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(type(o) is int for o in offsets)):
            raise fail(f"tensor {name!r}: data_offsets {offsets!r} is not a pair of integers")
        begin, end = offsets
        if not 0 <= begin <= end <= buffer_len:
            raise fail(f"tensor {name!r}: bytes {begin}..{end} lie outside the "
                       f"{buffer_len}-byte data buffer (truncated file?)")
        expected = _DTYPES[dtype_name].itemsize * math.prod(shape)
        if end - begin != expected:
            raise fail(f"tensor {name!r}: {end - begin} bytes for {dtype_name} of shape "
                       f"{tuple(shape)}, which needs {expected}")
        spans.append((begin, end, name))
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            what = "overlaps the previous one" if begin < position else "leaves a gap before it"
            raise fail(f"tensor {name!r} starts at byte {begin} of the data buffer and {what}")
        position = end
    if position != buffer_len:
        raise fail(f"the data buffer has {buffer_len} bytes but the tensors cover {position} "
                   "(trailing bytes: corrupted or wrongly concatenated file)")
    return header, metadata, 8 + n


def _read_checkpoint(path, verify: bool = True):
    where, raw = _read_bytes(path)
    entries, metadata, _ = _parse_header(where, raw)
    if not verify:
        return where, None, metadata
    import safetensors.numpy

    try:
        loaded = safetensors.numpy.load(raw)
    except BaseException as exc:  # SafetensorError, or a Rust panic (a BaseException)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise CheckpointError(f"checkpoint {where!r}: safetensors could not read it "
                              f"({type(exc).__name__}: {exc})") from None
    arrays = {}
    for name, entry in entries.items():
        if name not in loaded:
            raise CheckpointError(f"checkpoint {where!r}: tensor {name!r} is in the header "
                                  "but safetensors did not return it")
        array = loaded[name]
        dtype = _DTYPES[entry["dtype"]]
        if array.dtype.newbyteorder("=") != dtype or list(array.shape) != entry["shape"]:
            raise CheckpointError(f"checkpoint {where!r}: tensor {name!r} came back as "
                                  f"{array.dtype} {array.shape}, the header says "
                                  f"{entry['dtype']} {entry['shape']}")
        array = np.array(array, dtype=dtype, copy=True)  # native order, writable, not a view
        if dtype == np.bool_ and array.size and array.reshape(-1).view(np.uint8).max() > 1:
            raise CheckpointError(f"checkpoint {where!r}: bool tensor {name!r} holds bytes "
                                  "other than 0 and 1 (corrupted data)")
        arrays[name] = array
    if set(loaded) != set(arrays):
        raise CheckpointError(f"checkpoint {where!r}: safetensors returned tensors the header "
                              "does not list")
    expected = metadata.get(_DIGEST_KEY)
    if expected is not None and _digest(arrays) != expected:
        raise CheckpointError(f"checkpoint {where!r}: the tensors do not match the SHA-256 "
                              "digest recorded when the file was saved (corrupted data)")
    return where, arrays, metadata


def load(path) -> dict[str, np.ndarray]:
    """Read a safetensors file into ``{name: np.ndarray}`` (host arrays, writable copies).

    Feed the result to ``model.load_state_dict`` (``strict=False`` to take a
    body without its head). Raises CheckpointError when the file is missing,
    truncated or corrupted, or holds a dtype NumPy lacks (bfloat16).
    """
    return _read_checkpoint(path)[1]


def load_metadata(path) -> dict:
    """The metadata saved with a checkpoint, with JSON-encoded values decoded.

    Includes ``minitl_version`` for files minitl wrote; minitl's own
    bookkeeping keys (``minitl_json_keys``, ``minitl_sha256``) are left out.
    Files from other tools give their metadata as plain strings. The header is
    validated as by :func:`load` (the tensor data is not read into arrays).
    """
    where, _, metadata = _read_checkpoint(path, verify=False)
    as_json = []
    if _JSON_KEYS in metadata:
        try:
            as_json = json.loads(metadata[_JSON_KEYS])
        except ValueError:
            as_json = None
        if not isinstance(as_json, list):
            raise CheckpointError(f"checkpoint {where!r}: metadata {_JSON_KEYS!r} is not a "
                                  "JSON list")
    decoded = {}
    for key, value in metadata.items():
        if key in _INTERNAL_KEYS:
            continue
        if key in as_json:
            try:
                value = json.loads(value)
            except ValueError:
                raise CheckpointError(f"checkpoint {where!r}: metadata {key!r} should be "
                                      f"JSON but is {value!r}") from None
        decoded[key] = value
    return decoded
