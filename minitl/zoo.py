"""The model zoo: every trained model can become a future source model.

A zoo is a folder of checkpoints (safetensors files, see :mod:`minitl.checkpoint`),
each with metadata saying what it is: the source task, the data seed, its
accuracy, and a ``config`` fingerprint of everything that shaped it. The
experiments save their pretrained source models here and reuse them when the
same configuration asks again, so running a demo twice pretrains once.

The folder is ``$MINITL_ZOO`` if set, else ``~/.cache/minitl/zoo``; every
function also takes ``root=``.

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
from pathlib import Path

from .checkpoint import load as _load_checkpoint
from .checkpoint import load_metadata, save
from .errors import CheckpointError

SUFFIX = ".safetensors"


def root_folder(root=None) -> Path:
    """The zoo folder: ``root``, else ``$MINITL_ZOO``, else ``~/.cache/minitl/zoo``."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get("MINITL_ZOO", Path.home() / ".cache" / "minitl" / "zoo"))


def fingerprint(config) -> str:
    """A short hash of a JSON-able configuration: equal configs, equal fingerprints."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _path(name: str, root) -> Path:
    if not name or name.startswith("/") or ".." in Path(name).parts:
        raise CheckpointError(f"zoo: invalid model name {name!r} (use names like 'task/model')")
    return root_folder(root) / (name + SUFFIX)


def store(name: str, state_dict, metadata=None, config=None, root=None) -> Path:
    """Save a model's state dict under ``name`` with its metadata (and config fingerprint)."""
    path = _path(name, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(metadata or {})
    if config is not None:
        meta["config"] = config
        meta["fingerprint"] = fingerprint(config)
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
        return load_metadata(path).get("fingerprint") == fingerprint(config)
    except CheckpointError:
        return False


def load(name: str, root=None):
    """``(state_dict, metadata)`` of the model saved under ``name``."""
    path = _path(name, root)
    if not path.exists():
        raise CheckpointError(f"zoo: no model named {name!r} in {root_folder(root)} "
                              f"(minitl.zoo.list() shows what is there)")
    return _load_checkpoint(path), load_metadata(path)


def list(root=None) -> builtins.list[dict]:  # noqa: A001 - minitl.zoo.list() reads naturally
    """Every model in the zoo, sorted by name: ``[{"name": ..., **metadata}, ...]``."""
    folder = root_folder(root)
    if not folder.exists():
        return []
    entries = []
    for path in sorted(folder.rglob("*" + SUFFIX)):
        name = path.relative_to(folder).as_posix()[: -len(SUFFIX)]
        try:
            meta = load_metadata(path)
        except CheckpointError as exc:
            meta = {"error": str(exc)}
        entries.append({"name": name, **meta})
    return entries
