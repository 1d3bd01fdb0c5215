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
  intact and no temporary file behind; the temporary file of a save that was
  killed outright (SIGKILL, power loss) carries its process id and is removed by
  the next save to the same path once that process is gone. A new file gets the
  permissions the process umask allows (as ``open`` would); an existing one keeps
  its own. Saving to a symbolic link writes through it, to the file it points at.
  File-system errors name the destination, not the temporary file.
* **Loud failures.** A missing, truncated or corrupted file raises
  :class:`~minitl.errors.CheckpointError` naming the file and the fault, never a
  wrong array.
* **Verified when it is minitl's.** Files written by minitl carry a SHA-256 digest
  (metadata key ``minitl_sha256``) of every tensor's name, dtype, shape and bytes
  *and* of all the other metadata, so a flipped bit in the weights or an edited
  metadata value is caught. A file whose metadata has any ``minitl_``-prefixed key
  is minitl's, and it loads only if its digest is there and matches: a missing,
  renamed or wrong digest is a CheckpointError, whatever the caller passes.
* **Other tools' files load.** safetensors is an interchange format: a file with no
  ``minitl_`` key at all (``safetensors.torch.save_file``, ``safetensors.numpy``)
  loads by default, unverified, since there is no digest to check it by. The digest
  is an integrity check for minitl's own files, not a security boundary: whoever can
  edit a file can recompute a SHA-256, and the format cannot carry code either way.
  :func:`load_metadata` tells the two apart: the metadata of a verified file always
  includes ``minitl_version``; an unverified file's never does. Callers that want
  verified files only (the model zoo) pass ``require_digest=True``, which refuses
  a file without a digest.
* **Bounded reads.** Only regular files are read (a FIFO, a device or a folder is
  refused at once, never waited on); the header may hold at most
  ``MAX_HEADER_BYTES`` bytes and ``MAX_TENSORS`` tensors, and deeply nested JSON
  is refused, so a hostile header cannot exhaust memory or the stack.

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
import re
import struct
import tempfile
from collections.abc import Mapping

import numpy as np

from . import backend
from ._files import open_regular
from .errors import CheckpointError, DTypeError

__all__ = ["MAX_HEADER_BYTES", "MAX_TENSORS", "load", "load_metadata", "load_with_metadata",
           "save"]

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

#: The largest header minitl reads (safetensors allows 100 MB; a header describing
#: 10,000 tensors takes about 1 MB).
MAX_HEADER_BYTES = 8 * 2**20
#: The most tensors (JSON objects, in fact) a header may describe.
MAX_TENSORS = 50_000
_JSON_KEYS = "minitl_json_keys"
_DIGEST_KEY = "minitl_sha256"
_VERSION_KEY = "minitl_version"
_INTERNAL_KEYS = (_JSON_KEYS, _DIGEST_KEY)
#: Metadata keys with this prefix mark a file as minitl's: it must then carry a valid digest.
_MINITL_PREFIX = "minitl_"


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


def _digest(tensors, metadata: Mapping[str, str]) -> str:
    """SHA-256 over every tensor and every metadata entry but the digest itself.

    ``tensors`` yields ``(name, dtype name, shape, chunks)`` in name order, where
    ``chunks`` yields the tensor's little-endian bytes; each tensor contributes its
    name, dtype, shape and bytes, then the metadata contributes its sorted items.
    """
    h = hashlib.sha256()
    for name, dtype_name, shape, chunks in tensors:
        h.update(json.dumps([name, dtype_name, list(shape)]).encode() + b"\0")
        for chunk in chunks:
            h.update(chunk)
    entries = sorted((k, v) for k, v in metadata.items() if k != _DIGEST_KEY)
    h.update(b"\0metadata\0" + json.dumps(entries).encode())
    return h.hexdigest()


def _array_tensors(arrays: Mapping[str, np.ndarray]):
    """What :func:`_digest` reads, from arrays about to be saved."""
    for name in sorted(arrays):
        array = arrays[name]
        little = array.astype(array.dtype.newbyteorder("<"), copy=False)
        data = np.ascontiguousarray(little).reshape(-1).view(np.uint8).data
        yield name, _NAMES[array.dtype.newbyteorder("=")], array.shape, (data,)


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
    header_metadata[_DIGEST_KEY] = _digest(_array_tensors(arrays), header_metadata)
    payload = safetensors.numpy.save(arrays, metadata=header_metadata)
    where = os.fspath(path)
    try:
        _write_atomically(os.path.realpath(where), payload)
    except OSError as exc:  # name the destination, not the temporary file
        message = f"save: cannot write checkpoint {where!r}: {exc.strerror or exc}"
        if exc.errno is None:
            raise type(exc)(message) from None
        raise type(exc)(exc.errno, message) from None


