"""The model zoo: every trained model can become a future source model.

A zoo is a folder of checkpoints (safetensors files, see :mod:`minitl.checkpoint`),
each with metadata saying what it is: the source task, the data seed, its
accuracy, and a ``config`` fingerprint of everything that shaped it. The
experiments save their pretrained source models here and reuse them when the
same configuration asks again, so running a demo twice pretrains once.

The folder is ``$MINITL_ZOO`` if set, else ``~/.cache/minitl/zoo``; every
function also takes ``root=``.

An entry is reused only if it was made by the same configuration *and the same
library*: the fingerprint covers the config, minitl's version and a digest of
minitl's source files, so a model trained by older code is never taken for a new
one. :func:`lookup` is the "load it or train it again" step: it returns a usable
entry or None, and an entry that fails to load (a flipped byte, a truncated file)
is reported with a warning and set aside (renamed ``*.safetensors.corrupt``) so
that the caller retrains it. The zoo holds minitl's own files only: every read passes
``require_digest=True``, so a file without minitl's digest (one copied in from another
tool) counts as not loading. Names are paths of simple parts, ``task/model-seed0``:
letters, digits, ``.``, ``_``, ``-``, ``+`` and ``=``, each part starting with a
letter or digit, at most 200 characters in all.

    >>> import minitl
    >>> minitl.zoo.list()                      # what is there
    >>> state, meta = minitl.zoo.load("parity/thermometer-seed0")
    >>> model.load_state_dict(state)
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import re
import warnings
from pathlib import Path

from .checkpoint import load_metadata, load_with_metadata, save
from .errors import CheckpointError

SUFFIX = ".safetensors"
CORRUPT_SUFFIX = ".corrupt"
MAX_NAME = 200
_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]*")


def root_folder(root=None) -> Path:
    """The zoo folder: ``root``, else ``$MINITL_ZOO``, else ``~/.cache/minitl/zoo``."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get("MINITL_ZOO", Path.home() / ".cache" / "minitl" / "zoo"))


def _source_digest(folder) -> str:
    """SHA-256 over the path and bytes of every ``.py`` file under ``folder``, in path order."""
    folder = Path(folder)
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        h.update(path.relative_to(folder).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def library_identity() -> dict:
    """The minitl that is running: its version and a digest of its source files."""
    import minitl

    return {"minitl_version": str(minitl.__version__),
            "minitl_source": _source_digest(Path(__file__).parent)}


def fingerprint(config) -> str:
    """A short hash of a JSON-able configuration *and of the library running it*: equal
    configs under the same minitl version and source give equal fingerprints."""
    text = json.dumps({"config": config, "library": library_identity()}, sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _path(name, root) -> Path:
    """The file of entry ``name``, after checking the name is a safe relative path."""
    problem = None
    if not isinstance(name, str):
        problem = f"must be a string, got {type(name).__name__}"
    elif not 0 < len(name) <= MAX_NAME:
        problem = f"must have 1 to {MAX_NAME} characters, it has {len(name)}"
    elif not all(_PART.fullmatch(part) for part in name.split("/")):
        problem = ("must be parts joined by '/', each of letters, digits, '.', '_', '-', '+' "
                   "or '=' and starting with a letter or digit (no '.', '..', empty parts, "
                   "NUL or backslashes)")
    if problem:
        shown = repr(name) if len(repr(name)) <= 60 else repr(name)[:60] + "..."
        raise CheckpointError(f"zoo: invalid model name {shown}: the name {problem} "
                              "(use names like 'task/model-seed0')")
    return root_folder(root) / (name + SUFFIX)


def store(name: str, state_dict, metadata=None, config=None, root=None) -> Path:
    """Save a model's state dict under ``name`` with its metadata (and config fingerprint)."""
    path = _path(name, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(metadata or {})
    if config is not None:
        meta["config"] = config
        meta["fingerprint"] = fingerprint(config)
        meta["library"] = library_identity()
    save(state_dict, path, metadata=meta)
    return path


def contains(name: str, config=None, root=None) -> bool:
    """True if ``name`` is in the zoo (and, when ``config`` is given, was made by that config)."""
    path = _path(name, root)
    if not path.exists():
        return False
    if config is None:
        return True
    try:
        return load_metadata(path, require_digest=True).get("fingerprint") == fingerprint(config)
    except CheckpointError:
        return False


def load(name: str, root=None):
    """``(state_dict, metadata)`` of the model saved under ``name``, from one read of its
    file (so a concurrent :func:`store` cannot pair one version's weights with another's
    metadata). Raises CheckpointError if it is missing or does not load."""
    path = _path(name, root)
    if not path.exists():
        raise CheckpointError(f"zoo: no model named {name!r} in {root_folder(root)} "
                              f"(minitl.zoo.list() shows what is there)")
    return load_with_metadata(path, require_digest=True)


def lookup(name: str, config, root=None):
    """``(state_dict, metadata)`` of entry ``name`` if it was made by ``config`` (and this
    library), else None: the caller then trains the model and :func:`store` s it.

    An entry that exists but does not load (corrupted, truncated, not a regular file)
    is not an error here: a RuntimeWarning reports it, the file is set aside as
    ``<name>.safetensors.corrupt`` (replacing an older one) for inspection, and None is
    returned so that the model is trained again.
    """
    path = _path(name, root)
    if not os.path.lexists(path):
        return None
    try:
        state, meta = load_with_metadata(path, require_digest=True)
    except CheckpointError as exc:
        aside = path.with_name(path.name + CORRUPT_SUFFIX)
        try:
            os.replace(path, aside)
            where = f"set aside as {aside}"
        except OSError as move_error:
            where = f"could not be set aside ({move_error})"
        warnings.warn(f"zoo: entry {name!r} does not load and will be trained again; it was "
                      f"{where}. The problem: {exc}", RuntimeWarning, stacklevel=2)
        return None
    return (state, meta) if meta.get("fingerprint") == fingerprint(config) else None


def list(root=None) -> builtins.list[dict]:  # shadows list() here on purpose: zoo.list()
    """Every model in the zoo, sorted by name: ``[{"name": ..., **metadata}, ...]``."""
    folder = root_folder(root)
    if not folder.exists():
        return []
    entries = []
    for path in sorted(folder.rglob("*" + SUFFIX)):
        name = path.relative_to(folder).as_posix()[: -len(SUFFIX)]
        try:
            meta = load_metadata(path, require_digest=True)
        except CheckpointError as exc:
            meta = {"error": str(exc)}
        entries.append({"name": name, **meta})
    return entries
