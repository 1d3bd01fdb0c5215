"""Time the procedural datasets: 60,000 samples of 28x28 each, on one BLAS thread.

Usage: ``python bench/bench_data.py [--n 60000] [--repeats 1] [--json out/bench_data.json]``.
Prints samples/second and seconds per dataset, and writes the numbers as a JSON fragment.
"""

import os

# One thread for BLAS/OpenMP, set before NumPy is imported (the generators are elementwise
# NumPy anyway, so this mostly keeps timings steady on a shared machine).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from minitl.data import animals, glyph_digits, two_digit_numbers  # noqa: E402

DATASETS = {
    "glyph_digits": glyph_digits,
    "two_digit_numbers": two_digit_numbers,
    "animals": animals,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60_000)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--repeats", type=int, default=1, help="best of this many runs")
    parser.add_argument("--json", default="out/bench_data.json", help="'' to skip writing")
    args = parser.parse_args()

    results = {}
    print(f"{'dataset':<20}{'samples':>9}{'seconds':>10}{'samples/s':>12}")
    for name, make in DATASETS.items():
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            ds = make(args.n, seed=0, split="train", size=args.size)
            best = min(best, time.perf_counter() - t0)
        assert ds.images.dtype == np.float32 and len(ds) == args.n
        results[name] = {"n": args.n, "size": args.size, "seconds": round(best, 3),
                         "samples_per_s": round(args.n / best, 1)}
        print(f"{name:<20}{args.n:>9}{best:>10.2f}{args.n / best:>12.0f}")
        del ds

    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        meta = {"numpy": np.__version__, "python": platform.python_version(),
                "machine": platform.machine(), "blas_threads": os.environ["OPENBLAS_NUM_THREADS"]}
        out.write_text(json.dumps({"bench_data": results, "meta": meta}, indent=2) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
