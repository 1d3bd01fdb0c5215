"""Checks every demo makes on its command line before doing any work.

A demo that trains for minutes and then finds it cannot write its results, or that
meets a missing GPU library deep inside the first step, wastes the run and prints a
long traceback. These checks run first and end the program with one line saying what
is wrong and how to fix it (``SystemExit`` with a message: exit status 1).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from minitl import backend
from minitl.errors import DeviceError


def output_folder(path) -> Path:
    """Create ``path`` if needed and prove it writable (a file is written and removed)."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SystemExit(f"error: --out {os.fspath(path)}: cannot write results there "
                         f"({reason})") from None
    return folder


def usable_device(device: str) -> str:
    """``device`` ('cpu' or 'cuda') if this machine can run on it; else a one-line exit."""
    try:
        device = backend.normalize_device(device)
        if device == "cuda":
            backend.require_cupy()
    except DeviceError as exc:
        raise SystemExit(f"error: --device {device}: {' '.join(str(exc).split())}") from None
    return device