def _umask() -> int:
    """The process umask, read without changing it where Linux allows."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, hence last)
    os.umask(mask)
    return mask


def _remove_abandoned_temporaries(folder: str, base: str) -> None:
    """Delete the temporary files of saves to ``base`` whose process no longer exists.

    Each temporary file is named ``.<base>.<pid>.<random>.tmp``; a live process's file
    (another writer, mid-save) is left alone.
    """
    pattern = re.compile(rf"^\.{re.escape(base)}\.(\d+)\.\w+\.tmp$")
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        match = pattern.match(name)
        if match is None or _process_exists(int(match.group(1))):
            continue
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            pass


def _process_exists(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process, or a pid we cannot judge: keep its file
    return True


def _write_atomically(path: str, payload: bytes) -> None:
    folder, base = os.path.split(os.path.abspath(path))
    try:  # keep an existing file's permissions; mkstemp's own 0600 would hide a new one
        mode = os.stat(path).st_mode & 0o777
    except OSError:
        mode = 0o666 & ~_umask()
    _remove_abandoned_temporaries(folder, base)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{base}.{os.getpid()}.", suffix=".tmp")
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


class _TooManyObjects(Exception):
    pass


def _json_object_counter():
    """An ``object_pairs_hook`` refusing duplicate keys and more than MAX_TENSORS objects.

    Counting as objects complete stops a header of a million entries long before a
    million dicts exist.
    """
    count = 0

    def hook(pairs):
        nonlocal count
        count += 1
        if count > MAX_TENSORS + 2:  # the header itself and __metadata__
            raise _TooManyObjects
        out = {}
        for key, value in pairs:
            if key in out:
                raise ValueError(f"duplicate key {key!r}")
            out[key] = value
        return out

    return hook


def _parse_header(where: str, text: bytes, buffer_len: int) -> tuple[dict, dict]:
    """Check the header against a data buffer of ``buffer_len`` bytes: (entries, metadata)."""

    def fail(problem):
        return CheckpointError(f"checkpoint {where!r}: {problem}")

    try:
        header = json.loads(text.decode("utf-8"), object_pairs_hook=_json_object_counter())
    except _TooManyObjects:
        raise fail(f"the header describes more than {MAX_TENSORS} tensors, the most minitl "
                   "reads (corrupted or hostile file?)") from None
    except RecursionError:
        raise fail("the header is not valid JSON (nested too deeply)") from None
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

    spans = []
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise fail(f"tensor {name!r}: the entry must have exactly dtype, shape and "
                       f"data_offsets, got {_short(entry)}")
        dtype_name, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype_name, str):
            raise fail(f"tensor {name!r}: dtype {_short(dtype_name)} is not a string naming "
                       f"a dtype ({', '.join(_DTYPES)})")
        if dtype_name == "BF16":
            raise fail(f"tensor {name!r} is bfloat16, which NumPy (and so minitl) cannot "
                       "represent; convert it to float32 before saving (tensor.float())")
        if dtype_name not in _DTYPES:
            raise fail(f"tensor {name!r} has dtype {_short(dtype_name)}, not one minitl "
                       f"supports ({', '.join(_DTYPES)})")
        if not isinstance(shape, list) or not all(
                type(s) is int and s >= 0 for s in shape):
            raise fail(f"tensor {name!r}: shape {_short(shape)} is not a list of sizes")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(type(o) is int for o in offsets)):
            raise fail(f"tensor {name!r}: data_offsets {_short(offsets)} is not a pair of "
                       "integers")
        begin, end = offsets
        if not 0 <= begin <= end <= buffer_len:
            raise fail(f"tensor {name!r}: bytes {begin}..{end} lie outside the "
                       f"{buffer_len}-byte data buffer (truncated file?)")
        expected = _DTYPES[dtype_name].itemsize * math.prod(shape)
        if end - begin != expected:
            raise fail(f"tensor {name!r}: {end - begin} bytes for {dtype_name} of shape "
                       f"{_short(tuple(shape))}, which needs {_short(expected)}")
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
    return header, metadata


def _short(value, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters (a hostile header can be megabytes)."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**30 else "a huge number"
    return text if len(text) <= limit else text[:limit] + "..."


def _read_exactly(f, n: int, where: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise CheckpointError(f"checkpoint {where!r}: the file ended after {len(data)} of the "
                              f"{n} bytes expected (truncated, or changed while being read)")
    return data


def _read_checkpoint(path, want_arrays: bool, require_digest: bool):
    """``(where, arrays or None, raw metadata)``, validated and, if it has one, verified."""
    where = os.fspath(path)
    try:
        f, size = open_regular(where, CheckpointError, "checkpoint")
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {where!r}: no such file") from None
    except IsADirectoryError:
        raise CheckpointError(f"checkpoint {where!r}: is a directory, not a file") from None
    except OSError as exc:
        raise CheckpointError(f"checkpoint {where!r}: cannot be read ({exc})") from None
    with f:
        try:
            return _read_open_checkpoint(f, size, where, want_arrays, require_digest)
        except OSError as exc:  # an I/O error mid-read
            raise CheckpointError(f"checkpoint {where!r}: cannot be read ({exc})") from None


def _read_open_checkpoint(f, size, where, want_arrays, require_digest):
    if size < 8:
        raise CheckpointError(f"checkpoint {where!r}: only {size} bytes, too short for the "
                              "8-byte header length (empty or truncated file)")
    (n,) = struct.unpack("<Q", _read_exactly(f, 8, where))
    if n > MAX_HEADER_BYTES:
        raise CheckpointError(f"checkpoint {where!r}: header length {n} is implausibly large "
                              f"(minitl reads headers of up to {MAX_HEADER_BYTES} bytes; "
                              "corrupted file?)")
    if 8 + n > size:
        raise CheckpointError(f"checkpoint {where!r}: header length {n} runs past the end of "
                              f"the {size}-byte file (truncated file?)")
    text = _read_exactly(f, n, where)
    buffer_len = size - 8 - n
    entries, metadata = _parse_header(where, text, buffer_len)
    order = sorted(entries)

    def described(chunks_of):
        for name in order:
            entry = entries[name]
            yield name, entry["dtype"], entry["shape"], chunks_of(*entry["data_offsets"])

    arrays = None
    if want_arrays:
        buffer = _read_exactly(f, buffer_len, where)
        arrays = _arrays(where, struct.pack("<Q", n) + text + buffer, entries)
        view = memoryview(buffer)
        tensors = described(lambda begin, end: (view[begin:end],))
    else:
        def chunks_of(begin, end, step=2**20):
            f.seek(8 + n + begin)
            for start in range(begin, end, step):
                yield _read_exactly(f, min(step, end - start), where)

        tensors = described(chunks_of)
    expected = metadata.get(_DIGEST_KEY)
    if expected is None:
        ours = sorted(k for k in metadata if k.startswith(_MINITL_PREFIX))
        if ours:
            raise CheckpointError(
                f"checkpoint {where!r}: its metadata has minitl's keys ({', '.join(ours)}) "
                f"but no {_DIGEST_KEY!r} digest, so it is a minitl file whose digest was "
                "removed or renamed and its contents cannot be verified")
        if require_digest:
            raise CheckpointError(
                f"checkpoint {where!r}: has no {_DIGEST_KEY!r} digest, so its contents cannot "
                "be verified (written by another tool), and the caller asked for verified "
                "files only (require_digest=True)")
    elif _digest(tensors, metadata) != expected:
        raise CheckpointError(
            f"checkpoint {where!r}: its tensors or metadata do not match the SHA-256 digest "
            "recorded when the file was saved (corrupted data, an edited header, or a file "
            "from a minitl version whose digest covered the tensors only)")
    return where, arrays, metadata


def _arrays(where: str, raw: bytes, entries: dict) -> dict[str, np.ndarray]:
    """The tensors of a validated file, read by safetensors and checked against the header."""
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
    return arrays


def _decode_metadata(where: str, metadata: dict) -> dict:
    as_json = []
    if _JSON_KEYS in metadata:
        try:
            as_json = json.loads(metadata[_JSON_KEYS])
        except (ValueError, RecursionError):
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
            except (ValueError, RecursionError):
                raise CheckpointError(f"checkpoint {where!r}: metadata {key!r} should be "
                                      f"JSON but is {_short(value)}") from None
        decoded[key] = value
    return decoded


def load(path, *, require_digest: bool = False) -> dict[str, np.ndarray]:
    """Read a safetensors file into ``{name: np.ndarray}`` (host arrays, writable copies).

    Feed the result to ``model.load_state_dict`` (``strict=False`` to take a
    body without its head). Loads minitl's files (verified by their digest) and other
    tools' files (``safetensors.torch.save_file``, ``safetensors.numpy.save_file``:
    no ``minitl_`` metadata, so nothing to verify them by). Raises CheckpointError
    when the file is missing, not a regular file, truncated or corrupted, holds a
    dtype NumPy lacks (bfloat16), carries minitl's metadata with a missing or
    mismatched digest, or, with ``require_digest=True``, has no digest at all.
    """
    return _read_checkpoint(path, True, require_digest)[1]


def load_metadata(path, *, require_digest: bool = False) -> dict:
    """The metadata saved with a checkpoint, with JSON-encoded values decoded.

    A file minitl wrote is verified by its digest, and its metadata always includes
    ``minitl_version``; minitl's bookkeeping keys (``minitl_json_keys``,
    ``minitl_sha256``) are left out. A file from another tool is unverified, and its
    metadata (plain strings, maybe none) has no ``minitl_version``: that absence is
    how to tell. The file is validated and verified as by :func:`load`, with the same
    ``require_digest``, but its tensors are only hashed, in pieces, never held whole.
    """
    where, _, metadata = _read_checkpoint(path, False, require_digest)
    return _decode_metadata(where, metadata)


def load_with_metadata(path, *, require_digest: bool = False) -> tuple[dict, dict]:
    """``(load(path), load_metadata(path))`` from a single read of the file.

    Two separate calls read the file twice, and a save in between would pair the
    tensors of one version with the metadata of another; this cannot.
    """
    where, arrays, metadata = _read_checkpoint(path, True, require_digest)
    return arrays, _decode_metadata(where, metadata)
