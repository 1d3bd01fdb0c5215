"""Run a Python module, script or ``-c`` command with the device double installed as
``cupy``: a dry run, on a machine without a GPU, of what a GPU machine would run.

    python tests/device_double/run.py -m demos.parity --device cuda --quick --jobs 1

Only this process sees the double: worker processes (``--jobs`` > 1) import the real
CuPy or none, so dry runs use ``--jobs 1``.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), os.getcwd()]  # tests/, the checkout

import device_double  # noqa: E402 (after the path)

device_double.install()
if len(sys.argv) < 2:
    raise SystemExit(__doc__)
if sys.argv[1] == "-m":
    sys.argv = sys.argv[2:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
elif sys.argv[1] in ("-c", "-"):
    code = sys.argv[2] if sys.argv[1] == "-c" else sys.stdin.read()
    sys.argv = [sys.argv[1], *sys.argv[3:]]
    exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
else:
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
