"""Run one seed of one experiment in the source tree at ``--tree``, timed; dump its results.

    python bench/seed_unit.py parity --seed 20000 --tree /path/to/checkout --dump out.json

What a seed costs is what an experiment pays for each seed it adds, so this runs the
experiment's own ``run([seed], ...)`` in one process (``jobs=1``), with a model zoo of
its own that starts empty (the sources are trained, as for any new seed), and prints
``{"experiment", "seed", "seconds"}`` as one JSON line: the wall time of ``run`` alone,
without starting Python or importing. ``--dump`` writes the returned results (timings
included; ``scripts/compare_results.py`` ignores them) so that two trees' seeds can be
compared bit for bit.

The tree is put first on ``sys.path``, so the same script runs any commit's code (a
checkout made with ``git worktree add``); ``bench/bench_seed.py`` calls it once per tree
and experiment, interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

EXPERIMENTS = ("parity", "animals_digits", "layers")


def run_seed(experiment: str, seed: int) -> dict:
    """``run([seed])`` of ``experiment`` on glyph digits, in this process, no files written."""
    if experiment == "layers":
        from demos import layers

        return layers.run([seed], layers.config("glyph", quick=True), jobs=1)
    module = __import__(f"demos.{experiment}", fromlist=["run"])
    return module.run([seed], module.make_config(quick=True), jobs=1, write=False)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("experiment", choices=EXPERIMENTS)
    p.add_argument("--seed", type=int, default=20_000)
    p.add_argument("--tree", type=Path, default=Path(__file__).resolve().parent.parent)
    p.add_argument("--dump", type=Path, default=None)
    args = p.parse_args(argv)
    tree = args.tree.resolve()
    sys.path.insert(0, str(tree))
    os.chdir(tree)
    with tempfile.TemporaryDirectory(prefix="minitl-seed-zoo-") as zoo:
        os.environ["MINITL_ZOO"] = zoo
        import demos  # noqa: F401  (sets the BLAS thread limits the experiments run with)
        import minitl

        if Path(minitl.__file__).resolve().parent.parent != tree:
            raise SystemExit(f"seed_unit: imported minitl from {minitl.__file__}, not {tree}")
        start = time.perf_counter()
        results = run_seed(args.experiment, args.seed)
        seconds = time.perf_counter() - start
    if args.dump is not None:
        from demos.experiment_common import write_json  # the tree's own results writer

        write_json(args.dump, results)
    print(json.dumps({"experiment": args.experiment, "seed": args.seed, "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
