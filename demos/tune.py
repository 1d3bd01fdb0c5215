"""``make tune``: the same hyperparameter search for every arm, on tuning seeds only.

    python -m demos.tune [--experiment parity|animals_digits|all] [--jobs 2]
                         [--scheduler local|tcp://HOST:PORT]

Each experiment declares its search space (``SEARCH``: architecture options, learning
rates, weight decays, step fractions) and a function ``tune_unit((arm, seed, configs,
cfg))`` that trains one arm with each configuration on one seed and returns the
validation accuracy at every tuned N, after half and after all of the arm's step
budget (the steps option: with a constant learning rate the first half of a run *is*
the shorter run, so one run scores both). Every arm, scratch included, gets the full
grid of its space; the choice is the configuration with the highest mean validation
accuracy over the tuning seeds and sizes (ties: the first in grid order).

Only seeds >= 10 000 are used. The full log (every configuration, seed, N and score)
and the choices go to ``demos/tuning/<experiment>.json``; the experiments read their
hyperparameters from there.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from . import experiment_common as xc
from .protocol import TUNING_DIR
from .scheduler import add_scheduler_argument

TUNING_SEEDS = (10_000, 10_001)
CHUNK = 12  # configurations per work unit (one data load per unit)


def grid(search: dict, arm: str) -> list[dict]:
    """Every configuration of one arm's search space, in a fixed order."""
    archs = search.get("arch", [None])
    lrs = search["lr"][arm]
    out = []
    for arch, lr, wd in itertools.product(archs, lrs, search["weight_decay"]):
        out.append({"arch": arch, "lr": lr, "weight_decay": wd})
    return out


def choose(log: list[dict], arm: str, fracs) -> dict:
    """The configuration (with its steps fraction) of highest mean validation accuracy."""
    scores: dict[tuple, list[float]] = {}
    for row in log:
        if row["arm"] != arm:
            continue
        for frac in fracs:
            scores.setdefault((row["config_index"], frac), []).append(row[f"val_{frac}"])
    best = max(scores, key=lambda k: (float(np.mean(scores[k])), -k[0], -k[1]))
    config = next(r["config"] for r in log if r["arm"] == arm
                  and r["config_index"] == best[0])
    return {**config, "steps_frac": best[1], "mean_val_acc": float(np.mean(scores[best])),
            "n_scores": len(scores[best])}


def tune(module, jobs: int, seeds=TUNING_SEEDS, scheduler: str | None = None) -> dict:
    """Run the whole search of one experiment module; returns the log and the choices.
    ``scheduler``: where the units run (:func:`demos.scheduler.run_units`); the choices do
    not depend on it."""
    if min(seeds) < xc.TUNING_SEED_START:
        raise ValueError(f"tuning uses only seeds >= {xc.TUNING_SEED_START}, got {seeds}")
    cfg = module.make_config(**module.TUNE)
    t0 = time.perf_counter()
    if hasattr(module, "prepare_tuning"):  # train the source models once, in parallel
        xc.run_units(module.prepare_tuning, [(seed, cfg) for seed in seeds], jobs,
                     desc=f"{module.EXPERIMENT} sources", scheduler=scheduler)
    units = []
    for arm in module.TUNED_ARMS:
        configs = list(enumerate(grid(module.SEARCH, arm)))
        for seed in seeds:
            for i in range(0, len(configs), CHUNK):
                units.append((arm, seed, configs[i:i + CHUNK], cfg))
    parts = xc.run_units(module.tune_unit, units, jobs, desc=f"{module.EXPERIMENT} search",
                         scheduler=scheduler)
    log = [row for part in parts for row in part]
    fracs = module.SEARCH["steps_frac"]
    choices = {arm: choose(log, arm, fracs) for arm in module.TUNED_ARMS}
    return {"experiment": module.EXPERIMENT, "seeds": list(seeds),
            "tuned_ns": cfg["ns"], "search": module.SEARCH,
            "rule": "highest mean validation accuracy over tuning seeds and N; every arm "
                    "searches the full grid of the same space",
            "choices": choices, "seconds": time.perf_counter() - t0, "log": log}


def main(argv=None) -> None:
    from . import animals_digits, parity

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--experiment", choices=("parity", "animals_digits", "all"), default="all")
    p.add_argument("--jobs", type=int, default=xc.default_jobs())
    add_scheduler_argument(p)
    args = p.parse_args(argv)
    modules = {"parity": parity, "animals_digits": animals_digits}
    names = list(modules) if args.experiment == "all" else [args.experiment]
    for name in names:
        result = tune(modules[name], args.jobs, scheduler=args.scheduler)
        xc.write_json(TUNING_DIR / f"{name}.json", result)
        print(f"{name}: {len(result['log'])} scored runs in {result['seconds']:.0f} s; chosen:")
        for arm, c in result["choices"].items():
            print(f"  {arm}: {c}")


if __name__ == "__main__":
    main()
