"""Run as ``python -m scheduler_main OUT``: units of a function defined in ``__main__`` on a
local Dask cluster, the way ``python -m demos.NAME --scheduler local`` runs them."""

import json
import sys

import numpy as np

from demos.scheduler import run_units


def unit_value(seed: int) -> tuple[float, str]:
    """A number, and the module the function ran from ("__main__" only in this process)."""
    return float(np.random.default_rng(seed).standard_normal(50).sum()), __name__


if __name__ == "__main__":
    seeds = list(range(4))
    on_dask = run_units(unit_value, seeds, jobs=2, scheduler="local")
    serial = [unit_value(s)[0] for s in seeds]
    with open(sys.argv[1], "w") as f:
        json.dump({"dask": [v for v, _ in on_dask], "modules": [m for _, m in on_dask],
                   "serial": serial}, f)
