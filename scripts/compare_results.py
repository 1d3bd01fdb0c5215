"""Compare two experiment results (results.json files, or folders of them) field by field.

    python scripts/compare_results.py OLD NEW [--ignore KEY ...] [--show 20]

OLD and NEW are two results.json files, or two folders: every results.json under OLD
(``out/parity/results.json``, ...) is compared with the file at the same relative path
under NEW, and a file on one side only is a difference. Values must be equal exactly:
floats bit for bit (JSON writes the shortest repr that reads back as the same double;
NaN equals NaN here), the same keys, the same list lengths, the same types.

Ignored everywhere (at any depth): what a rerun may change without any result moving, the
timings (``timings``, ``seconds``, ``seed_seconds``, ``wall_seconds``,
``wall_seconds_with_report``) and ``from_zoo`` (whether a source was trained in this run
or loaded from the model zoo). ``--ignore`` adds keys.

Prints each difference as a path (``parity/results.json: runs[3].test_acc: 0.81 != 0.82``)
and exits 1 if there is any, 0 if every compared field is identical.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

IGNORED = frozenset({"timings", "seconds", "seed_seconds", "wall_seconds",
                     "wall_seconds_with_report", "from_zoo"})


def differences(old, new, ignored=IGNORED, path: str = ""):
    """Yield ``(path, old_value, new_value)`` for every field where ``old`` and ``new``
    differ, keys in ``ignored`` skipped at any depth."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            if key in ignored:
                continue
            where = f"{path}.{key}" if path else str(key)
            if key not in old or key not in new:
                yield where, old.get(key, "<absent>"), new.get(key, "<absent>")
            else:
                yield from differences(old[key], new[key], ignored, where)
    elif isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            yield f"{path} (length)", len(old), len(new)
        for i, (a, b) in enumerate(zip(old, new)):
            yield from differences(a, b, ignored, f"{path}[{i}]")
    elif type(old) is not type(new):
        yield f"{path} (type)", old, new
    elif isinstance(old, float):
        if not (old == new or (math.isnan(old) and math.isnan(new))):
            yield path, old, new
    elif old != new:
        yield path, old, new


def _pairs(old: Path, new: Path):
    """``(name, old file or None, new file or None)`` for the results files to compare."""
    if old.is_file() or new.is_file():
        return [(new.name, old if old.is_file() else None, new if new.is_file() else None)]
    names = sorted({p.relative_to(root).as_posix() for root in (old, new)
                    for p in root.rglob("results.json")})
    return [(n, old / n if (old / n).is_file() else None, new / n if (new / n).is_file()
             else None) for n in names]


def compare(old: Path, new: Path, ignored=IGNORED) -> list[tuple[str, object, object]]:
    """Every difference between the results under ``old`` and ``new``, as
    ``(file: path, old value, new value)``."""
    found = []
    pairs = _pairs(old, new)
    if not pairs:
        found.append((f"{old} / {new}", "no results.json", "no results.json"))
    for name, a, b in pairs:
        if a is None or b is None:
            found.append((name, "present" if a else "<missing>", "present" if b else "<missing>"))
            continue
        data_a = json.loads(a.read_text(encoding="utf-8"))
        data_b = json.loads(b.read_text(encoding="utf-8"))
        found += [(f"{name}: {p}", x, y) for p, x, y in differences(data_a, data_b, ignored)]
    return found


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("old", type=Path)
    p.add_argument("new", type=Path)
    p.add_argument("--ignore", nargs="*", default=[], help="more keys to ignore")
    p.add_argument("--show", type=int, default=20, help="differences printed (default 20)")
    args = p.parse_args(argv)
    for root in (args.old, args.new):
        if not root.exists():
            p.error(f"{root} does not exist")
    found = compare(args.old, args.new, IGNORED | set(args.ignore))
    for where, a, b in found[:args.show]:
        print(f"{where}: {str(a)[:80]} != {str(b)[:80]}")
    files = len(_pairs(args.old, args.new))
    if found:
        print(f"{len(found)} differences in {files} results file(s)")
        return 1
    print(f"identical: {files} results file(s), every field but timings and from_zoo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
