"""Compare the claims of two ``make demo`` runs, e.g. one on a GPU and one on the CPU.

    python scripts/compare_verdicts.py out/gpu_check/cpu out/gpu_check/gpu

Reads ``parity``, ``animals_digits`` and ``layers_glyph`` (each ``results.json``) in both
folders, prints every claim's verdict and estimate side by side, and exits with status 1
if a verdict differs or a run is missing. The estimates may differ in the last digits (a
GPU sums in another order); the verdicts should not, unless an estimate sits on its
threshold.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

EXPERIMENTS = ("parity", "animals_digits", "layers_glyph")


def claims(folder: Path, experiment: str) -> tuple[dict, str]:
    path = folder / experiment / "results.json"
    results = json.loads(path.read_text(encoding="utf-8"))
    return {c["id"]: c for c in results["claims"]}, results.get("device", "cpu")


def verdict(claim) -> str:
    return {True: "PASS", False: "FAIL", None: "not decided"}[claim["passed"]]


def estimate(claim) -> str:
    return "—" if claim.get("estimate") is None else f"{claim['estimate']:+.4g}"


def main(argv=None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2:
        raise SystemExit("usage: python scripts/compare_verdicts.py REFERENCE_OUT OTHER_OUT")
    first, second = Path(args[0]), Path(args[1])
    differ = 0
    for experiment in EXPERIMENTS:
        try:
            (a, dev_a), (b, dev_b) = claims(first, experiment), claims(second, experiment)
        except FileNotFoundError as exc:
            print(f"{experiment}: missing ({exc.filename})")
            differ += 1
            continue
        print(f"\n{experiment}: {dev_a} ({first}) vs {dev_b} ({second})")
        for cid in sorted(set(a) | set(b)):
            if cid not in a or cid not in b:
                print(f"  {cid:34s} only in {'the first' if cid in a else 'the second'} run")
                differ += 1
                continue
            same = verdict(a[cid]) == verdict(b[cid])
            differ += not same
            print(f"  {cid:34s} {verdict(a[cid]):11s} {estimate(a[cid]):>10s}   "
                  f"{verdict(b[cid]):11s} {estimate(b[cid]):>10s}   "
                  f"{'same' if same else 'DIFFERENT'}")
    print(f"\n{differ} verdict(s) differ" if differ else "\nevery verdict is the same")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
